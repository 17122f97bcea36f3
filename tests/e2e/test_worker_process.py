"""The Celery worker's processes: their priority, and their PostgreSQL connections.

The pool processes keep their PostgreSQL connection from one task to the next.

Celery's Django fixup closes every connection around every task unless CELERY_DB_REUSE_MAX is
set; cro/celery.py applies Django's own rule (CONN_MAX_AGE, health checks) instead. Counted by
PostgreSQL itself: pg_stat_database.sessions grows by one per connection opened.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection
from django.utils import timezone

from registry import dispatch
from registry.models import Message
from registry.services.outbound import outbound_message_build
from registry.services.participants import participant_upsert
from registry.uftp import messages

from .conftest import start_proc, stop_proc
from .peers import StubEndpoint, generate_keypair
from .processes import CeleryWorker
from .uftp import wait_db

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

TASKS = 12


def sessions_opened() -> int:
    """Connections PostgreSQL has opened to the test database so far (its statistics, as flushed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def test_worker_tasks_reuse_their_database_connection(cro, transactional_db):
    endpoint = StubEndpoint(200).start()
    try:
        participant = participant_upsert(
            domain=f"conn{uuid.uuid4().hex[:6]}.example.com",
            role="DSO",
            public_keys=[generate_keypair()[1]],
            endpoint_url=endpoint.url,
        ).participant
        rows = []
        for _ in range(TASKS):
            payload = messages.TestMessage(
                version="3.1.0",
                sender_domain=cro.domain,
                recipient_domain=participant.domain,
                time_stamp=timezone.now(),
                message_id=str(uuid.uuid4()),
                conversation_id=str(uuid.uuid4()),
            )
            row = outbound_message_build(payload=payload, recipient=participant)
            row.save(force_insert=True)
            rows.append(row.pk)
        pks = set(rows)
        # The worker is idle (a lingering drain holds its connection and opens none): wait for
        # the statistics to settle, then count.
        time.sleep(1.5)
        before = sessions_opened()
        # Not the current app: the tests after this one in the process keep theirs.
        client = Celery("test-client", broker=cro.env["CELERY_BROKER_URL"], set_as_current=False)
        try:
            for pk in rows:
                client.send_task(dispatch.DELIVER_OUTBOUND_MESSAGE, args=[pk])
                time.sleep(0.05)  # one task at a time: each may land on either pool process
        finally:
            client.close()
        wait_db(
            lambda: Message.objects.filter(pk__in=pks, status=Message.Status.DELIVERED).count() == TASKS,
            what="every delivery done",
            timeout=60,
        )
        time.sleep(1.5)  # a backend reports its session when it flushes its statistics (at most 1 s)
        opened = sessions_opened() - before
    finally:
        endpoint.stop()
    assert endpoint.count == TASKS
    # At most one per pool process (2) and one for the worker's heartbeat, never one per task.
    assert opened <= 3, f"{opened} connections opened for {TASKS} tasks"


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_the_worker_yields_the_cpu_to_the_web_processes(cro):
    """CRO_WORKER_NICE (default 10): the worker and its pool processes run below the web's priority."""
    started_at = os.nice(0)  # what the test's children inherit
    children = Path(f"/proc/{cro.worker.pid}/task/{cro.worker.pid}/children").read_text().split()
    assert children, "the worker has pool processes"
    assert {niceness(int(pid)) for pid in [cro.worker.pid, *children]} == {min(started_at + 10, 19)}
    assert niceness(cro.web.pid) == started_at


def autogroup_niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split("nice")[1])


@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="a kernel without autogroup")
def test_a_worker_leading_its_session_lowers_the_sessions_priority(cro):
    """With autogroup, sessions share the CPU first: the worker's own nice would not count
    against the web's session. The worker leads its session here (as under bin/supervise)."""
    assert os.getsid(cro.worker.pid) == cro.worker.pid
    assert autogroup_niceness(cro.worker.pid) == 10
    assert autogroup_niceness(cro.web.pid) == 0


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no SCHED_IDLE on this platform")
def test_the_idle_scheduling_policy_is_taken_only_when_asked_for(cro, private_redis):
    """CRO_WORKER_SCHED_IDLE=1: the worker and the pool processes it forked run under
    SCHED_IDLE, so a waking web thread takes its core at once. By default (the session's worker)
    and for the web, the normal policy: an idle-policy worker waits whenever others keep every
    core busy."""
    assert os.sched_getscheduler(cro.worker.pid) == os.SCHED_OTHER
    assert os.sched_getscheduler(cro.web.pid) == os.SCHED_OTHER
    env = {**cro.env, "CRO_WORKER_SCHED_IDLE": "1", "CELERY_BROKER_URL": private_redis.url(5)}
    worker = start_proc(CeleryWorker(env=env, log_dir=cro.log_dir, concurrency=2, name="worker-sched-idle"))
    try:
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert children, "the worker has pool processes"
        assert {os.sched_getscheduler(int(pid)) for pid in [worker.pid, *children]} == {os.SCHED_IDLE}
    finally:
        stop_proc(worker)
