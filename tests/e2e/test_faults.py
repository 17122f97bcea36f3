"""Faults with real processes: a peer down, a peer saying 400, the broker down, a worker killed.

The broker and worker faults run a CRO of their own (gunicorn + Celery) on a private
redis-server, so that stopping the broker or killing a worker leaves the session's CRO alone.
"""

import os
import signal
import time
import uuid

import pytest
from django.db import connection, transaction
from shapeshifter_uftp import TestMessage

from registry.models import CongestionPointVersion, Membership, Message

from .conftest import register, start_proc, stop_proc
from .peers import StubEndpoint
from .processes import VENV_BIN, CeleryWorker, CroWeb, Proc, RedisServer, free_port, manage, wait_until
from .uftp import check_response, cp, dso_update, response_to, wait_db

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


def outbound_for(message) -> Message:
    return wait_db(
        lambda: Message.objects.filter(direction="out", request__message_id=message.message_id).first(),
        what=f"the response to {message.message_id}",
    )


def reload(row: Message) -> Message:
    return Message.objects.get(pk=row.pk)


# --------------------------------------------------------------------------- delivery faults


def test_peer_endpoint_down_then_up(make_peer, transactional_db):
    """Nothing listens at the peer's endpoint: the delivery is retried and arrives once it is up."""
    peer = make_peer(f"down{uuid.uuid4().hex[:6]}.example.com", "DSO", port=free_port(), start=False)
    register(peer)
    message = peer.send(TestMessage())
    row = outbound_for(message)
    wait_db(lambda: reload(row).attempts >= 1 and reload(row).last_error, what="a failed first attempt")
    row = reload(row)
    assert row.status == Message.Status.RESPONSE_QUEUED
    assert "ConnectionError" in row.last_error
    peer.start()
    arrival = response_to(peer, message, parsed=True)
    check_response(arrival, message, recipient=peer.domain, result=None)
    wait_db(lambda: reload(row).status == Message.Status.DELIVERED, what="delivered")
    row = reload(row)
    assert row.attempts >= 2
    assert row.last_error == ""
    assert len(peer.arrivals) == 1


@pytest.fixture
def stub():
    endpoints = []

    def _make(status: int) -> StubEndpoint:
        endpoint = StubEndpoint(status).start()
        endpoints.append(endpoint)
        return endpoint

    yield _make
    for endpoint in endpoints:
        endpoint.stop()


def _peer_at(make_peer, url: str):
    from registry.services.participants import participant_upsert

    peer = make_peer(f"stub{uuid.uuid4().hex[:6]}.example.com", "DSO", start=False)
    participant_upsert(domain=peer.domain, role="DSO", public_keys=[peer.public_key], endpoint_url=url)
    return peer


def test_peer_answering_400_is_a_final_failure(make_peer, stub, transactional_db):
    endpoint = stub(400)
    peer = _peer_at(make_peer, endpoint.url)
    message = peer.send(TestMessage())
    row = outbound_for(message)
    wait_db(lambda: reload(row).status == Message.Status.FAILED, what="failed")
    time.sleep(3)  # longer than the largest backoff (2 s): no retry comes
    row = reload(row)
    assert row.status == Message.Status.FAILED
    assert row.attempts == 1
    assert endpoint.count == 1
    assert "HTTP 400" in row.last_error


@pytest.mark.parametrize("status", [503, 429, 404])
def test_peer_answering_a_temporary_error_is_retried(make_peer, stub, transactional_db, status):
    endpoint = stub(status)
    peer = _peer_at(make_peer, endpoint.url)
    message = peer.send(TestMessage())
    row = outbound_for(message)
    wait_db(lambda: endpoint.count >= 2, what="a retry")
    assert reload(row).status == Message.Status.RESPONSE_QUEUED
    assert f"HTTP {status}" in reload(row).last_error
    endpoint.status = 200
    wait_db(lambda: reload(row).status == Message.Status.DELIVERED, what="delivered after the retry")
    assert reload(row).attempts == endpoint.count
    # Every attempt carried the same signed message.
    assert len({body for _, body in endpoint.requests}) == 1


# --------------------------------------------------------------------------- broker and worker faults


class Stack:
    """A CRO of its own: gunicorn + a Celery worker on a private redis-server."""

    def __init__(self, cro, name: str, **extra_env: str):
        self.cro = cro
        self.name = name
        self.redis = start_proc(RedisServer(log_dir=cro.log_dir, name=f"redis-{name}"))
        self.env = dict(cro.env, CELERY_BROKER_URL=self.redis.url(0), **extra_env)
        self.web = start_proc(CroWeb(env=self.env, log_dir=cro.log_dir, workers=1, name=f"web-{name}"))
        self.workers: list[CeleryWorker] = []

    def start_worker(self, concurrency: int = 1) -> CeleryWorker:
        worker = CeleryWorker(
            env=self.env, log_dir=self.cro.log_dir, concurrency=concurrency, name=f"worker-{self.name}"
        )
        self.workers.append(worker)
        return start_proc(worker)

    def restart_redis(self) -> None:
        port = self.redis.port
        stop_proc(self.redis)
        self.redis = start_proc(RedisServer(log_dir=self.cro.log_dir, name=f"redis-{self.name}", port=port))

    def start_beat(self) -> Proc:
        schedule = self.cro.log_dir / f"beat-{self.name}-{uuid.uuid4().hex[:6]}"
        beat = Proc(
            f"beat-{self.name}",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "cro",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(schedule),
            ],
            env=self.env,
            log_dir=self.cro.log_dir,
        )
        self.workers.append(beat)
        return start_proc(beat)

    def sweep(self) -> str:
        return manage(["cro_sweep", "--older-than", "0"], env=self.env).stdout

    def stop(self) -> None:
        for proc in [*self.workers, self.web, self.redis]:
            stop_proc(proc)


@pytest.fixture
def stack(cro):
    stacks = []

    def _make(name: str, **extra_env: str) -> Stack:
        made = Stack(cro, name, **extra_env)
        stacks.append(made)
        return made

    yield _make
    for made in stacks:
        made.stop()


@pytest.mark.parametrize("recovery", ["cro_sweep command", "celery beat"])
def test_broker_down_message_kept_then_swept(stack, make_peer, transactional_db, recovery):
    """The broker is down when a message arrives: 200 all the same, the message is stored as
    received; once the broker is back, the sweep (the command, or beat's schedule) dispatches
    it and the answer is delivered."""
    # No lingering drain (registry.dispatch): one still waiting when the broker stops would take
    # the message in its last look, and this test is about the sweep.
    own = stack(
        "broker", CRO_SWEEP_INTERVAL_SECONDS="1", CRO_SWEEP_AFTER_SECONDS="1", CRO_DRAIN_LINGER_SECONDS="0"
    )
    own.start_worker()
    peer = make_peer(f"broker{uuid.uuid4().hex[:6]}.example.com", "DSO")
    register(peer)
    peer.cro_url = own.web.url

    # Healthy first: the stack answers.
    first = peer.send(TestMessage())
    response_to(peer, first, parsed=True)
    # The session's worker shares the database: a drain of its still lingering (an earlier
    # test's) would take the message in its last look. Wait for it to end.
    _session_drains_ended(own.cro)

    stop_proc(own.redis)
    started = time.monotonic()
    message = peer.send(TestMessage())  # raises unless HTTP 200
    assert time.monotonic() - started < 15
    row = Message.objects.get(direction="in", message_id=message.message_id)
    time.sleep(1)
    assert reload(row).status == Message.Status.RECEIVED
    assert "broker unreachable" in own.web.log_text()

    own.restart_redis()
    if recovery == "celery beat":
        own.start_beat()
    else:
        assert "dispatched 1 inbound" in own.sweep()
    arrival = response_to(peer, message, timeout=60, parsed=True)
    check_response(arrival, message, recipient=peer.domain, result=None)
    assert reload(row).status == Message.Status.PROCESSED
    out = Message.objects.get(direction="out", request=row)
    wait_db(lambda: reload(out).status == Message.Status.DELIVERED, what="delivered")


def _session_drains_ended(cro) -> None:
    import redis

    from registry import dispatch

    session = redis.Redis.from_url(cro.env["CELERY_BROKER_URL"])
    try:
        wait_until(
            lambda: not session.exists(dispatch.DOORBELL_KEY, dispatch.RECHECK_KEY),
            timeout=30,
            interval=0.1,
            what="the session worker's drains to end",
        )
    finally:
        session.close()
    time.sleep(0.5)  # a drain's last look after its linger


def _big_update(size: int):
    connections = [(f"ean.{300000000000 + i}", "2024-01-01") for i in range(size)]
    return dso_update(cp("ean.000000000042", "2024-01-01", connections=connections))


def _blocked_on_congestion_points() -> bool:
    """True when some other session waits for the lock the test holds on the CP table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE NOT l.granted AND c.relname = 'registry_congestionpoint'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.parametrize("victim", ["whole worker", "pool child"])
def test_worker_killed_while_processing(stack, make_peer, transactional_db, victim):
    """SIGKILL while a DSOPortfolioUpdate is inside its registry transaction: the transaction is
    lost; after recovery (a new worker and the sweep, or Celery's own redelivery when only the
    pool child dies) the message is processed exactly once: one response, the registry applied once.

    The test holds a lock on the congestion point table, so the worker is caught inside its
    transaction every time, however fast the update would otherwise be.
    """
    size = 5_000
    own = stack("kill")
    first_worker = own.start_worker()
    peer = make_peer(f"kill{uuid.uuid4().hex[:6]}.example.com", "DSO")
    register(peer)
    peer.cro_url = own.web.url

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE registry_congestionpoint IN ACCESS EXCLUSIVE MODE")
        message = peer.send(_big_update(size))
        row = Message.objects.get(direction="in", message_id=message.message_id)
        wait_until(_blocked_on_congestion_points, timeout=30, interval=0.05)
        if victim == "whole worker":
            first_worker.kill_group()
        else:
            children = first_worker.pool_children()
            assert children, "the prefork pool has a child"
            for pid in children:
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        row = reload(row)
        # The drain (registry.dispatch) marks nothing before its transaction commits.
        assert row.status in (Message.Status.RECEIVED, Message.Status.PROCESSING)
        assert not Message.objects.filter(direction="out", request=row).exists()
        assert Membership.objects.count() == 0  # nothing of the killed transaction is visible

    if victim == "whole worker":
        own.start_worker()
        assert "dispatched 1 inbound" in own.sweep()
    # (pool child: the worker's main process gives the task back and runs it again)

    arrival = response_to(peer, message, timeout=120)
    check_response(arrival, message, recipient=peer.domain, result="Accepted")
    assert reload(row).status == Message.Status.PROCESSED
    # Recovery again (a late redelivery, another sweep) changes nothing.
    own.sweep()
    time.sleep(2)
    assert Message.objects.filter(direction="out", request=row).count() == 1
    assert len([a for a in peer.arrivals if a["ConversationID"] == message.conversation_id]) == 1
    assert CongestionPointVersion.objects.count() == 1
    assert Membership.objects.count() == size
    assert Membership.objects.filter(superseded_at__isnull=True).count() == size
    wait_until(lambda: first_worker.alive() or victim == "whole worker", timeout=5)


def test_drain_killed_halfway_through_a_batch(stack, make_peer, transactional_db):
    """The drain processes a sender's waiting messages in one transaction: SIGKILL after two of
    four are processed (the third waits for a lock the test holds) loses the whole batch, and
    Celery's redelivery processes all four exactly once, answered in the order they were sent."""
    own = stack("batch")
    peer = make_peer(f"batch{uuid.uuid4().hex[:6]}.example.com", "DSO")
    register(peer)
    peer.cro_url = own.web.url
    # No worker yet: the four wait, received, for one drain.
    sent = [
        peer.send(TestMessage()),
        peer.send(TestMessage()),
        peer.send(_big_update(50)),
        peer.send(TestMessage()),
    ]
    rows = [Message.objects.get(direction="in", message_id=m.message_id) for m in sent]

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE registry_congestionpoint IN ACCESS EXCLUSIVE MODE")
        worker = own.start_worker()
        wait_until(_blocked_on_congestion_points, timeout=60, interval=0.05)
        children = worker.pool_children()
        assert children, "the prefork pool has a child"
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        # Nothing of the batch is visible: the two processed before the kill are pending again.
        assert {reload(row).status for row in rows} == {Message.Status.RECEIVED}
        assert not Message.objects.filter(direction="out", request__in=rows).exists()
        assert peer.arrivals == []

    # The worker's main process gives the drain back; it runs again from the start.
    for message in sent:
        response_to(peer, message, timeout=120)
    own.sweep()  # a late sweep changes nothing
    time.sleep(2)
    answered = [a.attrs.get("ConversationID") for a in peer.arrivals]
    assert answered == [m.conversation_id for m in sent]
    assert [reload(row).status for row in rows] == [Message.Status.PROCESSED] * 4
    assert Message.objects.filter(direction="out", request__in=rows).count() == 4
    assert CongestionPointVersion.objects.count() == 1
    assert Membership.objects.count() == 50


def test_pool_child_killed_while_its_drain_lingers(stack, make_peer, transactional_db):
    """A drain with nothing left waits for the next message (registry.dispatch, lingering),
    holding the doorbell's flag. SIGKILL of its pool child then: Celery gives the drain back and
    it runs again, and the next messages are answered, in order, each once."""
    import redis

    from registry import dispatch

    own = stack("linger", CRO_DRAIN_LINGER_SECONDS="30")
    worker = own.start_worker()
    peer = make_peer(f"linger{uuid.uuid4().hex[:6]}.example.com", "DSO")
    register(peer)
    peer.cro_url = own.web.url

    first = peer.send(TestMessage())
    response_to(peer, first)
    bell = redis.Redis.from_url(own.redis.url(0))
    wait_until(lambda: bell.exists(dispatch.DOORBELL_KEY), timeout=30, interval=0.05)  # lingering
    children = worker.pool_children()
    assert children, "the prefork pool has a child"
    for pid in children:
        os.kill(pid, signal.SIGKILL)

    later = [peer.send(TestMessage()) for _ in range(3)]
    for message in later:
        response_to(peer, message, timeout=120)
    time.sleep(2)
    answered = [a.attrs.get("ConversationID") for a in peer.arrivals]
    assert answered == [m.conversation_id for m in [first, *later]]
    rows = Message.objects.filter(direction="in", message_id__in=[m.message_id for m in later])
    assert {row.status for row in rows} == {Message.Status.PROCESSED}
    assert Message.objects.filter(direction="out", request__in=rows).count() == 3
