"""The drain task (registry.dispatch's doorbell path): in order per sender, answered right after
processing, nothing done twice, a failing message holding up nobody else."""

import pytest
from django.db import connection
from django.test import Client

from registry import tasks
from registry.models import Message
from registry.services import processing
from registry.uftp import codec
from tests import factories
from tests.peer_server import RecordingPeer

from .support import sender_held_elsewhere

URL = "/shapeshifter/api/v3/message"

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the drain claims senders with PostgreSQL advisory locks")


def post(domain: str, private_key: str) -> str:
    payload = factories.test_message(sender=domain)
    body = factories.signed(payload, role="DSO", private_key=private_key)
    assert Client().post(URL, data=body, content_type="text/xml").status_code == 200
    return payload.conversation_id


def answered(peer: RecordingPeer) -> list[str]:
    """ConversationIDs of the responses the peer received, in arrival order."""
    found = []
    while not peer.received.empty():
        signed = codec.parse_signed_message(peer.received.get())
        found.append(codec.parse_any(_unsigned(signed), path_major=3).conversation_id)
    return found


def _unsigned(signed) -> bytes:
    from django.conf import settings

    from registry.uftp import keys

    public_key = keys.public_key_from_private(settings.CRO_SIGNING_KEY)
    return codec.open_body(signed.body, [public_key])


def test_the_drain_answers_every_sender_in_order_right_after_processing(make_participant):
    with RecordingPeer([200]) as first_peer, RecordingPeer([200]) as second_peer:
        _, first_key = make_participant("dso1.example.com", "DSO", endpoint_url=first_peer.url)
        _, second_key = make_participant("dso2.example.com", "DSO", endpoint_url=second_peer.url)
        first = [post("dso1.example.com", first_key) for _ in range(3)]
        second = [post("dso2.example.com", second_key) for _ in range(2)]

        assert tasks.drain_inbound_messages.apply().get() == 5
        assert answered(first_peer) == first
        assert answered(second_peer) == second
    assert set(Message.objects.filter(direction="in").values_list("status", flat=True)) == {"processed"}
    assert set(Message.objects.filter(direction="out").values_list("status", "attempts")) == {
        ("delivered", 1)
    }
    # A second drain (a redelivered task, the sweep) finds nothing to do.
    assert tasks.drain_inbound_messages.apply().get() == 0
    assert Message.objects.filter(direction="out").count() == 5


def test_a_failing_message_stays_pending_and_holds_up_no_other_sender(make_participant, monkeypatch):
    with RecordingPeer([200]) as peer:
        _, bad_key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        _, good_key = make_participant("dso2.example.com", "DSO", endpoint_url=peer.url)
        stuck = post("dso1.example.com", bad_key)
        fine = post("dso2.example.com", good_key)
        original = processing._processed

        def failing(*, message, claimed):
            if message.conversation_id == stuck:
                raise RuntimeError("a bug")
            return original(message=message, claimed=claimed)

        monkeypatch.setattr(processing, "_processed", failing)
        assert tasks.drain_inbound_messages.apply().get() == 1
        assert answered(peer) == [fine]
        assert Message.objects.get(direction="in", conversation_id=stuck).status == "received"
        assert not Message.objects.filter(direction="out", conversation_id=stuck).exists()

        monkeypatch.setattr(processing, "_processed", original)
        assert tasks.drain_inbound_messages.apply().get() == 1  # the sweep's drain, later
        assert answered(peer) == [stuck]


def test_a_drain_leaves_a_sender_another_drain_holds(make_participant):
    """Two drains never work on one sender at once: the second skips it (its order is kept)."""
    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        post("dso1.example.com", key)
        with sender_held_elsewhere(domain="dso1.example.com", role="DSO"):
            assert processing.message_process_next() is None
            assert Message.objects.get(direction="in").status == "received"
        assert tasks.drain_inbound_messages.apply().get() == 1


def test_a_backlog_of_one_sender_hides_no_other_sender(make_participant):
    """More pending messages of one sender than a drain looks at: a drain that finds that sender
    held by another drain still takes the sender behind the backlog."""
    with RecordingPeer([200]) as peer:
        _, busy_key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        _, other_key = make_participant("dso2.example.com", "DSO", endpoint_url=peer.url)
        for _ in range(70):
            post("dso1.example.com", busy_key)
        waiting = post("dso2.example.com", other_key)
        with sender_held_elsewhere(domain="dso1.example.com", role="DSO"):
            step = processing.message_process_next(batch=20)
        assert step is not None and [m.conversation_id for m in step.messages] == [waiting]


def test_a_drain_woken_by_a_message_takes_its_sender_without_asking_who_is_pending(make_participant):
    """The lingering drain is told whose message woke it: on the path of each answer when
    messages come one by one, it goes to that sender's lock and batch at once."""
    from django.test.utils import CaptureQueriesContext

    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        waiting = post("dso1.example.com", key)
        with CaptureQueriesContext(connection) as queries:
            step = processing.message_process_next(first=("dso1.example.com", "DSO"))
        assert step is not None and [m.conversation_id for m in step.messages] == [waiting]
        assert not [q for q in queries.captured_queries if "GROUP BY" in q["sql"]]
        # The sender's lock is tried in the statement that reads its batch: one round trip.
        locking = [q["sql"] for q in queries.captured_queries if "pg_try_advisory_xact_lock" in q["sql"]]
        assert len(locking) == 1 and "FOR UPDATE" in locking[0]
        # A sender with nothing pending (another drain took it): the pending senders are read.
        _, other_key = make_participant("dso2.example.com", "DSO", endpoint_url=peer.url)
        other = post("dso2.example.com", other_key)
        with CaptureQueriesContext(connection) as queries:
            step = processing.message_process_next(first=("dso1.example.com", "DSO"))
        assert step is not None and [m.conversation_id for m in step.messages] == [other]
        assert [q for q in queries.captured_queries if "GROUP BY" in q["sql"]]


def test_a_drain_woken_for_a_sender_another_drain_holds_takes_the_others(make_participant):
    with RecordingPeer([200]) as peer:
        _, busy_key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        _, other_key = make_participant("dso2.example.com", "DSO", endpoint_url=peer.url)
        post("dso1.example.com", busy_key)
        other = post("dso2.example.com", other_key)
        held: set = set()
        with sender_held_elsewhere(domain="dso1.example.com", role="DSO"):
            step = processing.message_process_next(first=("dso1.example.com", "DSO"), held_elsewhere=held)
        assert step is not None and [m.conversation_id for m in step.messages] == [other]
        assert held == {("dso1.example.com", "DSO")}


def test_a_response_the_drain_could_not_post_is_delivered_once_its_lease_ends(make_participant, monkeypatch):
    """The drain stores each response claimed (first attempt counted, leased): should it die
    before the POST, nobody POSTs it during the lease; afterwards the sweep's delivery does, once."""
    from django.utils import timezone

    from registry.services import outbound

    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        conversation = post("dso1.example.com", key)

        def dies(**kwargs):
            raise RuntimeError("the drain died before its POST")

        monkeypatch.setattr(outbound, "outbound_messages_deliver_claimed", dies)
        assert tasks.drain_inbound_messages.apply().get() == 1
        monkeypatch.undo()
        response = Message.objects.get(direction="out")
        assert (response.status, response.attempts) == ("response_queued", 1)
        assert response.next_attempt_at > timezone.now()  # leased
        assert outbound.outbound_message_deliver(message_pk=response.pk) is None  # nobody else POSTs it
        assert answered(peer) == []

        # The lease ends (the drain is dead): the delivery the sweep enqueues POSTs it, once.
        Message.objects.filter(pk=response.pk).update(next_attempt_at=timezone.now())
        outcome = outbound.outbound_message_deliver(message_pk=response.pk)
        assert outcome is not None and outcome.delivered
        assert answered(peer) == [conversation]
    response.refresh_from_db()
    assert (response.status, response.attempts) == ("delivered", 2)


def test_a_batch_writes_its_statuses_and_responses_in_one_statement(make_participant):
    """Five messages of one sender: one statement updates their status and inserts their answers."""
    from django.test.utils import CaptureQueriesContext

    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        sent = [post("dso1.example.com", key) for _ in range(5)]
        with CaptureQueriesContext(connection) as queries:
            assert tasks.drain_inbound_messages.apply().get() == 5
        assert answered(peer) == sent
    statements = [query["sql"] for query in queries.captured_queries]
    writes = [sql for sql in statements if 'UPDATE "registry_message" SET "status"' in sql]
    assert len(writes) == 1 and 'INSERT INTO "registry_message"' in writes[0]
    assert not [sql for sql in statements if sql.startswith('INSERT INTO "registry_message"')]
    assert Message.objects.filter(direction="in", status="processed", result="Accepted").count() == 5
    assert Message.objects.filter(direction="out", request__isnull=False).count() == 5


def test_a_twin_in_the_same_batch_is_answered_with_a_copy_at_once(make_participant):
    """The original's answer is written before its twin is processed, though writes wait for
    the batch's end: the twin gets the copy in the same drain, not a retry later."""
    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        payload = factories.test_message(sender="dso1.example.com")
        body = factories.signed(payload, role="DSO", private_key=key)
        for _ in range(2):
            assert Client().post(URL, data=body, content_type="text/xml").status_code == 200

        assert tasks.drain_inbound_messages.apply().get() == 2
        assert answered(peer) == [payload.conversation_id] * 2
    first, second = Message.objects.filter(direction="out").order_by("pk")
    assert first.message_id != second.message_id
    assert [twin.status for twin in Message.objects.filter(direction="in")] == ["processed"] * 2
    assert first.message_type == second.message_type == "TestMessageResponse"


def test_a_drain_that_cannot_linger_looks_once_more_before_it_ends(make_participant, monkeypatch):
    """A message committed after the drain's last look rings another drain, which the Celery
    pool may start a second late (seen in bench/e2e.py): the drain that found that drain
    pending takes the message itself before it ends."""
    from registry import dispatch

    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        waiting = [post("dso1.example.com", key)]
        calls = []

        def another_drain_published(*, seconds, holding=False):
            calls.append(holding)
            if len(calls) == 1:
                waiting.append(post("dso1.example.com", key))  # and its ring published a drain
            return dispatch.Woken(dispatch.PENDING)

        monkeypatch.setattr(dispatch, "doorbell_wait", another_drain_published)
        assert tasks.drain_inbound_messages.apply().get() == 2
        assert answered(peer) == waiting
    assert len(calls) == 2  # it asked again after the second message, then looked and ended
    assert set(Message.objects.filter(direction="in").values_list("status", flat=True)) == {"processed"}


def test_a_sender_held_only_earlier_does_not_stop_the_drain_lingering(make_participant, monkeypatch):
    """A sender another drain held during an earlier look, answered since, leaves nothing to
    look at again: the drain lingers as the pending drain (before, it ended with a recheck a
    second later, and the next message waited for it)."""
    from registry import dispatch

    with RecordingPeer([200]) as peer:
        _, held_key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        _, free_key = make_participant("dso2.example.com", "DSO", endpoint_url=peer.url)
        post("dso1.example.com", held_key)
        post("dso2.example.com", free_key)
        original = processing.message_process_next
        looks = []

        def first_look_with_dso1_held(**kwargs):
            looks.append(kwargs)
            if len(looks) > 1:
                return original(**kwargs)
            with sender_held_elsewhere(domain="dso1.example.com", role="DSO"):
                return original(**kwargs)

        waits, rechecks = [], []
        monkeypatch.setattr(processing, "message_process_next", first_look_with_dso1_held)
        monkeypatch.setattr(
            dispatch,
            "doorbell_wait",
            lambda *, seconds, holding=False: waits.append(holding) or dispatch.Woken(dispatch.IDLE),
        )
        monkeypatch.setattr(
            dispatch, "inbound_drain_recheck", lambda *, seconds: rechecks.append(seconds) or True
        )
        assert tasks.drain_inbound_messages.apply().get() == 2
    assert rechecks == []
    assert waits == [False]  # it lingered (once: nothing came), then looked once more and ended
    assert set(Message.objects.filter(direction="in").values_list("status", flat=True)) == {"processed"}


def test_a_sender_still_held_at_the_last_look_is_looked_at_again(make_participant, monkeypatch):
    """The holder may be a drain killed halfway (its lock not yet released): one recheck."""
    from registry import dispatch

    with RecordingPeer([200]) as peer:
        _, key = make_participant("dso1.example.com", "DSO", endpoint_url=peer.url)
        post("dso1.example.com", key)
        rechecks = []
        monkeypatch.setattr(
            dispatch, "inbound_drain_recheck", lambda *, seconds: rechecks.append(seconds) or True
        )
        with sender_held_elsewhere(domain="dso1.example.com", role="DSO"):
            assert tasks.drain_inbound_messages.apply().get() == 0
    assert rechecks == [tasks.DRAIN_HELD_RETRY_SECONDS]
