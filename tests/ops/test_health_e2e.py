"""/health/ready and /metrics against real processes: gunicorn, a Celery worker, celery beat,
a private redis-server as the broker (stopped and restarted here; the shared one is never
touched) and PostgreSQL behind a proxy the test cuts."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from django.db import connection

from registry.models import Message
from tests import factories
from tests.e2e.processes import VENV_BIN, CeleryWorker, CroWeb, Proc, RedisServer, wait_until
from tests.peer_server import RecordingPeer

from .helpers import sample
from .tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

MAX_AGE = 6  # seconds: heartbeats every second, so a stale one shows within this


def get(url: str, **headers) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def ready(web: CroWeb) -> tuple[int, dict]:
    status, body = get(f"{web.base_url}/health/ready")
    return status, json.loads(body)


def wait_ready(web: CroWeb, expected: int, *, timeout: float = 60, failing: str | None = None) -> dict:
    """Poll /health/ready until it answers `expected` (and, for 503, `failing` is the failed check)."""
    seen = {}

    def answered():
        status, body = ready(web)
        seen["last"] = (status, body)
        if status != expected:
            return None
        if failing is not None and body["checks"][failing]["ok"]:
            return None
        return body

    try:
        return wait_until(answered, timeout=timeout, interval=0.5, what=f"/health/ready {expected}")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}; last answer: {seen.get('last')}") from exc


def database_url(*, port: int | None = None) -> str:
    db = connection.settings_dict
    user = urllib.parse.quote(db.get("USER") or "postgres")
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{urllib.parse.quote(password)}" if password else user
    return f"postgres://{auth}@{db.get('HOST') or '127.0.0.1'}:{port or db.get('PORT') or 5432}/{db['NAME']}"


class OpsStack:
    """A CRO of its own: gunicorn, a worker, beat, and a private redis-server as broker and cache."""

    def __init__(self, *, log_dir, metrics_dir):
        self.log_dir = log_dir
        self.redis = RedisServer(log_dir=log_dir, name="ops-redis").start()
        self.env = dict(os.environ)
        for name in ("CRO_MODE", "CRO_RATE_LIMIT_PER_MINUTE", "CRO_MAX_MESSAGE_BYTES", "CRO_DNS_NAMESERVERS"):
            self.env.pop(name, None)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.settings",
                "DATABASE_URL": database_url(),
                "DATABASE_CONN_MAX_AGE": "60",
                "CELERY_BROKER_URL": self.redis.url(0),
                "CACHE_URL": self.redis.url(1),
                "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
                "CRO_HEALTH_WORKER_MAX_AGE_SECONDS": str(MAX_AGE),
                "CRO_HEALTH_BEAT_MAX_AGE_SECONDS": str(MAX_AGE),
                "CRO_HEALTH_HEARTBEAT_SECONDS": "1",
                "CRO_HEALTH_BROKER_TIMEOUT_SECONDS": "1",
                "CRO_SWEEP_INTERVAL_SECONDS": "1",
                "CRO_DELIVERY_BACKOFF_BASE_SECONDS": "1",
                "CRO_DELIVERY_BACKOFF_MAX_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
                "LOG_FORMAT": "json",
            }
        )
        self.procs: list[Proc] = []
        self.web = self.start(CroWeb(env=self.env, log_dir=log_dir, workers=1, name="ops-web"))
        self.worker = self.start(
            CeleryWorker(env=self.env, log_dir=log_dir, concurrency=1, name="ops-worker")
        )
        self.beat = self.start(self.new_beat())

    def start(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        proc.start()
        return proc

    def new_beat(self) -> Proc:
        schedule = self.log_dir / f"ops-beat-{uuid.uuid4().hex[:6]}"
        argv = [
            str(VENV_BIN / "celery"),
            "-A",
            "cro",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(schedule),
        ]
        return Proc("ops-beat", argv, env=self.env, log_dir=self.log_dir)

    def logs(self) -> str:
        return "\n".join(f"--- {proc.name}\n{proc.log_tail(3000)}" for proc in [*self.procs, self.redis])

    def stop(self) -> None:
        for proc in [*self.procs, self.redis]:
            proc.stop()


@pytest.fixture(scope="module")
def ops(django_db_setup, django_db_blocker, tmp_path_factory):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    stack = OpsStack(
        log_dir=tmp_path_factory.mktemp("ops-logs"), metrics_dir=tmp_path_factory.mktemp("ops-metrics")
    )
    yield stack
    stack.stop()


@pytest.fixture
def healthy(ops, transactional_db):
    try:
        wait_ready(ops.web, 200, timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{ops.logs()}") from exc
    return ops


def test_live_and_ready_with_every_process_running(healthy):
    status, body = get(f"{healthy.web.base_url}/health/live")
    assert status == 200
    status, body = ready(healthy.web)
    assert status == 200
    assert all(check["ok"] for check in body["checks"].values())


def test_ready_turns_503_quickly_when_the_broker_stops_and_200_when_it_is_back(healthy):
    port = healthy.redis.port
    healthy.redis.stop()
    started = time.monotonic()
    status, body = ready(healthy.web)
    assert time.monotonic() - started < 5
    assert status == 503
    assert not body["checks"]["broker"]["ok"]
    assert body["checks"]["database"]["ok"]
    healthy.redis = RedisServer(log_dir=healthy.log_dir, name="ops-redis", port=port).start()
    wait_ready(healthy.web, 200, timeout=120)


def test_ready_turns_503_when_the_worker_freezes_and_200_when_it_resumes(healthy):
    os.killpg(healthy.worker.pid, signal.SIGSTOP)
    try:
        body = wait_ready(healthy.web, 503, timeout=MAX_AGE + 20, failing="worker")
        # Stale means older than MAX_AGE; the answer rounds the age to a tenth of a second.
        assert body["checks"]["worker"]["age_seconds"] >= MAX_AGE
    finally:
        os.killpg(healthy.worker.pid, signal.SIGCONT)
    wait_ready(healthy.web, 200, timeout=60)


def test_ready_turns_503_when_beat_stops_and_200_when_it_runs_again(healthy):
    healthy.beat.stop()
    healthy.procs.remove(healthy.beat)
    body = wait_ready(healthy.web, 503, timeout=MAX_AGE + 20, failing="beat")
    assert body["checks"]["worker"]["ok"]
    healthy.beat = healthy.start(healthy.new_beat())
    wait_ready(healthy.web, 200, timeout=60)


def test_ready_turns_503_when_the_database_is_gone_and_200_when_it_is_back(healthy):
    proxy = TcpProxy(target_host=connection.settings_dict.get("HOST") or "127.0.0.1", target_port=5432)
    proxy.start()
    env = dict(healthy.env, DATABASE_URL=database_url(port=proxy.port))
    web = healthy.start(CroWeb(env=env, log_dir=healthy.log_dir, workers=1, name="ops-web-proxied"))
    try:
        wait_ready(web, 200, timeout=30)
        proxy.cut()
        started = time.monotonic()
        status, body = ready(web)
        assert time.monotonic() - started < 10
        assert status == 503
        assert not body["checks"]["database"]["ok"]
        assert not body["checks"]["worker"]["ok"]  # unknown without the database
        assert body["checks"]["broker"]["ok"]
        assert get(f"{web.base_url}/health/live")[0] == 200
        proxy.start()  # the same port again
        wait_ready(web, 200, timeout=30)
    finally:
        web.stop()
        healthy.procs.remove(web)
        proxy.cut()


def test_metrics_move_when_messages_are_received_processed_delivered_and_refused(healthy, make_participant):
    with RecordingPeer([200]) as peer:
        _, private_key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        before = get(f"{healthy.web.base_url}/metrics")[1]
        body = factories.signed(
            factories.test_message(sender="dso1.example.com"), role="DSO", private_key=private_key
        )
        request = urllib.request.Request(
            healthy.web.url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        refused = urllib.request.Request(
            healthy.web.url, data=b"<broken", headers={"Content-Type": "text/xml"}
        )
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(refused, timeout=30)
        assert answer.value.code == 400
        wait_until(
            lambda: Message.objects.filter(direction="out", status="delivered").exists(),
            timeout=60,
            what="the response delivered",
        )
        assert peer.received.get(timeout=5)

    def moved(name: str, **labels) -> float:
        after = get(f"{healthy.web.base_url}/metrics")[1]
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("cro_messages_received_total", type="TestMessage", version="3.1.0") == 1
    assert moved("cro_http_refusals_total", status="400") == 1
    # Counted in the worker's pool process, read back by the web process.
    wait_until(
        lambda: moved("cro_messages_processed_total", type="TestMessage", result="accepted") == 1,
        timeout=10,
        what="processed counted",
    )
    assert moved("cro_delivery_attempts_total", outcome="delivered") == 1
    assert moved("cro_delivery_seconds_count") == 1
    # LOG_FORMAT=json: the worker's log points are JSON objects with the message's fields.
    inbound = Message.objects.get(direction="in")
    entries = [json.loads(line) for line in healthy.worker.log_text().splitlines() if line.startswith("{")]
    outcomes = {e["outcome"] for e in entries if e.get("message_id") == inbound.message_id}
    assert "accepted" in outcomes
    delivered = [e for e in entries if e.get("outcome") == "delivered"]
    assert delivered[-1]["conversation_id"] == inbound.conversation_id
    assert delivered[-1]["participant"] == "dso1.example.com/DSO"
