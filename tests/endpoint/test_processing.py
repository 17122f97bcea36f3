"""The worker's side of an inbound message: cro-rules §3 items 1-7, responses and test messages."""

import dataclasses

import pytest
from django.test import Client

from registry.models import Message
from registry.services import processing
from registry.uftp import codec, keys
from registry.uftp import messages as m
from tests import factories

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"
AGR = "agr1.example.com"


@pytest.fixture
def dso(make_participant):
    return make_participant(DSO, "DSO")


@pytest.fixture
def agr(make_participant):
    return make_participant(AGR, "AGR")


def receive(payload, *, role: str, private_key: str, envelope_domain: str | None = None) -> Message:
    body = factories.signed(payload, role=role, private_key=private_key, envelope_domain=envelope_domain)
    response = Client().post(URL, data=body, content_type="text/xml")
    assert response.status_code == 200, response.content
    return Message.objects.filter(direction="in").latest("pk")


def process(message: Message) -> Message | None:
    """Process and return the outbound response, checking it is signed by the CRO."""
    outbound = processing.message_process(message_pk=message.pk)
    message.refresh_from_db()
    return outbound


def response_payload(outbound: Message) -> m.PayloadMessage:
    from django.conf import settings

    envelope = codec.parse_signed_message(outbound.signed_xml.encode())
    assert envelope.sender_domain == settings.CRO_DOMAIN
    assert envelope.sender_role == "CRO"
    cro_public = keys.public_key_from_private(settings.CRO_SIGNING_KEY)
    return codec.parse_any(codec.open_body(envelope.body, [cro_public]))


def test_test_message_is_answered(dso):
    payload = factories.test_message(sender=DSO)
    message = receive(payload, role="DSO", private_key=dso[1])
    outbound = process(message)
    assert message.status == "processed"
    assert message.result == "Accepted"
    answer = response_payload(outbound)
    assert isinstance(answer, m.TestMessageResponse)
    assert answer.conversation_id == payload.conversation_id
    assert answer.recipient_domain == DSO
    assert answer.version == payload.version
    assert outbound.status == "response_queued"
    assert outbound.request == message
    assert outbound.participant == dso[0]


def test_processing_twice_answers_once(dso):
    message = receive(factories.test_message(sender=DSO), role="DSO", private_key=dso[1])
    assert process(message) is not None
    assert processing.message_process(message_pk=message.pk) is None
    assert Message.objects.filter(direction="out").count() == 1


def test_invalid_sender_when_inner_domain_differs(dso, make_participant):
    other, other_key = make_participant("dso2.example.com", "DSO")
    # Signed by dso2 (envelope says dso2) but the inner message claims to come from dso1.
    payload = factories.test_message(sender=DSO)
    message = receive(payload, role="DSO", private_key=other_key, envelope_domain="dso2.example.com")
    answer = response_payload(process(message))
    assert message.result == "Rejected"
    assert message.rejection_reason.startswith("Invalid Sender")
    # The answer goes to whoever signed the envelope.
    assert answer.recipient_domain == "dso2.example.com"
    assert Message.objects.get(direction="out").participant == other


def test_invalid_sender_when_role_may_not_send_the_type(agr):
    payload = factories.dso_query(sender=AGR, entity_address="ean.000000000001", period="2024-06-01")
    message = receive(payload, role="AGR", private_key=agr[1])
    answer = response_payload(process(message))
    assert answer.result == m.Result.REJECTED
    assert "Invalid Sender" in answer.rejection_reason


def test_unknown_recipient(dso):
    payload = factories.test_message(sender=DSO, recipient="other-cro.example.com")
    message = receive(payload, role="DSO", private_key=dso[1])
    process(message)
    assert message.result == "Rejected"
    assert message.rejection_reason.startswith("Unknown Recipient")


def test_barred_sender_changes_nothing(dso):
    from registry.models import CongestionPoint
    from registry.services.participants import participant_bar

    participant_bar(participant=dso[0])
    update = factories.dso_update(
        sender=DSO,
        congestion_points=[
            factories.congestion_point(
                "ean.000000000001",
                "2024-01-01",
                connections=[factories.connection("ean.100000000001", "2024-01-01")],
            )
        ],
    )
    message = receive(update, role="DSO", private_key=dso[1])
    answer = response_payload(process(message))
    assert isinstance(answer, m.DSOPortfolioUpdateResponse)
    assert answer.result == m.Result.REJECTED
    assert answer.rejection_reason == "Barred Sender"
    assert answer.reference_message_id == update.message_id
    assert not CongestionPoint.objects.exists()


@pytest.mark.parametrize(
    ("version", "answered_in"), [("3.9.0", "3.9.0"), ("4.0.0", "3.1.0"), ("5.0.0", "3.1.0")]
)
def test_unsupported_version_is_rejected(dso, version, answered_in):
    payload = factories.test_message(sender=DSO)
    inner = codec.serialize(payload).replace(b'Version="3.1.0"', f'Version="{version}"'.encode())
    body = codec.build_signed_message(
        sender_domain=DSO, sender_role="DSO", inner_xml=inner, private_key=dso[1]
    )
    assert Client().post(URL, data=body, content_type="text/xml").status_code == 200
    message = Message.objects.get(direction="in")
    outbound = process(message)
    assert message.result == "Rejected"
    assert "Version" in message.rejection_reason
    # Answered in the major of the path: with the request's version string when that is of
    # the path's major, else in the newest version of the path's major.
    assert f'Version="{answered_in}"'.encode() in outbound.inner_xml.encode()


def test_already_submitted_is_answered_as_the_first_time(dso):
    query = factories.agr_query(sender=DSO, period="2024-06-01")  # a DSO may not send it: Rejected
    first = receive(query, role="DSO", private_key=dso[1])
    process(first)
    again = receive(query, role="DSO", private_key=dso[1])
    second_answer = response_payload(process(again))
    assert first.result == again.result == "Rejected"
    assert again.rejection_reason == first.rejection_reason
    assert second_answer.reference_message_id == query.message_id
    first_answer = response_payload(first.responses.get())
    assert second_answer.message_id != first_answer.message_id
    assert dataclasses.replace(second_answer, message_id="x", time_stamp=None) == dataclasses.replace(
        first_answer, message_id="x", time_stamp=None
    )


def test_already_submitted_waits_for_the_first(dso):
    payload = factories.test_message(sender=DSO)
    first = receive(payload, role="DSO", private_key=dso[1])
    again = receive(payload, role="DSO", private_key=dso[1])
    with pytest.raises(processing.OriginalStillPending):
        processing.message_process(message_pk=again.pk)
    process(first)
    assert process(again) is not None
    assert again.result == first.result == "Accepted"


def test_duplicate_identifier_is_rejected(dso):
    first_payload = factories.test_message(sender=DSO)
    process(receive(first_payload, role="DSO", private_key=dso[1]))
    clash = factories.dso_query(
        sender=DSO,
        entity_address="ean.000000000001",
        period="2024-06-01",
        message_id=first_payload.message_id,
    )
    message = receive(clash, role="DSO", private_key=dso[1])
    answer = response_payload(process(message))
    assert answer.result == m.Result.REJECTED
    assert answer.rejection_reason.startswith("Duplicate Identifier")


def test_time_zone_other_than_the_market_zone_is_rejected(agr):
    payload = factories.agr_query(sender=AGR, period="2024-06-01", time_zone="Europe/London")
    answer = response_payload(process(receive(payload, role="AGR", private_key=agr[1])))
    assert answer.result == m.Result.REJECTED
    assert answer.rejection_reason.startswith("TimeZone rejected")
    assert answer.time_zone == "Europe/London"
    assert answer.period == payload.period


def test_test_message_response_is_recorded_against_the_cro_test_message(dso):
    from registry.services.outbound import participant_test_message_send

    sent = participant_test_message_send(participant=dso[0])
    reply = m.TestMessageResponse(
        **factories.metadata(sender=DSO, conversation_id=sent.conversation_id), result=m.Result.ACCEPTED
    )
    message = receive(reply, role="DSO", private_key=dso[1])
    assert process(message) is None  # responses are never answered
    assert message.status == "processed"
    assert message.request == sent
    assert list(sent.responses.all()) == [message]
    assert Message.objects.filter(direction="out").count() == 1
