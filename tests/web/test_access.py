"""Who gets in: anonymous users go to the login page, signed-in non-staff users get 403, on every
URL of the web interface, for reads and writes; CSRF is enforced; cookies are secure outside DEBUG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from registry.web import urls as web_urls
from tests.web.conftest import PASSWORD

# Every URL name of the web interface with the arguments it needs (the objects need not exist:
# access is decided before anything is looked up).
PROTECTED = {
    "dashboard": {},
    "participant-list": {},
    "participant-add": {},
    "participant-detail": {"pk": 1},
    "participant-edit": {"pk": 1},
    "participant-bar": {"pk": 1},
    "participant-reactivate": {"pk": 1},
    "participant-key-rotate": {"pk": 1},
    "participant-key-rotation-complete": {"pk": 1},
    "participant-test-message": {"pk": 1},
    "participant-test-messages": {"pk": 1},
    "participant-time-stamp-reset": {"pk": 1},
    "registry": {},
    "registry-export": {},
    "congestion-point-detail": {"pk": 1},
    "agr-portfolio": {},
    "dso-portfolio": {},
    "entity-history": {},
    "message-list": {},
    "message-detail": {"pk": 1},
    "message-retry": {"pk": 1},
    "conversation": {"conversation_id": "4b1d7c5e-0000-4000-8000-000000000000"},
    "failed-deliveries": {},
    "import": {},
    "import-detail": {"pk": 1},
    "import-apply": {"pk": 1},
    "import-status": {"pk": 1},
    "import-sample": {},
    "refusal-list": {},
    "audit-list": {},
}
PUBLIC = {"login", "logout"}


def test_every_url_is_in_the_access_tests():
    names = {pattern.name for pattern in web_urls.urlpatterns}
    assert names == set(PROTECTED) | PUBLIC


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_anonymous_is_sent_to_login(client, db, name, method):
    url = reverse(f"web:{name}", kwargs=PROTECTED[name])
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_non_staff_is_forbidden(client, plain_user, name, method):
    client.force_login(plain_user)
    url = reverse(f"web:{name}", kwargs=PROTECTED[name])
    response = getattr(client, method)(url)
    assert response.status_code == 403


@pytest.mark.parametrize("name", sorted(PROTECTED))
def test_inactive_staff_is_refused(client, staff_user, name):
    client.force_login(staff_user)
    staff_user.is_active = False
    staff_user.save()
    response = client.get(reverse(f"web:{name}", kwargs=PROTECTED[name]))
    # Django's auth drops the session of an inactive user: back to the login page.
    assert response.status_code == 302


@pytest.mark.parametrize(
    "name",
    [
        "participant-bar",
        "participant-reactivate",
        "participant-test-message",
        "participant-time-stamp-reset",
        "message-retry",
        "import-apply",
    ],
)
def test_actions_refuse_get(staff_client, name):
    assert staff_client.get(reverse(f"web:{name}", kwargs={"pk": 1})).status_code == 405


def test_login_page_signs_staff_in_and_refuses_others(client, staff_user, plain_user):
    response = client.post(reverse("web:login"), {"username": plain_user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "staff account" in response.content.decode()
    assert "_auth_user_id" not in client.session

    response = client.post(
        reverse("web:login") + "?next=/registry/",
        {"username": staff_user.username, "password": PASSWORD, "next": "/registry/"},
    )
    assert response.status_code == 302 and response["Location"] == "/registry/"
    assert client.get("/registry/").status_code == 200

    # Logging out is a POST; afterwards the pages are closed again.
    assert client.get(reverse("web:logout")).status_code == 405
    assert client.post(reverse("web:logout")).status_code == 302
    assert client.get("/registry/").status_code == 302


def test_csrf_token_is_required_for_writes(staff_user, make_participant):
    participant, _ = make_participant("dso1.example.com", "DSO")
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    url = reverse("web:participant-bar", kwargs={"pk": participant.pk})
    assert client.post(url).status_code == 403
    participant.refresh_from_db()
    assert participant.status == "active"

    # With the token from the page the same POST goes through.
    page = client.get(reverse("web:participant-detail", kwargs={"pk": participant.pk}))
    token = page.context["csrf_token"]
    assert client.post(url, {"csrfmiddlewaretoken": str(token), "reason": "test"}).status_code == 302
    participant.refresh_from_db()
    assert participant.status == "barred"


def test_session_and_csrf_cookies_are_secure_outside_debug():
    """cro.settings itself (not the test settings) with DEBUG off."""
    repo = Path(__file__).resolve().parents[2]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cro.settings",
            "SECRET_KEY": "a-real-secret-key-for-this-settings-check-0123456789",
            "CRO_DOMAIN": "cro.example.com",
            "CRO_VAR_DIR": "/tmp/cro-test-var-settings",
        }
    )
    code = (
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF, "
        "'django.middleware.csrf.CsrfViewMiddleware' in s.MIDDLEWARE)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "True", "DENY", "True", "True"]


def test_login_page_lets_a_non_staff_user_switch_accounts(client, plain_user, staff_user):
    client.force_login(plain_user)
    assert client.get(reverse("web:login")).status_code == 200  # the form, not a redirect to a 403
    client.force_login(staff_user)
    response = client.get(reverse("web:login"))
    assert response.status_code == 302 and response["Location"] == "/"
