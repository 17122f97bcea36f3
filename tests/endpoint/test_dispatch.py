"""registry.dispatch and the tasks' retries on a real Redis broker, and with the broker down.

Each test makes a Celery app of its own the current one (the app `registry.dispatch` and the
tasks publish with), on a private queue of the test Redis database, or on a port where nothing
listens: a broker that is down.
"""

import base64
import datetime as dt
import json
import logging
import socket
import time
import uuid
from contextlib import contextmanager

import pytest
import redis
from celery import Celery, current_app
from celery.app.trace import trace_task
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from registry import dispatch, tasks
from registry.models import Message
from registry.services import outbound, sweep
from tests import factories
from tests.peer_server import RecordingPeer

from .support import NEEDS_REDIS, REDIS_URL, sender_held_elsewhere

DSO = "dso1.example.com"

pytestmark = NEEDS_REDIS


def _port_nobody_listens_on() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Broker:
    """A Celery app publishing to `url`, current while the test uses it."""

    def __init__(self, url: str):
        self.queue = f"cro-test-dispatch-{uuid.uuid4().hex[:8]}"
        self.app = Celery("cro-test-dispatch", broker=url, set_as_current=False)
        self.app.conf.update(
            task_default_queue=self.queue,
            task_default_exchange=self.queue,
            task_default_routing_key=self.queue,
            task_publish_retry=False,
            broker_connection_timeout=2,
        )

    def queued(self) -> list[tuple[str, list, dict]]:
        """(task name, args, headers) of every task waiting in the queue."""
        client = redis.Redis.from_url(REDIS_URL)
        found = []
        for raw in client.lrange(self.queue, 0, -1):
            envelope = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            found.append((envelope["headers"]["task"], args, envelope["headers"]))
        return found

    def run_as_a_worker(self, name: str, args: list):
        """Run task `name` the way a worker runs a message it took (retries publish for real)."""
        task = self.app.tasks[name]
        return trace_task(task, str(uuid.uuid4()), args, {}, request={"delivery_info": {}}, app=self.app)

    def forget(self) -> None:
        redis.Redis.from_url(REDIS_URL).delete(self.queue, f"_kombu.binding.{self.queue}")
        self.app.close()


@contextmanager
def current(broker: Broker):
    previous = current_app._get_current_object()
    broker.app.set_current()
    try:
        yield broker
    finally:
        previous.set_current()


@pytest.fixture
def up():
    broker = Broker(REDIS_URL)
    yield broker
    broker.forget()


@pytest.fixture
def down():
    broker = Broker(f"redis://127.0.0.1:{_port_nobody_listens_on()}/0")
    yield broker
    broker.forget()


def test_the_tasks_are_registered_under_the_names_dispatch_enqueues():
    names = {
        dispatch.PROCESS_INBOUND_MESSAGE: tasks.process_inbound_message,
        dispatch.DELIVER_OUTBOUND_MESSAGE: tasks.deliver_outbound_message,
        dispatch.SWEEP_MESSAGES: tasks.sweep_messages,
        dispatch.APPLY_CSV_IMPORT: tasks.apply_csv_import,
        dispatch.DRAIN_INBOUND_MESSAGES: tasks.drain_inbound_messages,
    }
    assert {name: task.name for name, task in names.items()} == {name: name for name in names}
    scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(names)


def test_a_task_is_enqueued_by_name_with_its_countdown(up):
    with current(up):
        assert dispatch.message_delivery_enqueue(message_pk=42, countdown=30) is True
        assert dispatch.message_processing_enqueue(message_pk=43) is True
    # kombu pushes on the left: the newest task comes first.
    (processing, processing_args, processing_headers), (delivery, delivery_args, delivery_headers) = (
        up.queued()
    )
    assert (delivery, delivery_args) == (dispatch.DELIVER_OUTBOUND_MESSAGE, [42])
    assert (processing, processing_args) == (dispatch.PROCESS_INBOUND_MESSAGE, [43])
    assert delivery_headers["eta"] is not None and processing_headers["eta"] is None


def test_broker_down_returns_false_and_logs_instead_of_raising(down, caplog):
    started = time.monotonic()
    with current(down):
        assert dispatch.message_processing_enqueue(message_pk=7) is False
        assert dispatch.message_delivery_enqueue(message_pk=8, countdown=5) is False
        assert dispatch.csv_import_enqueue(csv_import_pk=9) is False
    assert time.monotonic() - started < 15
    warnings = [r.getMessage() for r in caplog.records if r.name == "registry.dispatch"]
    assert warnings == [
        "broker unreachable, message 7 left for the sweep",
        "broker unreachable, delivery 8 left for the sweep",
        "broker unreachable, CSV import 9 not enqueued",
    ]


def test_a_message_received_while_the_broker_is_down_is_answered_200_and_swept_later(
    client, make_participant, down, up, django_capture_on_commit_callbacks
):
    _, private_key = make_participant(DSO, "DSO")
    payload = factories.test_message(sender=DSO)
    body = factories.signed(payload, role="DSO", private_key=private_key)
    with current(down), django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/shapeshifter/api/v3/message", data=body, content_type="text/xml")
    assert response.status_code == 200 and len(callbacks) == 1
    message = Message.objects.get(direction="in", message_id=payload.message_id)
    assert message.status == Message.Status.RECEIVED
    assert up.queued() == []

    with current(up):
        report = sweep.messages_sweep(older_than_seconds=0)
    assert (report.inbound, report.outbound) == (1, 0)
    if connection.vendor == "postgresql":
        # Redis broker and PostgreSQL: the received messages go to one drain task (the doorbell).
        expected = [(dispatch.DRAIN_INBOUND_MESSAGES, [])]
    else:
        # SQLite has no advisory locks for the drain: one processing task per message.
        expected = [(dispatch.PROCESS_INBOUND_MESSAGE, [message.pk])]
    assert [(name, args) for name, args, _ in up.queued()] == expected


@pytest.fixture
def queued_delivery(make_participant, settings):
    """A TestMessage queued for a peer that answers 503 first, then 200."""
    settings.CRO_DELIVERY_BACKOFF_BASE_SECONDS = 60
    with RecordingPeer([503, 200]) as peer:
        participant, _ = make_participant(DSO, "DSO", endpoint_url=peer.url)
        yield outbound.participant_test_message_send(participant=participant)


def test_a_delivery_retry_is_the_tasks_own_retry(queued_delivery, up):
    with current(up):
        traced = up.run_as_a_worker(dispatch.DELIVER_OUTBOUND_MESSAGE, [queued_delivery.pk])
    assert traced.info.state == "RETRY"
    queued_delivery.refresh_from_db()
    assert queued_delivery.status == Message.Status.RESPONSE_QUEUED and queued_delivery.attempts == 1
    ((name, args, headers),) = up.queued()
    assert (name, args, headers["retries"]) == (dispatch.DELIVER_OUTBOUND_MESSAGE, [queued_delivery.pk], 1)
    assert headers["eta"] is not None


def test_a_retry_that_cannot_be_published_is_left_for_the_sweep(queued_delivery, down, up):
    """Broker down when the retry is due: the task is rejected, the message stays queued with its
    next attempt, and the sweep enqueues it once that is overdue."""
    with current(down):
        traced = down.run_as_a_worker(dispatch.DELIVER_OUTBOUND_MESSAGE, [queued_delivery.pk])
    assert traced.info.state == "REJECTED"
    queued_delivery.refresh_from_db()
    assert queued_delivery.status == Message.Status.RESPONSE_QUEUED and queued_delivery.attempts == 1
    assert queued_delivery.next_attempt_at > timezone.now() + dt.timedelta(seconds=30)
    assert "HTTP 503" in queued_delivery.last_error

    with current(up):
        assert sweep.messages_sweep(older_than_seconds=0).outbound == 0  # not due yet
        # A minute later:
        Message.objects.filter(pk=queued_delivery.pk).update(next_attempt_at=timezone.now())
        assert sweep.messages_sweep(older_than_seconds=0).outbound == 1
        assert [(name, args) for name, args, _ in up.queued()] == [
            (dispatch.DELIVER_OUTBOUND_MESSAGE, [queued_delivery.pk])
        ]
        traced = up.run_as_a_worker(dispatch.DELIVER_OUTBOUND_MESSAGE, [queued_delivery.pk])
    assert traced.info is None  # succeeded
    queued_delivery.refresh_from_db()
    assert queued_delivery.status == Message.Status.DELIVERED and queued_delivery.attempts == 2


@pytest.fixture
def bell(monkeypatch):
    """The doorbell's keys, private to this test (parallel test runs share the Redis database)."""
    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setattr(dispatch, "DOORBELL_KEY", f"cro-test-doorbell-{suffix}")
    monkeypatch.setattr(dispatch, "WAKE_KEY", f"cro-test-wake-{suffix}")
    monkeypatch.setattr(dispatch, "RECHECK_KEY", f"cro-test-recheck-{suffix}")
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.delete(dispatch.DOORBELL_KEY, dispatch.WAKE_KEY, dispatch.RECHECK_KEY)


@pytest.fixture
def _postgresql(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the doorbell is used with PostgreSQL (the drain's advisory locks)")


def test_a_message_finding_a_lingering_drain_wakes_it_and_publishes_nothing(up, bell, _postgresql):
    import threading

    with current(up):
        waited = []

        def linger() -> None:
            up.app.set_current()  # the current app is per thread
            waited.append(dispatch.doorbell_wait(seconds=30))

        lingering = threading.Thread(target=linger)
        lingering.start()
        try:
            deadline = time.monotonic() + 30
            while not bell.exists(dispatch.DOORBELL_KEY) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert dispatch.message_received(message_pk=1, sender=("dso.example.com", "DSO"))
        finally:
            lingering.join(40)
        # Woken by the message, not at the end of the 30 s, and told whose it is (the drain looks
        # at that sender first, without reading who is pending).
        assert waited == [dispatch.Woken(dispatch.RANG, ("dso.example.com", "DSO"))]
        assert up.queued() == []  # no drain published: the lingering one took it
        assert bell.exists(dispatch.DOORBELL_KEY)  # it holds the flag while it processes

        # Nothing more comes: the holder lets go of the flag, looks once more and ends.
        assert dispatch.doorbell_wait(seconds=1, holding=True).state == dispatch.IDLE
        assert not bell.exists(dispatch.DOORBELL_KEY)
        # The next message publishes a drain again.
        assert dispatch.message_received(message_pk=2)
        assert [name for name, _, _ in up.queued()] == [dispatch.DRAIN_INBOUND_MESSAGES]
        # A drain that finds another one pending does not linger.
        assert dispatch.doorbell_wait(seconds=1).state == dispatch.PENDING


def test_drains_finding_their_sender_held_publish_one_recheck_between_them(
    client, make_participant, up, bell, _postgresql
):
    """A backlog from one sender: each drain that finds the sender held by the drain working on
    it must not publish a drain of its own to look again (they kept polling, ever more of them)."""
    import threading

    _, private_key = make_participant(DSO, "DSO")
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
    assert client.post("/shapeshifter/api/v3/message", data=body, content_type="text/xml").status_code == 200
    # The drain working on the sender holds its lock.
    with sender_held_elsewhere(domain=DSO, role="DSO"), current(up):
        for _ in range(3):
            assert up.run_as_a_worker(dispatch.DRAIN_INBOUND_MESSAGES, []).retval == 0
        rechecks = up.queued()
        assert [(name, headers["eta"] is not None) for name, _, headers in rechecks] == [
            (dispatch.DRAIN_INBOUND_MESSAGES, True)
        ]
        # Until the recheck runs it is the pending drain: a message arriving meanwhile rings nobody.
        assert dispatch.message_received(message_pk=1)
        assert len(up.queued()) == 1
        # A drain with nothing left lingers in the recheck's place (it would come a second late):
        # the next message wakes it at once.
        bell.delete(dispatch.WAKE_KEY)
        waited = []
        lingering = threading.Thread(
            target=lambda: (up.app.set_current(), waited.append(dispatch.doorbell_wait(seconds=30)))
        )
        lingering.start()
        try:
            deadline = time.monotonic() + 30
            while bell.ttl(dispatch.DOORBELL_KEY) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)  # the lingering drain's flag lasts the wait (30 s), the recheck's 1 s
            assert dispatch.message_received(message_pk=2)
        finally:
            lingering.join(40)
        assert [woken.state for woken in waited] == [dispatch.RANG]
        assert len(up.queued()) == 1
        # Once that recheck is due (its flag expired), a drain finding the sender held publishes the next.
        time.sleep(tasks.DRAIN_HELD_RETRY_SECONDS + 0.1)
        up.run_as_a_worker(dispatch.DRAIN_INBOUND_MESSAGES, [])
        assert len(up.queued()) == 2
    assert Message.objects.get(direction="in").status == Message.Status.RECEIVED


def _ring_client_port() -> int:
    return dispatch._ring_connection.connection._sock.getsockname()[1]


def test_the_ring_takes_a_new_connection_when_redis_closed_its_own(up, bell, _postgresql, caplog):
    """The ring runs on a connection of the web thread's own (registry.dispatch._ring): when Redis
    drops it (a restart, a killed client), the next message rings on a new one, unnoticed."""
    sender = ("dso.example.com", "DSO")
    with current(up):
        assert dispatch.message_received(message_pk=1, sender=sender)
        first = dispatch._ring_connection.connection
        bell.execute_command("CLIENT", "KILL", "ADDR", f"127.0.0.1:{_ring_client_port()}")
        bell.delete(dispatch.DOORBELL_KEY)  # the drain started: the next message rings again
        with caplog.at_level(logging.WARNING, logger="registry.dispatch"):
            assert dispatch.message_received(message_pk=2, sender=sender)
        assert dispatch._ring_connection.connection is not first
        assert [name for name, _, _ in up.queued()] == [dispatch.DRAIN_INBOUND_MESSAGES] * 2
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert bell.lrange(dispatch.WAKE_KEY, 0, -1) == [b"DSO dso.example.com"]


def test_the_ring_loads_its_script_again_when_redis_lost_it(up, bell, _postgresql):
    sender = ("dso.example.com", "DSO")
    with current(up):
        assert dispatch.message_received(message_pk=1, sender=sender)
        bell.script_flush()  # as a restarted Redis has no scripts
        bell.delete(dispatch.DOORBELL_KEY)
        assert dispatch.message_received(message_pk=2, sender=sender)
        assert [name for name, _, _ in up.queued()] == [dispatch.DRAIN_INBOUND_MESSAGES] * 2
        bell.delete(dispatch.DOORBELL_KEY)
        assert dispatch.message_received(message_pk=3, sender=sender)  # the loaded script, by its SHA1
        assert len(up.queued()) == 3
