"""The worker survives broker outages (issue 15, item 3), with real processes.

gunicorn, and a Celery worker and beat run by `bin/supervise` from the Procfile (as `bin/run` runs
them), use a private redis-server as broker (the shared one is never touched). While messages
flow, the broker is stopped and started again twice, then the worker is killed outright (what
kombu's restore_unacked AttributeError did in 2 of 4 outages): the supervisor restarts it, the
web server and beat run on, and every message the CRO accepted is processed and answered.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection

from registry.models import Message
from tests import factories
from tests.e2e.processes import CroWeb, Proc, RedisServer, wait_until
from tests.peer_server import RecordingPeer

from .test_health_e2e import database_url

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

DSO = "dso1.example.com"


class Load:
    """POSTs TestMessages to the CRO without pause; remembers the MessageIDs answered 200."""

    def __init__(self, url: str, private_key: str):
        self.url = url
        self.private_key = private_key
        self.accepted: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            payload = factories.test_message(sender=DSO)
            body = factories.signed(payload, role="DSO", private_key=self.private_key)
            request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "text/xml"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    if response.status == 200:
                        self.accepted.append(payload.message_id)
            except (urllib.error.URLError, OSError) as exc:
                self.failures.append(repr(exc))
            time.sleep(0.05)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=60)


def worker_pids(supervisor: Proc) -> list[int]:
    """Pids of the `celery worker` main processes the supervisor runs."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
        except OSError:
            continue
        if ppid == supervisor.pid and b"worker" in args and any(arg.endswith(b"celery") for arg in args):
            pids.append(int(entry))
    return pids


@pytest.fixture
def stack(transactional_db, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    redis = RedisServer(log_dir=tmp_path, name="outage-redis").start()
    env = dict(os.environ)
    for name in ("CRO_MODE", "CRO_MAX_MESSAGE_BYTES", "CRO_DNS_NAMESERVERS", "CACHE_URL"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": redis.url(0),
            "WORKER_CONCURRENCY": "2",
            "CRO_VAR_DIR": str(tmp_path / "var"),
            "CRO_SWEEP_INTERVAL_SECONDS": "2",
            "CRO_SWEEP_AFTER_SECONDS": "5",
            "CRO_DELIVERY_BACKOFF_BASE_SECONDS": "1",
            "CRO_DELIVERY_BACKOFF_MAX_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    (tmp_path / "var").mkdir()
    web = CroWeb(env=env, log_dir=tmp_path, workers=2, name="outage-web").start()
    supervisor = Proc(
        "supervisor",
        [sys.executable, "bin/supervise", "-f", "Procfile", "worker", "beat"],
        env=env,
        log_dir=tmp_path,
    ).start()
    procs = [web, supervisor, redis]
    try:
        wait_until(lambda: " ready." in supervisor.log_text(), timeout=90, what="the worker ready")
        yield type("Stack", (), {"web": web, "supervisor": supervisor, "redis": redis, "procs": procs})
    finally:
        for proc in procs:
            proc.stop(timeout=15)


def test_messages_flow_through_broker_outages_and_a_worker_crash(stack, make_participant):
    with RecordingPeer([200]) as peer:
        _, private_key = make_participant(DSO, "DSO", endpoint_url=peer.url)
        with Load(stack.web.url, private_key) as load:
            time.sleep(3)
            for _ in range(2):
                port = stack.redis.port
                stack.redis.stop()
                time.sleep(4)
                stack.procs.remove(stack.redis)
                stack.redis = RedisServer(
                    log_dir=stack.redis.log_path.parent, name="outage-redis", port=port
                ).start()
                stack.procs.append(stack.redis)
                time.sleep(4)
            first_worker = wait_until(lambda: worker_pids(stack.supervisor), timeout=60, what="a worker")
            os.kill(first_worker[0], signal.SIGKILL)
            time.sleep(3)

        assert stack.supervisor.alive() and stack.web.alive()
        assert len(load.accepted) > 20, load.failures[:5]
        accepted = set(load.accepted)

        def all_answered() -> bool:
            done = Message.objects.filter(
                direction="in", message_id__in=accepted, status="processed", responses__status="delivered"
            )
            return done.count() == len(accepted)

        try:
            wait_until(all_answered, timeout=180, interval=1, what="every accepted message answered")
        except TimeoutError as exc:
            left = Message.objects.filter(direction="in", message_id__in=accepted).exclude(status="processed")
            raise AssertionError(
                f"{exc}: {left.count()} of {len(accepted)} not processed\n{stack.supervisor.log_tail(8000)}"
            ) from exc
        assert Message.objects.filter(direction="in").count() == len(accepted)  # nothing refused was stored
        new_workers = worker_pids(stack.supervisor)
        assert new_workers and first_worker[0] not in new_workers  # restarted by the supervisor
        assert "worker exited with" in stack.supervisor.log_text()
