"""Every row of the HTTP table of cro-rules §2, in process (the e2e suite repeats them over HTTP)."""

import base64
import datetime as dt
import re
import time

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from registry.models import Message
from registry.uftp import codec, keys
from registry.views.endpoint import uftp_message
from tests import factories

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dso(make_participant):
    return make_participant(DSO, "DSO")


def post(client, body: bytes, content_type: str = "text/xml; charset=utf-8"):
    return client.post(URL, data=body, content_type=content_type)


def away_from_a_minute_boundary() -> None:
    """The limiter counts per clock minute: start a counting test well inside one."""
    while time.time() % 60 > 55:
        time.sleep(0.5)


def valid_body(private_key: str) -> bytes:
    return factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)


def test_missing_content_length_is_411(db):
    request = RequestFactory().post(URL, data=b"<x/>", content_type="text/xml")
    del request.META["CONTENT_LENGTH"]
    response = uftp_message(request)
    assert response.status_code == 411
    assert Message.objects.count() == 0


def test_body_over_the_limit_is_413(client, dso, settings):
    settings.CRO_MAX_MESSAGE_BYTES = 100
    response = post(client, valid_body(dso[1]))
    assert response.status_code == 413
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "text/plain", "text/xml; charset=iso-8859-1", "application/xml; charset=utf-16"],
)
def test_content_type_not_xml_or_not_utf8_is_400(client, dso, content_type):
    response = post(client, valid_body(dso[1]), content_type=content_type)
    assert response.status_code == 400
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/xml", "application/xml", "text/xml; charset=utf-8", "application/xml; charset=UTF-8"],
)
def test_xml_content_types_are_accepted(client, dso, content_type):
    response = post(client, valid_body(dso[1]), content_type=content_type)
    assert response.status_code == 200, response.content
    assert Message.objects.filter(direction="in", message_type="TestMessage").count() == 1


def test_sender_over_its_rate_limit_is_429(client, dso, settings):
    settings.CRO_RATE_LIMIT_PER_MINUTE = 2
    away_from_a_minute_boundary()
    answers = [post(client, valid_body(dso[1])).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    assert Message.objects.count() == 2


def test_client_address_rate_limit_comes_before_parse_errors(client, db, settings):
    settings.CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE = 1
    away_from_a_minute_boundary()
    answers = [post(client, b"not xml").status_code for _ in range(2)]
    assert answers == [400, 429]


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<SignedMessage SenderDomain='dso1.example.com' SenderRole='DSO' Body='AAAA'",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="&lol;"/>',
        b'<SignedMessage SenderDomain="DSO1" SenderRole="DSO" Body="AAAA"/>',
        b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="BRP" Body="AAAA"/>',
        b'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="not base64!"/>',
        b'<Other SenderDomain="dso1.example.com" SenderRole="DSO" Body="AAAA"/>',
    ],
    ids=["not-xml", "truncated", "dtd", "bad-domain", "bad-role", "bad-base64", "wrong-root"],
)
def test_bad_outer_xml_is_400(client, dso, body):
    response = post(client, body)
    assert response.status_code == 400
    assert Message.objects.count() == 0


def test_unknown_sender_in_closed_mode_is_401(client, db, keypair):
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=keypair[0])
    response = post(client, body)
    assert response.status_code == 401
    assert b"unknown sender" in response.content


def test_sender_known_in_another_role_only_is_401(client, make_participant):
    _, private_key = make_participant(DSO, "AGR")
    response = post(client, valid_body(private_key))
    assert response.status_code == 401


def test_open_mode_dns_failure_is_419(client, db, keypair, settings):
    settings.CRO_MODE = "open"
    # A loopback port where no DNS server listens: the lookup fails at once or times out.
    settings.CRO_DNS_NAMESERVERS = ["127.0.0.1:9"]
    settings.CRO_DNS_TIMEOUT_SECONDS = 1
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=keypair[0])
    response = post(client, body)
    assert response.status_code == 419
    assert Message.objects.count() == 0


def test_signature_by_another_key_is_401(client, dso, keypair):
    response = post(client, valid_body(keypair[0]))
    assert response.status_code == 401
    assert Message.objects.count() == 0


def test_either_key_verifies_during_a_rotation(client, dso):
    participant, old_private = dso
    new_private, new_public = keys.generate_keypair()
    participant.public_key_previous = new_public
    participant.save()
    assert post(client, valid_body(old_private)).status_code == 200
    assert post(client, valid_body(new_private)).status_code == 200


def _signed_raw(inner: bytes, private_key: str, role: str = "DSO") -> bytes:
    return codec.build_signed_message(
        sender_domain=DSO, sender_role=role, inner_xml=inner, private_key=private_key
    )


@pytest.mark.parametrize(
    "inner",
    [
        b"<TestMessage",
        b'<TestMessage Version="3.1.0" SenderDomain="dso1.example.com"/>',
        b'<FlexRequest Version="3.1.0" SenderDomain="dso1.example.com" RecipientDomain="cro.example.com" '
        b'TimeStamp="2024-01-01T00:00:00Z" MessageID="0b8e4a9c-5a4e-4c44-9a56-2f1c7d3e8a10" '
        b'ConversationID="0b8e4a9c-5a4e-4c44-9a56-2f1c7d3e8a11"/>',
        b'<DSOPortfolioUpdateResponse Version="3.1.0" SenderDomain="dso1.example.com" '
        b'RecipientDomain="cro.example.com" TimeStamp="2024-01-01T00:00:00Z" '
        b'MessageID="0b8e4a9c-5a4e-4c44-9a56-2f1c7d3e8a10" ConversationID="0b8e4a9c-5a4e-4c44-9a56-2f1c7d3e8a11" '
        b'Result="Accepted" DSOPortfolioUpdateResponseMessageID="0b8e4a9c-5a4e-4c44-9a56-2f1c7d3e8a12"/>',
    ],
    ids=["unparseable", "schema-invalid", "not-a-cro-message", "a-response"],
)
def test_bad_inner_message_is_400(client, dso, inner):
    response = post(client, _signed_raw(inner, dso[1]))
    assert response.status_code == 400
    assert Message.objects.count() == 0


def test_truncated_body_is_401(client, dso):
    body = base64.b64encode(b"too short").decode()
    raw = f'<SignedMessage SenderDomain="{DSO}" SenderRole="DSO" Body="{body}"/>'.encode()
    assert post(client, raw).status_code == 401


def test_accepted_message_is_stored_before_200(client, dso):
    payload = factories.test_message(sender=DSO)
    body = factories.signed(payload, role="DSO", private_key=dso[1])
    response = post(client, body)
    assert response.status_code == 200
    assert response.content == b""
    stored = Message.objects.get()
    assert stored.direction == "in"
    assert stored.status == "received"
    assert stored.message_id == payload.message_id
    assert stored.conversation_id == payload.conversation_id
    assert stored.participant == dso[0]
    assert stored.signed_xml.encode() == body
    assert stored.path_major == 3


@pytest.mark.parametrize(
    "path",
    [
        "/shapeshifter/api/v5/message",
        "/shapeshifter/api/v2/message",
        "/shapeshifter/api/v03/message",
        "/shapeshifter/api/v04/message",
        "/shapeshifter/api/V3/message",
        "/shapeshifter/api/v3.1/message",
        "/shapeshifter/api/latest/message",
    ],
)
def test_unsupported_major_in_path_is_400_not_404(client, dso, path):
    # A 404 is retried by peers as temporary; an unsupported major never heals.
    response = client.post(path, data=valid_body(dso[1]), content_type="text/xml")
    assert response.status_code == 400
    assert b"unsupported Shapeshifter version in the path" in response.content
    assert b"/shapeshifter/api/v3/message" in response.content  # names what is served
    assert Message.objects.count() == 0


@pytest.mark.parametrize(("path", "major"), [(URL, 3), ("/shapeshifter/api/v4/message", 4)])
def test_each_major_is_served_at_its_own_path(client, dso, path, major):
    version = {3: "3.1.0", 4: "4.0.0"}[major]
    payload = factories.test_message(sender=DSO, version=version)
    body = factories.signed(payload, role="DSO", private_key=dso[1])
    response = client.post(path, data=body, content_type="text/xml")
    assert response.status_code == 200, response.content
    stored = Message.objects.get()
    assert (stored.path_major, stored.version) == (major, version)


@pytest.mark.parametrize(("path", "version"), [(URL, "4.0.0"), ("/shapeshifter/api/v4/message", "3.1.0")])
def test_a_version_of_another_major_than_the_path_is_stored_for_the_worker_to_reject(
    client, dso, path, version
):
    # cro-rules §3 item 4: a functional rejection after the 200, not an HTTP refusal.
    payload = factories.test_message(sender=DSO, version=version)
    response = client.post(
        path, data=factories.signed(payload, role="DSO", private_key=dso[1]), content_type="text/xml"
    )
    assert response.status_code == 200, response.content
    assert Message.objects.get().version == version


def test_a_4_0_0_time_stamp_without_offset_is_400_at_v4(client, dso):
    inner = codec.serialize(factories.test_message(sender=DSO, version="4.0.0"))
    inner = re.sub(rb'TimeStamp="[^"]*"', b'TimeStamp="2024-06-01T12:00:00"', inner)
    response = client.post(
        "/shapeshifter/api/v4/message", data=_signed_raw(inner, dso[1]), content_type="text/xml"
    )
    assert response.status_code == 400
    assert b"TimeStamp" in response.content
    assert Message.objects.count() == 0


def test_unsupported_major_in_path_comes_after_the_size_checks(db, settings):
    settings.CRO_MAX_MESSAGE_BYTES = 10
    request = RequestFactory().post("/shapeshifter/api/v5/message", data=b"<x>" * 10, content_type="text/xml")
    assert uftp_message(request).status_code == 413


def test_get_is_not_allowed(client, db):
    assert client.get(URL).status_code == 405


def test_outer_xml_in_another_encoding_is_400(client, dso):
    body = valid_body(dso[1]).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)
    body = body.replace(b"?>", "?><!-- caf\u00e9 -->".encode("latin-1"), 1)
    response = post(client, body)
    assert response.status_code == 400
    assert b"not UTF-8" in response.content
    assert Message.objects.count() == 0


def test_inner_xml_in_another_encoding_is_400(client, dso):
    inner = codec.serialize(factories.test_message(sender=DSO))
    inner = inner.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1)
    inner = inner.replace(b"?>", "?><!-- caf\u00e9 -->".encode("latin-1"), 1)
    response = post(client, _signed_raw(inner, dso[1]))
    assert response.status_code == 400
    assert b"not UTF-8" in response.content
    assert Message.objects.count() == 0


@pytest.mark.parametrize("content_length", ["-5", "ten"])
def test_content_length_that_is_not_a_size_is_400(db, content_length):
    request = RequestFactory().post(URL, data=b"<x/>", content_type="text/xml")
    request.META["CONTENT_LENGTH"] = content_length
    assert uftp_message(request).status_code == 400
    assert Message.objects.count() == 0


def _signed_test_message(private_key: str, **attributes: str) -> bytes:
    inner = codec.serialize(factories.test_message(sender=DSO))
    for name, value in attributes.items():
        inner = re.sub(rf'{name}="[^"]*"'.encode(), f'{name}="{value}"'.encode(), inner)
    return _signed_raw(inner, private_key)


def test_timestamp_without_offset_is_read_in_the_market_zone(client, dso):
    response = post(client, _signed_test_message(dso[1], TimeStamp="2024-06-01T12:00:00"))
    assert response.status_code == 200, response.content
    stored = Message.objects.get()
    assert stored.time_stamp == dt.datetime(2024, 6, 1, 10, 0, tzinfo=dt.UTC)  # CEST is UTC+2


@pytest.mark.parametrize("time_stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_timestamp_outside_what_storage_holds_is_400(client, dso, time_stamp):
    response = post(client, _signed_test_message(dso[1], TimeStamp=time_stamp))
    assert response.status_code == 400
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("Version", "3.1.0000000000000000"), ("RecipientDomain", "a" * 250 + ".example.com")],
)
def test_values_longer_than_the_log_holds_are_400(client, dso, attribute, value):
    response = post(client, _signed_test_message(dso[1], **{attribute: value}))
    assert response.status_code == 400
    assert b"longer than" in response.content
    assert Message.objects.count() == 0


def test_inner_message_up_to_the_configured_limit_is_accepted(client, dso, settings):
    settings.CRO_MAX_MESSAGE_BYTES = 8_000_000
    inner = codec.serialize(factories.test_message(sender=DSO))
    padding = b"<!--" + b"x" * 5_200_000 + b"-->"
    inner = inner.replace(b"?>", b"?>" + padding, 1)
    assert len(inner) > 5_000_000  # more than the codec's own default limit
    response = post(client, _signed_raw(inner, dso[1]))
    assert response.status_code == 200, response.content[:200]
