"""The worked example of cro-rules §8 and TestMessage both ways, with the real peer library.

Every request goes out through the shapeshifter-uftp clients over HTTP to gunicorn; every
answer is read where it arrives: at the peers' shapeshifter-uftp services.
"""

import pytest
from shapeshifter_uftp import TestMessage

from registry.models import Message

from .processes import manage
from .uftp import (
    agr_query,
    agr_update,
    agr_view,
    agr_view_of_library,
    check_response,
    cp,
    dso_query,
    dso_update,
    dso_view,
    response_to,
    wait_db,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

CP1, CP2 = "ean.000000000001", "ean.000000000002"
C1, C2, C3, C4, C9 = (f"ean.10000000000{n}" for n in (1, 2, 3, 4, 9))
DSO1, DSO2, AGR_A, AGR_B = "dso1.example.com", "dso2.example.com", "agr-a.example.com", "agr-b.example.com"

CP1_ATTRS = {"MutexOffersSupported": "true", "DayAheadRedispatchBy": "DSO", "IntradayRedispatchBy": "AGR"}
CP2_ATTRS = {"MutexOffersSupported": "false", "DayAheadRedispatchBy": "AGR"}


def register_worked_example(peers):
    """§8: the two DSOs' and the two AGRs' updates, each answered Accepted at the peer's service."""
    sent = [
        (
            peers.dso1,
            dso_update(
                cp(CP1, "2024-01-01", mutex=True, day_ahead="DSO", intraday="AGR",
                   connections=[(C1, "2024-01-01"), (C2, "2024-01-01", "2024-06-30"), (C3, "2024-07-01")])
            ),
        ),
        (
            peers.dso2,
            dso_update(
                cp(CP2, "2024-03-01", "2024-12-31", mutex=False, day_ahead="AGR",
                   connections=[(C4, "2024-03-01", "2024-12-31")])
            ),
        ),
        (peers.agr_a, agr_update((C1, "2024-01-01"), (C2, "2024-01-01"), (C9, "2024-01-01"), (C4, "2024-05-01"))),
        (peers.agr_b, agr_update((C3, "2024-07-01"))),
    ]  # fmt: skip
    for peer, message in sent:
        peer.send(message)
    for peer, message in sent:
        arrival = response_to(peer, message, parsed=True)
        check_response(arrival, message, recipient=peer.domain, result="Accepted")
        assert arrival.status == 200
        assert arrival.parsed.result == "Accepted"


def agr_answer(peer, period):
    query = peer.send(agr_query(period))
    arrival = response_to(peer, query)
    check_response(arrival, query, recipient=peer.domain, result="Accepted")
    assert arrival["TimeZone"] == "Europe/Amsterdam"
    assert arrival["Period"] == period
    return arrival


def test_worked_example_end_to_end(peers):
    register_worked_example(peers)

    # agr-a, 2024-06-15: dso1: CP …001 with …001, …002; dso2: CP …002 with …004; unallocated …009
    arrival = agr_answer(peers.agr_a, "2024-06-15")
    assert agr_view(arrival.root) == (
        {DSO1: {CP1: (CP1_ATTRS, [C1, C2])}, DSO2: {CP2: (CP2_ATTRS, [C4])}},
        [C9],
    )
    # The library parsed it too (this shape is valid against the XSD) and sees the same.
    peers.agr_a.wait_for(conversation_id=arrival["ConversationID"], parsed=True)
    assert agr_view_of_library(arrival.parsed) == ({DSO1: {CP1: [C1, C2]}, DSO2: {CP2: [C4]}}, [C9])

    # agr-a, 2024-07-15: dso1: CP …001 with …001; dso2: CP …002 with …004; unallocated …002, …009
    arrival = agr_answer(peers.agr_a, "2024-07-15")
    assert agr_view(arrival.root) == (
        {DSO1: {CP1: (CP1_ATTRS, [C1])}, DSO2: {CP2: (CP2_ATTRS, [C4])}},
        [C2, C9],
    )

    # agr-a, 2025-01-10: dso1: CP …001 with …001; unallocated …002, …004, …009
    arrival = agr_answer(peers.agr_a, "2025-01-10")
    assert agr_view(arrival.root) == ({DSO1: {CP1: (CP1_ATTRS, [C1])}}, [C2, C4, C9])

    # agr-b, 2024-07-15: only its own connection, never agr-a's.
    arrival = agr_answer(peers.agr_b, "2024-07-15")
    assert agr_view(arrival.root) == ({DSO1: {CP1: (CP1_ATTRS, [C3])}}, [])

    # dso1 on CP …001, 2024-07-15: …001 (agr-a), …003 (agr-b)
    query = peers.dso1.send(dso_query(CP1, "2024-07-15"))
    arrival = response_to(peers.dso1, query, parsed=True)
    check_response(arrival, query, recipient=DSO1, result="Accepted")
    assert (arrival["TimeZone"], arrival["Period"]) == ("Europe/Amsterdam", "2024-07-15")
    assert dso_view(arrival.root) == {C1: AGR_A, C3: AGR_B}
    library_view = {c.entity_address: c.agr_domain for c in arrival.parsed.congestion_point.connections}
    assert library_view == {C1: AGR_A, C3: AGR_B}

    # dso1 on CP …001, 2024-06-15: …002 is still in, …003 not yet.
    query = peers.dso1.send(dso_query(CP1, "2024-06-15"))
    assert dso_view(response_to(peers.dso1, query).root) == {C1: AGR_A, C2: AGR_A}

    # dso1 on CP …001 before it starts: Accepted, no CongestionPoint.
    query = peers.dso1.send(dso_query(CP1, "2023-12-31"))
    arrival = check_response(response_to(peers.dso1, query), query, recipient=DSO1, result="Accepted")
    assert dso_view(arrival.root) is None

    # dso2 on CP …001: Rejected (another DSO's CP); the library accepts this shape.
    query = peers.dso2.send(dso_query(CP1, "2024-07-15"))
    arrival = response_to(peers.dso2, query, parsed=True)
    check_response(arrival, query, recipient=DSO2, result="Rejected")
    assert arrival["RejectionReason"]
    assert dso_view(arrival.root) is None
    assert arrival.parsed.result == "Rejected"

    # Every response of the conversation was delivered: the peers answered 200 to each.
    outbound = Message.objects.filter(direction=Message.Direction.OUTBOUND)
    assert outbound.count() == 12
    wait_db(lambda: not outbound.exclude(status=Message.Status.DELIVERED).exists(), what="all delivered")
    assert set(outbound.values_list("status", flat=True)) == {Message.Status.DELIVERED}
    assert set(outbound.values_list("attempts", flat=True)) == {1}


def test_agr_query_answer_with_only_unallocated_connections(peers):
    """An AGR whose connections are in no CP: the answer the XSD cannot express (cro-rules §6).

    What arrives is checked as it arrived; the library's verdict on it is recorded too.
    """
    update = peers.agr_a.send(agr_update((C9, "2024-01-01")))
    # As a real AGR would, wait for the update's answer before asking (workers run in parallel).
    check_response(response_to(peers.agr_a, update), update, recipient=AGR_A, result="Accepted")
    query = peers.agr_a.send(agr_query("2024-06-15"))
    arrival = response_to(peers.agr_a, query)
    check_response(arrival, query, recipient=AGR_A, result="Accepted")
    assert agr_view(arrival.root) == ({}, [C9])
    row = Message.objects.get(direction="out", request__message_id=query.message_id)
    # The library cannot represent a DSO-View without a DSO-Portfolio: it answers 400, and a
    # 400 is a final delivery failure (no retry).
    assert arrival.status == 400
    wait_db(lambda: Message.objects.get(pk=row.pk).status == Message.Status.FAILED, what="delivery failed")
    row.refresh_from_db()
    assert row.attempts == 1
    assert "HTTP 400" in row.last_error


def test_peer_test_message_is_answered(peers):
    """A peer's TestMessage: our TestMessageResponse arrives at its service, which parses it."""
    for peer in (peers.dso1, peers.agr_a):
        message = peer.send(TestMessage())
        arrival = response_to(peer, message, parsed=True)
        check_response(arrival, message, recipient=peer.domain, result=None)
        assert arrival.status == 200
        # 3.x: no Result and no reference attribute on the CRO's TestMessageResponse.
        assert "Result" not in arrival.attrs
        inbound = Message.objects.get(direction="in", message_id=message.message_id)
        assert inbound.status == Message.Status.PROCESSED
        assert inbound.result == "Accepted"


@pytest.mark.parametrize("version", ["3.0.0", "3.1.0"])
def test_peer_test_message_in_each_version(peers, version):
    message = peers.dso2.send(TestMessage(), version=version)
    arrival = response_to(peers.dso2, message, parsed=True)
    check_response(arrival, message, recipient=DSO2, result=None)
    assert arrival["Version"] == version


@pytest.mark.parametrize("role", ["DSO", "AGR"])
def test_participant_test_command_records_the_answer(peers, cro, role):
    """`manage.py participant_test` sends our TestMessage; the peer library answers it; we record it."""
    peer = peers.dso1 if role == "DSO" else peers.agr_b
    completed = manage(["participant_test", "--domain", peer.domain, "--role", role], env=cro.env)
    assert "TestMessage" in completed.stdout
    ours = Message.objects.get(direction="out", message_type="TestMessage", recipient_domain=peer.domain)
    # The TestMessage arrived at the peer's service, which parsed it...
    arrival = peer.wait_for(conversation_id=ours.conversation_id, tag="TestMessage", parsed=True)
    assert arrival.status == 200
    assert arrival["SenderDomain"] == cro.domain
    assert arrival["RecipientDomain"] == peer.domain
    # ... and answered with a TestMessageResponse that we recorded against our TestMessage.
    answer = wait_db(
        lambda: Message.objects.filter(
            direction="in", message_type="TestMessageResponse", sender_domain=peer.domain, status="processed"
        ).first(),
        what="the peer's TestMessageResponse",
    )
    assert answer.request_id == ours.pk
    assert answer.conversation_id == ours.conversation_id
    assert answer.result == "Accepted"  # the library sends Result="Accepted"; tolerated
    ours.refresh_from_db()
    assert ours.status == Message.Status.DELIVERED
    # A response is never answered.
    assert not Message.objects.filter(direction="out", request=answer).exists()
