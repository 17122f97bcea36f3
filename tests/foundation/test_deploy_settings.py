"""Deployment defaults: the production settings pass `manage.py check --deploy` without a warning
(HSTS, SSL redirect, secure cookies), and every page carries a Content-Security-Policy that the
templates and static files satisfy (no inline scripts, styles or event handlers)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from registry.uftp import keys

ROOT = Path(__file__).resolve().parents[2]
# What the test environment sets for its plain-HTTP runs (and the browser tests for playwright),
# removed so the production defaults show.
TEST_OVERRIDES = {
    "DEBUG",
    "CRO_SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    # The metrics folder cro.settings derived for the test process itself.
    "PROMETHEUS_MULTIPROC_DIR",
    "CRO_PROMETHEUS_DIR_DEFAULT",
}


def production(*args: str, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    """cro.settings as in production: DEBUG off, a real secret, the domain and the signing key."""
    environment = {key: value for key, value in os.environ.items() if key not in TEST_OVERRIDES}
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "cro.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "CRO_DOMAIN": "cro.example.com",
            "ALLOWED_HOSTS": "cro.example.com",
            "CRO_SIGNING_KEY": keys.generate_keypair()[0],
            "CRO_VAR_DIR": "/tmp/cro-test-var-deploy",
            **(env or {}),
        }
    )
    command = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_check_deploy_prints_no_warning():
    result = production("check", "--deploy")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output
    assert "System check identified no issues" in output


SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
    "s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE)"
)


def test_production_redirects_to_https_and_sends_hsts_by_default():
    result = production(code=SETTINGS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "True 31536000 True ('HTTP_X_FORWARDED_PROTO', 'https') True True"


def test_the_redirect_and_the_proxy_header_can_be_switched_off():
    result = production(
        code=SETTINGS,
        env={"CRO_SECURE_SSL_REDIRECT": "0", "CRO_BEHIND_TLS_PROXY": "0", "CRO_SECURE_HSTS_SECONDS": "600"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == "False 600 True None True True"


def test_the_tests_speak_plain_http(client, db):
    # The UFTP endpoint and the e2e processes run with tests.settings over plain HTTP.
    from django.conf import settings

    assert settings.SECURE_SSL_REDIRECT is False
    assert client.get(reverse("web:login")).status_code == 200


@pytest.mark.parametrize("url", ["/login/", "/", "/api/docs/", "/no-such-page/"])
def test_every_response_has_a_strict_content_security_policy(client, db, url):
    policy = client.get(url)["Content-Security-Policy"]
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\sstyle\s*=", re.I), 'style="" attribute'),
    (re.compile(r"\son[a-z]+\s*=", re.I), "event handler attribute"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_has_inline_scripts_or_styles():
    sources = [*ROOT.glob("templates/**/*.html")]
    found = [
        f"{path.relative_to(ROOT)}: {what}"
        for path in sources
        for pattern, what in INLINE
        if pattern.search(path.read_text())
    ]
    assert found == []


METRICS_DIR = "import django; django.setup(); import os; print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"


def test_the_metrics_folder_follows_the_var_dir_also_in_a_child_process(tmp_path):
    """A process started with a var dir of its own (by a CRO process, whose environment it inherits)
    keeps its metric samples there; a folder set explicitly stays as set."""
    parent = production(code=METRICS_DIR, env={"CRO_VAR_DIR": str(tmp_path / "parent")})
    assert parent.stdout.split("\n")[-2] == str(tmp_path / "parent" / "prometheus"), parent.stderr
    # What the parent's environment holds after cro.settings, handed to a child with another var dir.
    inherited = {
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "parent" / "prometheus"),
        "CRO_PROMETHEUS_DIR_DEFAULT": "1",
    }
    child = production(code=METRICS_DIR, env={**inherited, "CRO_VAR_DIR": str(tmp_path / "child")})
    assert child.stdout.split("\n")[-2] == str(tmp_path / "child" / "prometheus"), child.stderr

    explicit = production(
        code=METRICS_DIR,
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "chosen"), "CRO_VAR_DIR": str(tmp_path / "child")},
    )
    assert explicit.stdout.split("\n")[-2] == str(tmp_path / "chosen"), explicit.stderr
