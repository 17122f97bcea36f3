"""The operational trail in a real headless Chromium, with screenshots in test-artifacts/screenshots/:
the attempt log of a message delivered after two failures, a participant's refusals, and the
dashboard's red banner appearing when a real Celery worker is frozen (SIGSTOP) and clearing
when it resumes."""

from __future__ import annotations

import os
import signal
import time
import urllib.parse

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from registry.models import Message
from registry.services import outbound
from registry.services.heartbeat import heartbeat_record
from registry.uftp import keys
from tests import factories
from tests.e2e.processes import CeleryWorker, RedisServer, wait_until
from tests.peer_server import RecordingPeer
from tests.web import test_browser
from tests.web.test_browser import shot

# The Chromium and the logged-in page of the web interface's browser test.
pytestmark = test_browser.pytestmark
browser = test_browser.browser
page = test_browser.page

DSO = "dso1.example.com"
URL = "/shapeshifter/api/v3/message"
MAX_AGE = 5  # seconds: the worker heartbeat threshold of the banner test (the default is 60)


def test_the_attempt_log_of_a_message_delivered_after_two_failures(page, make_participant):
    with RecordingPeer([503, 500, 200]) as peer:
        participant, _ = make_participant(DSO, "DSO", endpoint_url=peer.url)
        message = outbound.participant_test_message_send(participant=participant)
        for _ in range(3):
            Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
            outbound.outbound_message_deliver(message_pk=message.pk)
    page.goto(f"/messages/{message.pk}/")
    assert page.inner_text("[data-delivery-state]") == "delivered after 3 attempts"
    rows = page.locator("#delivery-attempts tbody tr")
    assert rows.count() == 3
    assert [rows.nth(i).get_attribute("data-outcome") for i in range(3)] == ["retry", "retry", "delivered"]
    assert "HTTP 503" in rows.nth(0).inner_text() and "HTTP 500" in rows.nth(1).inner_text()
    page.locator("#delivery-attempts").scroll_into_view_if_needed()
    shot(page, "30-message-delivery-attempts")


def test_a_participants_refusals(page, make_participant):
    participant, _ = make_participant(DSO, "DSO")
    rotated_out, _ = keys.generate_keypair()
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=rotated_out)
    client = Client(REMOTE_ADDR="198.51.100.23")
    for _ in range(37):
        assert client.post(URL, data=body, content_type="text/xml").status_code == 401
    page.goto(f"/participants/{participant.pk}/")
    text = page.inner_text("#refusals")
    assert "37 requests refused since " in text and ": signature does not verify (401)" in text
    shot(page, "31-participant-refusals")
    page.click("#refusals a:has-text('All refusals')")
    page.wait_for_selector("h1:has-text('Refused requests')")
    assert page.locator("tbody tr[data-refusal]").count() >= 1
    assert "198.51.100.23" in page.inner_text("tbody")
    shot(page, "32-refusals-list")


def _database_url() -> str:
    db = connection.settings_dict
    user = urllib.parse.quote(db.get("USER") or "postgres")
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{urllib.parse.quote(password)}" if password else user
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def real_worker(tmp_path, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("a worker process shares the test database only on PostgreSQL")
    redis = RedisServer(log_dir=tmp_path, name="banner-redis").start()
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": redis.url(0),
            "CACHE_URL": redis.url(1),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
            "CRO_HEALTH_HEARTBEAT_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    (tmp_path / "metrics").mkdir()
    worker = CeleryWorker(env=env, log_dir=tmp_path, concurrency=1, name="banner-worker")
    try:
        worker.start()
        yield worker
    finally:
        if worker.popen is not None:
            os.killpg(worker.pid, signal.SIGCONT)
        worker.stop()
        redis.stop()


def _banner_shown(page) -> bool:
    page.goto("/")
    return page.locator("#health-banner").count() > 0


def test_the_banner_appears_when_the_worker_freezes_and_clears_when_it_resumes(page, real_worker, settings):
    settings.CRO_HEALTH_WORKER_MAX_AGE_SECONDS = MAX_AGE
    settings.CRO_HEALTH_BEAT_MAX_AGE_SECONDS = 3600  # the beat is not under test here
    heartbeat_record(component="beat", node="beat")
    wait_until(lambda: not _banner_shown(page), timeout=60, interval=1, what="no banner with a live worker")
    shot(page, "33-dashboard-healthy")

    os.killpg(real_worker.pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        wait_until(lambda: _banner_shown(page), timeout=60, interval=1, what="the banner")
        assert time.monotonic() - stopped < 60
        assert "The worker has not given a sign of life" in page.inner_text("#health-banner")
        shot(page, "34-dashboard-banner-worker-frozen")
    finally:
        os.killpg(real_worker.pid, signal.SIGCONT)
    wait_until(lambda: not _banner_shown(page), timeout=60, interval=1, what="the banner to clear")
    shot(page, "35-dashboard-banner-cleared")
