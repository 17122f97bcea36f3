"""Each functional rejection of cro-rules §3, provoked by a real peer over HTTP.

The peer's message is answered HTTP 200; the Rejected response (and its reason) is read
where it arrives: at the peer library's service. A rejected update changes nothing.
"""

import datetime as dt
import uuid

import pytest
from shapeshifter_uftp import TestMessage

from registry.models import CongestionPoint, CongestionPointVersion, Membership, Message, Representation
from registry.services.participants import participant_bar, participant_reactivate

from .peers import fill_metadata, post, signed_xml
from .uftp import (
    agr_query,
    agr_update,
    check_response,
    cp,
    dso_query,
    dso_update,
    dso_view,
    response_to,
    wait_db,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]

CP1, CP2, CP3 = "ean.000000000001", "ean.000000000002", "ean.000000000003"
C1, C2, C3 = "ean.100000000001", "ean.100000000002", "ean.100000000003"


def send_and_expect(peer, message, *, result, reason=None, recipient=None, **client_options):
    """Send `message`; its response has `result` and exactly `reason` as RejectionReason."""
    peer.send(message, **client_options)
    arrival = response_to(peer, message)
    check_response(arrival, message, recipient=recipient or peer.domain, result=result, reason=reason)
    assert arrival.attrs.get("RejectionReason") == reason, arrival.attrs
    return arrival


def accepted(peer, message):
    return send_and_expect(peer, message, result="Accepted")


def cp1_update(**options):
    return dso_update(cp(CP1, "2024-01-01", connections=[(C1, "2024-01-01"), (C2, "2024-01-01")], **options))


def registry_rows() -> tuple[int, int, int]:
    return CongestionPointVersion.objects.count(), Membership.objects.count(), Representation.objects.count()


# --------------------------------------------------------------------------- 1. Invalid Sender


def test_invalid_sender_role_dso_sends_agr_update(peers):
    """A DSO's client sending an AGRPortfolioUpdate: Rejected, nothing represented."""
    arrival = send_and_expect(
        peers.dso1,
        agr_update((C1, "2024-01-01")),
        result="Rejected",
        reason="Invalid Sender: a DSO may not send AGRPortfolioUpdate",
    )
    assert arrival.tag == "AGRPortfolioUpdateResponse"
    assert Representation.objects.count() == 0


def test_invalid_sender_role_agr_sends_dso_query(peers):
    send_and_expect(
        peers.agr_a,
        dso_query(CP1, "2024-06-15"),
        result="Rejected",
        reason="Invalid Sender: a AGR may not send DSOPortfolioQuery",
    )


def test_invalid_sender_inner_sender_domain_differs(peers, cro):
    """Signed by dso1 in a dso1 envelope, but the inner SenderDomain says dso2."""
    message = fill_metadata(cp1_update(), sender_domain=peers.dso2.domain, recipient_domain=cro.domain)
    data = signed_xml(
        message, private_key=peers.dso1.private_key, sender_domain=peers.dso1.domain, sender_role="DSO"
    )
    assert post(cro.url, data).status_code == 200
    # The answer goes to the participant who signed the message (dso1), addressed to it.
    arrival = response_to(peers.dso1, message)
    check_response(arrival, message, recipient=peers.dso1.domain, result="Rejected", reason="Invalid Sender")
    assert arrival["RejectionReason"] == (
        f"Invalid Sender: SenderDomain {peers.dso2.domain} differs from the SignedMessage's {peers.dso1.domain}"
    )
    assert not peers.dso2.arrivals or all(
        a["ConversationID"] != message.conversation_id for a in peers.dso2.arrivals
    )
    assert registry_rows() == (0, 0, 0)


# --------------------------------------------------------------------------- 2. Unknown Recipient


def test_unknown_recipient(peers):
    message = cp1_update()
    send_and_expect(
        peers.dso1,
        message,
        result="Rejected",
        reason="Unknown Recipient: other-cro.example.com",
        recipient_domain="other-cro.example.com",
    )
    assert registry_rows() == (0, 0, 0)


# --------------------------------------------------------------------------- 3. Barred Sender


def test_barred_sender_then_reactivated(peers):
    from registry.models import Participant

    dso1 = Participant.objects.get(domain=peers.dso1.domain, role="DSO")
    participant_bar(participant=dso1)
    send_and_expect(peers.dso1, cp1_update(), result="Rejected", reason="Barred Sender")
    send_and_expect(peers.dso1, TestMessage(), result=None)  # a TestMessage is answered too
    assert registry_rows() == (0, 0, 0)
    participant_reactivate(participant=dso1)
    accepted(peers.dso1, cp1_update())
    assert registry_rows() == (1, 2, 0)


# --------------------------------------------------------------------------- 4. Version


def _raw(peer, message, cro, *, version, time_stamp=None):
    fill_metadata(
        message,
        sender_domain=peer.domain,
        recipient_domain=cro.domain,
        version=version,
        time_stamp=time_stamp,
    )
    data = signed_xml(message, private_key=peer.private_key, sender_domain=peer.domain, sender_role=peer.role)
    return post(cro.url, data)


def test_unsupported_minor_version_is_rejected(peers, cro):
    """3.9.0 is spelled like 3.x but not supported: 200, then Rejected (built and signed by hand:
    the library's client only sends 3.0.0 and 3.1.0)."""
    message = cp1_update()
    assert _raw(peers.dso1, message, cro, version="3.9.0").status_code == 200
    arrival = response_to(peers.dso1, message)
    check_response(arrival, message, recipient=peers.dso1.domain, result="Rejected", reason="Version")
    assert arrival["Version"] == "3.9.0"
    assert registry_rows() == (0, 0, 0)


def test_other_major_version_on_the_v3_path(peers, cro):
    """Version 4.0.0 posted to /api/v3/: its major does not match the path (§3.4): Rejected."""
    message = cp1_update()
    assert _raw(peers.dso1, message, cro, version="4.0.0").status_code == 200
    arrival = response_to(peers.dso1, message)
    # Answered in the path's major, where the peer reads it: spelled and versioned 3.1.0.
    assert arrival["Version"] == "3.1.0"
    message.version = "3.1.0"
    check_response(arrival, message, recipient=peers.dso1.domain, result="Rejected", reason="Version")
    assert registry_rows() == (0, 0, 0)


# --------------------------------------------------------------------------- 5 and 6. Already Submitted, Duplicate


def test_already_submitted_accepted_is_answered_the_same_and_applied_once(peers):
    message = cp1_update()
    first = accepted(peers.dso1, message)
    rows = registry_rows()
    assert rows == (1, 2, 0)
    peers.dso1.send(message)  # the very same message: same MessageID, same body
    answers = peers.dso1.wait_for(conversation_id=message.conversation_id, count=2)
    second = answers[1]
    check_response(second, message, recipient=peers.dso1.domain, result="Accepted")
    assert second["MessageID"] != first["MessageID"]
    assert registry_rows() == rows
    inbound = Message.objects.filter(direction="in", message_id=message.message_id).order_by("pk")
    assert [m.result for m in inbound] == ["Accepted", "Accepted"]


def test_already_submitted_rejected_is_answered_the_same(peers):
    message = cp1_update(end="2023-12-31")  # ends before it starts
    first = send_and_expect(
        peers.dso1,
        message,
        result="Rejected",
        reason=f"Period out of bounds: congestion point [{CP1}] ends (2023-12-31) before it starts (2024-01-01)",
    )
    peers.dso1.send(message)
    second = peers.dso1.wait_for(conversation_id=message.conversation_id, count=2)[1]
    check_response(second, message, recipient=peers.dso1.domain, result="Rejected")
    assert second["RejectionReason"] == first["RejectionReason"]
    assert registry_rows() == (0, 0, 0)


def test_duplicate_identifier(peers):
    original = cp1_update()
    accepted(peers.dso1, original)
    # Same MessageID, another body: Rejected, and the registry keeps the first statement.
    twin = dso_update(cp(CP1, "2024-01-01", connections=[(C3, "2024-01-01")]), message_id=original.message_id)
    send_and_expect(
        peers.dso1,
        twin,
        result="Rejected",
        reason=f"Duplicate Identifier: MessageID {original.message_id} was used for another message",
    )
    query = peers.dso1.send(dso_query(CP1, "2024-06-15"))
    assert dso_view(response_to(peers.dso1, query).root) == {C1: None, C2: None}
    assert registry_rows() == (1, 2, 0)


# --------------------------------------------------------------------------- 7. TimeZone


@pytest.mark.parametrize("kind", ["dso_update", "agr_update", "agr_query"])
def test_time_zone_rejected(peers, kind):
    peer, message = {
        "dso_update": (peers.dso1, dso_update(cp(CP1, "2024-01-01", connections=[(C1, "2024-01-01")]), time_zone="Europe/London")),
        "agr_update": (peers.agr_a, agr_update((C1, "2024-01-01"), time_zone="Europe/London")),
        "agr_query": (peers.agr_a, agr_query("2024-06-15", time_zone="Europe/London")),
    }[kind]  # fmt: skip
    arrival = send_and_expect(
        peer,
        message,
        result="Rejected",
        reason=(
            "TimeZone rejected: Europe/London is not the market time zone Europe/Amsterdam and its UTC "
            # The first instant the offsets differ: the first Period's start in London.
            f"offset differs at {'2024-06-14T23:00Z' if kind == 'agr_query' else '2024-01-01T00:00Z'}"
        ),
    )
    if kind == "agr_query":
        assert arrival["TimeZone"] == "Europe/London"  # copied from the query
    assert registry_rows() == (0, 0, 0)


# --------------------------------------------------------------------------- 8. Period out of bounds


def test_period_out_of_bounds(peers):
    # A CP that ends before it starts.
    send_and_expect(
        peers.dso1,
        dso_update(cp(CP1, "2024-06-01", "2024-05-31", connections=[(C1, "2024-06-01", "2024-05-31")])),
        result="Rejected",
        reason=(
            f"Period out of bounds: congestion point [{CP1}] ends (2024-05-31) before it starts (2024-06-01); "
            f"Period out of bounds: connection [{C1}] in congestion point [{CP1}] ends (2024-05-31) "
            "before it starts (2024-06-01)"
        ),
    )
    # A connection that starts before its CP; another starting after the CP ends: both named.
    send_and_expect(
        peers.dso1,
        dso_update(cp(CP1, "2024-03-01", "2024-12-31", connections=[(C1, "2024-01-01", "2024-12-31"), (C2, "2025-01-01")])),
        result="Rejected",
        reason=(
            f"Period out of bounds: connection [{C1}] in congestion point [{CP1}] 2024-01-01..2024-12-31 "
            "is not inside the congestion point's 2024-03-01..2024-12-31; "
            f"Period out of bounds: connection [{C2}] in congestion point [{CP1}] 2025-01-01..(open) "
            "is not inside the congestion point's 2024-03-01..2024-12-31"
        ),
    )  # fmt: skip
    # An AGR representation that ends before it starts.
    send_and_expect(
        peers.agr_a,
        agr_update((C1, "2024-06-01", "2024-05-01")),
        result="Rejected",
        reason=f"Period out of bounds: connection [{C1}] ends (2024-05-01) before it starts (2024-06-01)",
    )
    assert registry_rows() == (0, 0, 0)


# --------------------------------------------------------------------------- 9. Subordinate sequence number


def _stamp(minutes_ago: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat()


def test_subordinate_sequence_number(peers):
    newer_stamp = _stamp(1)
    newer = dso_update(cp(CP1, "2024-01-01", connections=[(C1, "2024-01-01")]), time_stamp=newer_stamp)
    accepted(peers.dso1, newer)
    older = dso_update(cp(CP1, "2024-01-01", connections=[(C2, "2024-01-01")]), time_stamp=_stamp(10))
    send_and_expect(
        peers.dso1,
        older,
        result="Rejected",
        reason=(
            f"Subordinate sequence number: congestion point [{CP1}] was updated by a newer message "
            f"(TimeStamp {newer_stamp})"
        ),
    )
    query = peers.dso1.send(dso_query(CP1, "2024-06-15"))
    assert dso_view(response_to(peers.dso1, query).root) == {C1: None}

    newer = agr_update((C1, "2024-01-01"), time_stamp=_stamp(1))
    accepted(peers.agr_a, newer)
    older = agr_update((C1, "2024-02-01"), time_stamp=_stamp(10))
    send_and_expect(
        peers.agr_a,
        older,
        result="Rejected",
        reason=f"Subordinate sequence number: connection [{C1}] was updated by a newer message",
    )
    assert list(
        Representation.objects.filter(superseded_at__isnull=True).values_list("start_period", flat=True)
    ) == [dt.date(2024, 1, 1)]


# --------------------------------------------------------------------------- 10. use-case rules


def test_unauthorized_congestion_point(peers):
    accepted(peers.dso1, cp1_update())
    send_and_expect(
        peers.dso2,
        dso_update(cp(CP1, "2024-01-01", connections=[(C3, "2024-01-01")])),
        result="Rejected",
        reason=f"Unauthorized: congestion point [{CP1}] is owned by another DSO",
    )
    assert CongestionPoint.objects.get(entity_address=CP1).dso.domain == peers.dso1.domain
    assert registry_rows() == (1, 2, 0)


def test_connection_conflict_between_congestion_points(peers):
    accepted(peers.dso1, cp1_update())
    # Every conflicting connection is named, one reason each, joined with "; " (C3 is free).
    send_and_expect(
        peers.dso2,
        dso_update(
            cp(CP2, "2024-06-01", connections=[(C1, "2024-06-01"), (C2, "2024-06-01"), (C3, "2024-06-01")])
        ),
        result="Rejected",
        reason=f"Connection conflict: [{C1}] at [{CP1}]; Connection conflict: [{C2}] at [{CP1}]",
    )
    assert registry_rows() == (1, 2, 0)
    # Not overlapping: accepted (C2's membership in CP1 ended before).
    accepted(
        peers.dso1,
        dso_update(cp(CP1, "2024-01-01", connections=[(C1, "2024-01-01"), (C2, "2024-01-01", "2024-05-31")])),
    )
    accepted(peers.dso2, dso_update(cp(CP2, "2024-06-01", connections=[(C2, "2024-06-01")])))


def test_connection_represented_by_another_agr(peers):
    accepted(peers.agr_a, agr_update((C1, "2024-01-01")))
    send_and_expect(
        peers.agr_b,
        agr_update((C1, "2024-03-01")),
        result="Rejected",
        reason=f"Connection conflict: [{C1}] represented by another AGR",
    )
    assert Representation.objects.filter(superseded_at__isnull=True).get().agr.domain == peers.agr_a.domain


def test_no_connections_available(peers):
    """An AGR that represents nothing on the Period: Rejected, "No connections available".

    The XSD cannot express a Rejected AGRPortfolioQueryResponse (it demands a DSO-View with a
    CongestionPoint): the peer library answers 400, so the delivery fails at once. We check what
    arrived and our outbound row.
    """
    query = agr_query("2024-06-15")
    arrival = send_and_expect(peers.agr_b, query, result="Rejected", reason="No connections available")
    row = Message.objects.get(direction="out", request__message_id=query.message_id)
    assert "No connections available" in row.inner_xml
    assert arrival.status == 400
    wait_db(lambda: Message.objects.get(pk=row.pk).status == Message.Status.FAILED, what="delivery failed")
    assert Message.objects.get(pk=row.pk).attempts == 1


def test_unknown_congestion_point_query(peers):
    unknown = f"ean.{uuid.uuid4().int % 10**12:012d}"
    send_and_expect(
        peers.dso1,
        dso_query(unknown, "2024-06-15"),
        result="Rejected",
        reason=f"Unknown congestion point [{unknown}]",
    )
