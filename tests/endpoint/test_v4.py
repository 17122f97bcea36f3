"""4.0.0 at /shapeshifter/api/v4/message: received, processed and answered in 4.0.0, with
ReferenceMessageID on every response (cro-rules §2, §3 item 4, §6)."""

import base64
import datetime as dt
import uuid

import pytest
from django.conf import settings
from django.test import Client
from lxml import etree
from nacl.signing import SigningKey

from registry.models import Message
from registry.services import processing
from registry.services.outbound import participant_test_message_send
from registry.uftp import codec, keys
from registry.uftp import messages as m
from tests import factories
from tests.codec.oracle import HEAD_XSD, OFFICIAL_VERSIONS, official_verdict, requires_official_xsd

V3_URL = "/shapeshifter/api/v3/message"
V4_URL = "/shapeshifter/api/v4/message"
HEAD = "4.0.0"
DSO = "dso1.example.com"
AGR = "agr-a.example.com"
V3_REFERENCES = (
    "DSOPortfolioUpdateResponseMessageID",
    "DSOPortfolioQueryMessageID",
    "AGRPortfolioUpdateMessageID",
    "AGRPortfolioQueryMessageID",
)


@pytest.fixture
def dso(make_participant):
    return make_participant(DSO, "DSO")


@pytest.fixture
def agr(make_participant):
    return make_participant(AGR, "AGR")


def receive(payload, *, role: str, private_key: str, url: str = V4_URL) -> Message:
    body = factories.signed(payload, role=role, private_key=private_key)
    response = Client().post(url, data=body, content_type="text/xml")
    assert response.status_code == 200, response.content
    return Message.objects.filter(direction="in").latest("pk")


def answer_of(message: Message) -> tuple[etree._Element, bytes]:
    """Process `message`; the CRO's signed answer, opened with the CRO's key: (root, inner XML)."""
    outbound = processing.message_process(message_pk=message.pk)
    message.refresh_from_db()
    envelope = codec.parse_signed_message(outbound.signed_xml.encode())
    assert (envelope.sender_domain, envelope.sender_role) == (settings.CRO_DOMAIN, "CRO")
    inner = codec.open_body(envelope.body, [keys.public_key_from_private(settings.CRO_SIGNING_KEY)])
    return etree.fromstring(inner), inner


def assert_head_response(root: etree._Element, request: m.PayloadMessage, *, result: str) -> None:
    assert root.get("Version") == HEAD
    assert root.get("ReferenceMessageID") == request.message_id
    assert root.get("Result") == result
    assert root.get("ConversationID") == request.conversation_id
    assert dt.datetime.fromisoformat(root.get("TimeStamp")).utcoffset() is not None
    assert not set(root.attrib) & set(V3_REFERENCES)


def cp_update(**meta) -> m.DSOPortfolioUpdate:
    return factories.dso_update(
        sender=DSO,
        version=HEAD,
        congestion_points=[
            factories.congestion_point(
                "ean.000000000001",
                "2024-01-01",
                connections=[
                    factories.connection("ean.100000000001", "2024-01-01"),
                    factories.connection("ean.100000000002", "2024-01-01", "2024-06-30"),
                ],
            )
        ],
        **meta,
    )


def test_4_0_0_test_message_at_v4_is_answered_in_4_0_0(dso):
    request = factories.test_message(sender=DSO, version=HEAD)
    message = receive(request, role="DSO", private_key=dso[1])
    assert message.path_major == 4
    root, inner = answer_of(message)
    assert root.tag == "TestMessageResponse"
    assert_head_response(root, request, result="Accepted")
    assert message.result == "Accepted"
    answer = codec.parse_any(inner, path_major=4)
    assert answer.reference_message_id == request.message_id


def test_a_raw_4_0_0_peer_signed_with_pynacl_is_answered(dso, settings):
    # Built by hand as a peer without our codec would: PyNaCl signs the inner XML bytes.
    signing_key = SigningKey.generate()
    participant = dso[0]
    participant.public_key = base64.b64encode(bytes(signing_key.verify_key)).decode()
    participant.save()
    message_id, conversation_id = str(uuid.uuid4()), str(uuid.uuid4())
    inner = (
        f'<?xml version="1.0" encoding="UTF-8"?><TestMessage Version="4.0.0" SenderDomain="{DSO}" '
        f'RecipientDomain="{settings.CRO_DOMAIN}" TimeStamp="2024-05-01T10:00:00.5+02:00" '
        f'MessageID="{message_id}" ConversationID="{conversation_id}"/>'
    ).encode()
    body = base64.b64encode(signing_key.sign(inner)).decode()
    signed = f'<SignedMessage SenderDomain="{DSO}" SenderRole="DSO" Body="{body}"/>'.encode()
    response = Client().post(V4_URL, data=signed, content_type="application/xml; charset=utf-8")
    assert response.status_code == 200, response.content
    root, _ = answer_of(Message.objects.get(direction="in"))
    assert (root.tag, root.get("ReferenceMessageID"), root.get("Result")) == (
        "TestMessageResponse",
        message_id,
        "Accepted",
    )


def test_barred_4_0_0_test_message_is_answered_rejected_with_its_reason(dso):
    from registry.services.participants import participant_bar

    participant_bar(participant=dso[0])
    request = factories.test_message(sender=DSO, version=HEAD)
    root, _ = answer_of(receive(request, role="DSO", private_key=dso[1]))
    assert_head_response(root, request, result="Rejected")
    assert root.get("RejectionReason") == "Barred Sender"


def test_4_0_0_portfolio_round_trip(dso, agr):
    """DSOPortfolioUpdate, AGRPortfolioUpdate and both queries in 4.0.0, each answered in 4.0.0."""
    update = cp_update()
    root, _ = answer_of(receive(update, role="DSO", private_key=dso[1]))
    assert root.tag == "DSOPortfolioUpdateResponse"
    assert_head_response(root, update, result="Accepted")

    representation = factories.agr_update(
        sender=AGR,
        version=HEAD,
        connections=[
            factories.connection("ean.100000000001", "2024-01-01"),
            factories.connection("ean.100000000009", "2024-01-01"),
        ],
    )
    root, _ = answer_of(receive(representation, role="AGR", private_key=agr[1]))
    assert root.tag == "AGRPortfolioUpdateResponse"
    assert_head_response(root, representation, result="Accepted")

    dso_query = factories.dso_query(
        sender=DSO, version=HEAD, entity_address="ean.000000000001", period="2024-06-15"
    )
    root, inner = answer_of(receive(dso_query, role="DSO", private_key=dso[1]))
    assert root.tag == "DSOPortfolioQueryResponse"
    assert_head_response(root, dso_query, result="Accepted")
    answer = codec.parse_any(inner, path_major=4)
    assert {(c.entity_address, c.agr_domain) for c in answer.congestion_point.connections} == {
        ("ean.100000000001", AGR),
        ("ean.100000000002", None),
    }

    agr_query = factories.agr_query(sender=AGR, version=HEAD, period="2024-06-15")
    root, inner = answer_of(receive(agr_query, role="AGR", private_key=agr[1]))
    assert root.tag == "AGRPortfolioQueryResponse"
    assert_head_response(root, agr_query, result="Accepted")
    answer = codec.parse_any(inner, path_major=4)
    assert [p.dso_domain for p in answer.dso_portfolios] == [DSO]
    assert answer.unallocated_connections == ("ean.100000000009",)


@requires_official_xsd
def test_4_0_0_answers_are_valid_against_xsd_latest(dso, agr):
    requests = [
        (cp_update(), "DSO", dso[1]),
        (
            factories.dso_query(
                sender=DSO, version=HEAD, entity_address="ean.000000000001", period="2024-06-15"
            ),
            "DSO",
            dso[1],
        ),
        (
            factories.dso_query(
                sender=DSO, version=HEAD, entity_address="ean.000000000404", period="2024-06-15"
            ),
            "DSO",
            dso[1],
        ),
        (factories.test_message(sender=DSO, version=HEAD), "DSO", dso[1]),
        (
            factories.agr_update(
                sender=AGR, version=HEAD, connections=[factories.connection("ean.100000000001", "2024-01-01")]
            ),
            "AGR",
            agr[1],
        ),
        (factories.agr_query(sender=AGR, version=HEAD, period="2024-06-15"), "AGR", agr[1]),
        (
            factories.agr_update(
                sender=AGR,
                version=HEAD,
                connections=[factories.connection("ean.100000000003", "2024-02-01", "2024-01-01")],
            ),
            "AGR",
            agr[1],
        ),
    ]
    for request, role, private_key in requests:
        root, inner = answer_of(receive(request, role=role, private_key=private_key))
        valid, error = official_verdict(inner, version=HEAD_XSD)
        assert valid, f"{root.tag} {root.get('Result')} {root.get('RejectionReason')}: {error}"


def test_3_1_0_at_v4_is_rejected_and_answered_in_the_v4_spelling(dso):
    # cro-rules §3 item 4: the Version's major does not match the path.
    request = factories.test_message(sender=DSO, version="3.1.0")
    message = receive(request, role="DSO", private_key=dso[1], url=V4_URL)
    root, inner = answer_of(message)
    assert message.result == "Rejected"
    assert message.rejection_reason == "Version 3.1.0 does not match the endpoint v4"
    # Spelled for the v4 endpoint it goes back to, and saying so: 4.0.0, ReferenceMessageID.
    assert (root.get("Version"), root.get("Result")) == (HEAD, "Rejected")
    assert root.get("ReferenceMessageID") == request.message_id
    assert root.get("RejectionReason") == message.rejection_reason


def test_a_mismatched_version_sent_again_is_answered_as_the_first_time(dso):
    request = factories.test_message(sender=DSO, version="3.1.0")
    first, _ = answer_of(receive(request, role="DSO", private_key=dso[1], url=V4_URL))
    again = receive(request, role="DSO", private_key=dso[1], url=V4_URL)
    second, _ = answer_of(again)
    assert again.result == "Rejected"
    assert second.get("MessageID") != first.get("MessageID")
    for attribute in ("Version", "Result", "RejectionReason", "ReferenceMessageID", "ConversationID"):
        assert second.get(attribute) == first.get(attribute), attribute


@requires_official_xsd
def test_4_0_0_at_v3_is_rejected_and_answered_in_the_v3_spelling(dso):
    update = cp_update()
    message = receive(update, role="DSO", private_key=dso[1], url=V3_URL)
    root, inner = answer_of(message)
    assert message.result == "Rejected"
    assert message.rejection_reason == "Version 4.0.0 does not match the endpoint v3"
    assert root.get("Version") == "3.1.0"
    assert root.get("DSOPortfolioUpdateResponseMessageID") == update.message_id
    assert root.get("ReferenceMessageID") is None
    for version in OFFICIAL_VERSIONS:
        assert official_verdict(inner, version=version)[0], version
    from registry.models import CongestionPoint

    assert not CongestionPoint.objects.exists()


def test_4_0_0_test_message_response_is_recorded_by_its_reference(dso):
    sent = participant_test_message_send(participant=dso[0], version=HEAD)
    assert etree.fromstring(sent.inner_xml.encode()).get("Version") == HEAD
    other = participant_test_message_send(participant=dso[0], version=HEAD)
    # Answers the first TestMessage by ReferenceMessageID (in another conversation even).
    reply = m.TestMessageResponse(
        **factories.metadata(sender=DSO, version=HEAD),
        reference_message_id=sent.message_id,
        result=m.Result.REJECTED,
        rejection_reason="maintenance",
    )
    message = receive(reply, role="DSO", private_key=dso[1])
    assert processing.message_process(message_pk=message.pk) is None  # responses are never answered
    message.refresh_from_db()
    assert message.request == sent != other
    assert (message.result, message.rejection_reason) == ("Rejected", "maintenance")
    assert message.reference_message_id == sent.message_id


def test_the_cro_test_message_defaults_to_3_1_0(dso):
    # Participants registered before 4.0.0 speak 3.1.0 until told otherwise (cro-rules §2).
    sent = participant_test_message_send(participant=dso[0])
    assert sent.version == "3.1.0"
    assert etree.fromstring(sent.inner_xml.encode()).get("Version") == "3.1.0"
