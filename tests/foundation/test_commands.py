"""The operators' commands, run from a shell as an operator would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.models import Participant
from registry.uftp import keys

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], *, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """`command` in the repository with exactly `env`, its output captured as text."""
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run(
        [sys.executable, "manage.py", *args],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})},
    )


@pytest.fixture
def shell_db(transactional_db, settings):
    """The test database, visible to a command run in a child process."""
    from django.db import connection

    database = connection.settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        pytest.skip("the in-memory SQLite test database is not visible to a child process")
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return {"DATABASE_URL": url}


def test_cro_keygen_prints_private_key_and_cs1():
    result = manage("cro_keygen")
    assert result.returncode == 0, result.stderr
    private_key, published = result.stdout.split()
    assert len(private_key) == 88
    assert keys.from_cs1(published)[0] == keys.public_key_from_private(private_key)


def test_participant_add_then_list_from_a_shell(shell_db):
    _, public_key = keys.generate_keypair()
    args = ["--domain", "dso1.example.com", "--role", "DSO", "--public-key", public_key]
    first = manage("participant_add", *args, "--endpoint", "https://dso1.example.com/x", env=shell_db)
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout
    again = manage("participant_add", *args, "--endpoint", "https://dso1.example.com/y", env=shell_db)
    assert again.returncode == 0, again.stderr
    assert "updated" in again.stdout
    listing = manage("participant_list", env=shell_db)
    lines = listing.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].split("\t")[:4] == ["dso1.example.com", "DSO", "active", "https://dso1.example.com/y"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--domain", "Not_A_Domain", "domain"),
        ("--role", "BRP", "role"),
        ("--public-key", "c2hvcnQ=", "public_keys"),
        ("--endpoint", "ftp://x.example.com", "endpoint_url"),
    ],
)
def test_participant_add_refuses_bad_input(db, option, value, message):
    from django.core.management import CommandError, call_command

    options = {
        "--domain": "dso1.example.com",
        "--role": "DSO",
        "--public-key": keys.generate_keypair()[1],
        "--endpoint": "https://dso1.example.com/x",
    }
    options[option] = value
    argv = [item for pair in options.items() for item in pair]
    with pytest.raises(CommandError, match=message):
        call_command("participant_add", *argv)
    assert not Participant.objects.exists()


def test_participant_add_bad_input_exits_non_zero_from_a_shell(shell_db):
    result = manage(
        "participant_add",
        "--domain",
        "x",
        "--role",
        "DSO",
        "--public-key",
        "AAAA",
        "--endpoint",
        "nope",
        env=shell_db,
    )
    assert result.returncode != 0
    assert "participant not saved" in result.stderr
    assert not Participant.objects.exists()


def test_participant_add_accepts_two_keys_and_cs1(db):
    from django.core.management import call_command

    _, first = keys.generate_keypair()
    _, second = keys.generate_keypair()
    call_command(
        "participant_add",
        *("--domain", "agr1.example.com", "--role", "AGR"),
        *("--public-key", keys.to_cs1(first), "--public-key", second),
        *("--endpoint", "https://agr1.example.com/x"),
    )
    participant = Participant.objects.get()
    assert participant.public_keys == [first, second]


def test_production_refuses_to_start_without_secrets(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "CRO_SIGNING_KEY", "CRO_SIGNING_KEY_FILE", "DEBUG"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "cro.settings", "CRO_VAR_DIR": str(tmp_path)})
    no_secret = run([sys.executable, "manage.py", "check", "--deploy"], env=env)
    assert no_secret.returncode != 0
    assert "SECRET_KEY must be set" in no_secret.stderr
    # The web server does not start either (gunicorn imports cro.wsgi).
    no_server = run([sys.executable, "-c", "import cro.wsgi"], env=env)
    assert no_server.returncode != 0 and "SECRET_KEY must be set" in no_server.stderr
    env["SECRET_KEY"] = "a-real-production-secret-of-enough-length-0123456789"
    no_key = run([sys.executable, "manage.py", "check", "--deploy"], env=env)
    assert no_key.returncode != 0
    assert "CRO_SIGNING_KEY" in no_key.stderr
    assert not list(tmp_path.glob("*.key"))


def test_makemigrations_check_runs_without_production_secrets(tmp_path):
    """A fresh clone with nothing set: `manage.py makemigrations --check` compares models and
    migrations (before, the missing SECRET_KEY surfaced as "Models aren't loaded yet")."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "CRO_SIGNING_KEY", "CRO_SIGNING_KEY_FILE", "DEBUG", "CRO_DOMAIN"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "cro.settings", "CRO_VAR_DIR": str(tmp_path)})
    for debug in ("0", "1"):  # DEBUG=1 without the development secrets bin/run creates, too
        env["DEBUG"] = debug
        result = run(
            [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "No changes detected" in result.stdout


def test_a_bad_setting_is_named_not_hidden(tmp_path):
    env = dict(
        os.environ, DJANGO_SETTINGS_MODULE="cro.settings", CRO_VAR_DIR=str(tmp_path), CRO_MODE="half-open"
    )
    result = run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"], env=env, timeout=120
    )
    assert result.returncode != 0
    assert "settings: CRO_MODE must be 'closed' or 'open'" in result.stderr
    assert "AppRegistryNotReady" not in result.stderr


def test_development_generates_a_key_once(tmp_path):
    """bin/run's preparation creates the development key and secret once; the settings read them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "CRO_SIGNING_KEY", "CRO_SIGNING_KEY_FILE", "DATABASE_URL"}
    }
    var_dir = tmp_path / "var"
    env.update({"DJANGO_SETTINGS_MODULE": "cro.settings", "DEBUG": "1", "CRO_VAR_DIR": str(var_dir)})
    prepare = [sys.executable, "-m", "cro.prepare"]
    info = [sys.executable, "manage.py", "cro_info"]
    # Without the preparation a command that needs the key refuses and says what to run; nothing
    # generates a secret but the preparation. (The app's caches and metrics folders may appear.)
    unprepared = run(info, env=env)
    assert unprepared.returncode != 0
    assert "python -m cro.prepare" in unprepared.stderr
    assert not (var_dir / "secret-key").exists() and not (var_dir / "cro-signing.key").exists()

    first = run(prepare, env=env)
    assert first.returncode == 0, first.stderr
    assert "Generated a development signing key" in first.stderr
    key_file = var_dir / "cro-signing.key"
    private_key = key_file.read_text().strip()
    secret = (var_dir / "secret-key").read_text().strip()
    assert len(secret) >= 50
    published = keys.to_cs1(keys.public_key_from_private(private_key))
    assert published in first.stderr
    shown = run(info, env=env)
    assert shown.returncode == 0, shown.stderr
    assert published in shown.stdout
    second = run(prepare, env=env)
    assert second.returncode == 0 and "Generated" not in second.stderr
    assert key_file.read_text().strip() == private_key
    assert (var_dir / "secret-key").read_text().strip() == secret
    assert private_key not in first.stdout + shown.stdout + second.stdout  # never printed


@pytest.mark.parametrize("debug", ["1", "0"])
def test_importing_the_settings_creates_nothing(tmp_path, debug):
    """Settings only read the environment: no folder, key or secret appears, nothing is printed."""
    var_dir = tmp_path / "var"
    env = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}
    }
    env.update(
        {
            "DEBUG": debug,
            "CRO_VAR_DIR": str(var_dir),
            "SECRET_KEY": "a-real-production-secret-of-enough-length-0123456789",
            "CRO_SIGNING_KEY": keys.generate_keypair()[0],
            "CRO_DOMAIN": "cro.example.com",
        }
    )
    env.pop("CRO_SIGNING_KEY_FILE", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # its default lies in var/ too
    result = run(
        [sys.executable, "-c", "import cro.settings as s; print(s.DATABASES['default']['ENGINE'])"], env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"  # the embedded default, in var/
    assert result.stderr == ""
    assert not var_dir.exists()


def test_signing_key_file_is_read(tmp_path):
    private_key, public_key = keys.generate_keypair()
    key_file = tmp_path / "cro.key"
    key_file.write_text(private_key + "\n")
    env = {key: value for key, value in os.environ.items() if key != "CRO_SIGNING_KEY"}
    env.update({"DJANGO_SETTINGS_MODULE": "tests.settings", "CRO_SIGNING_KEY_FILE": str(key_file)})
    result = run([sys.executable, "manage.py", "cro_info"], env=env)
    assert result.returncode == 0, result.stderr
    assert keys.to_cs1(public_key) in result.stdout


@pytest.mark.parametrize(
    "value", ["dso1.example.com\n", "Dso1.example.com", "dso1", "dso1..example.com", "-dso.example.com"]
)
def test_domain_validator_matches_the_whole_value(value):
    from django.core.exceptions import ValidationError

    from registry.validators import validate_internet_domain

    with pytest.raises(ValidationError):
        validate_internet_domain(value)


@pytest.mark.parametrize(
    "value", ["ean.123456789012\n", "ean.12345678901", "ean.1234567890123x", "ea1.2024-01"]
)
def test_entity_address_validator_matches_the_whole_value(value):
    from django.core.exceptions import ValidationError

    from registry.validators import validate_entity_address

    with pytest.raises(ValidationError):
        validate_entity_address(value)
