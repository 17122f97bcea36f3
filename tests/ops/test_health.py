"""/health/live and /health/ready in-process: every check, fresh and stale heartbeats."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from registry.models import Heartbeat
from registry.services.heartbeat import heartbeat_record
from tests.e2e.processes import free_port


@pytest.fixture
def beating(db):
    heartbeat_record(component="worker", node="worker1@host")
    heartbeat_record(component="beat", node="beat")


def test_live_answers_without_login_or_database(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_200_with_every_check_when_all_is_well(client, beating):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "worker", "beat", "signing_key"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["worker"]["age_seconds"] < 5


def test_ready_holds_no_secret(client, beating, settings):
    text = client.get("/health/ready").content.decode()
    assert settings.CRO_SIGNING_KEY not in text
    assert settings.SECRET_KEY not in text
    assert settings.DATABASES["default"]["NAME"] not in text


@pytest.mark.parametrize("component", ["worker", "beat"])
def test_ready_is_503_when_a_heartbeat_is_stale(client, beating, component, settings):
    max_age = getattr(settings, f"CRO_HEALTH_{component.upper()}_MAX_AGE_SECONDS")
    Heartbeat.objects.filter(component=component).update(
        beat_at=timezone.now() - dt.timedelta(seconds=max_age + 5)
    )
    response = client.get("/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert not checks[component]["ok"]
    assert checks[component]["age_seconds"] > max_age
    others = {name for name, check in checks.items() if not check["ok"]}
    assert others == {component}
    heartbeat_record(component=component, node="again")
    assert client.get("/health/ready").status_code == 200


def test_ready_is_503_when_no_heartbeat_was_ever_recorded(client, db):
    response = client.get("/health/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["worker"]["detail"] == "no heartbeat recorded yet"
    assert checks["beat"]["age_seconds"] is None


def test_the_freshest_of_several_workers_counts(client, beating):
    Heartbeat.objects.create(
        component="worker", node="dead@host", beat_at=timezone.now() - dt.timedelta(days=1)
    )
    assert client.get("/health/ready").status_code == 200


def test_ready_is_503_quickly_when_the_broker_is_unreachable(client, beating, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    started = timezone.now()
    response = client.get("/health/ready")
    elapsed = (timezone.now() - started).total_seconds()
    assert response.status_code == 503
    broker = response.json()["checks"]["broker"]
    assert not broker["ok"]
    assert str(settings.CELERY_BROKER_URL) not in json.dumps(broker)
    assert elapsed < settings.CRO_HEALTH_BROKER_TIMEOUT_SECONDS + 3


def test_ready_is_503_when_the_signing_key_is_unusable(client, beating, settings):
    settings.CRO_SIGNING_KEY = "not-a-key"
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert not response.json()["checks"]["signing_key"]["ok"]


def test_health_endpoints_refuse_writes(client, db):
    assert client.post("/health/ready").status_code == 405
