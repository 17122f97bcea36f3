"""Hostile input at the endpoint (issue 15): floods of forged envelopes, over-long attributes,
messages at the size limit. In process, through Django's test client."""

import time

import pytest
from django.core.cache import cache

from registry.models import Message
from registry.uftp import codec, keys
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


def post(client, body: bytes, *, address: str = "127.0.0.1"):
    return client.post(URL, data=body, content_type="text/xml; charset=utf-8", REMOTE_ADDR=address)


def away_from_a_minute_boundary() -> None:
    while time.time() % 60 > 50:
        time.sleep(0.5)


def genuine(private_key: str) -> bytes:
    return factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)


def test_forged_envelopes_claiming_a_sender_do_not_lock_it_out(client, dso, settings):
    """600 forged envelopes a minute claiming the DSO count against the forger's address only."""
    settings.CRO_RATE_LIMIT_PER_MINUTE = 20
    settings.CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE = 20
    away_from_a_minute_boundary()
    forger_key = keys.generate_keypair()[0]
    forged = [post(client, genuine(forger_key), address="203.0.113.66").status_code for _ in range(30)]
    assert forged[:20] == [401] * 20
    assert forged[20:] == [429] * 10  # the forger's address is over its limit
    assert post(client, genuine(dso[1]), address="198.51.100.7").status_code == 200
    assert Message.objects.count() == 1


def test_a_verified_sender_over_its_limit_is_429_from_any_address(client, dso, settings):
    settings.CRO_RATE_LIMIT_PER_MINUTE = 2
    settings.CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE = 100
    away_from_a_minute_boundary()
    answers = [post(client, genuine(dso[1]), address=f"198.51.100.{n}").status_code for n in range(3)]
    assert answers == [200, 200, 429]
    assert Message.objects.count() == 2


def test_an_over_long_sender_domain_is_400_and_not_echoed(client, dso, settings):
    settings.CRO_RATE_LIMIT_PER_MINUTE = 1
    huge_domain = "a" * 9_000_000 + ".example.com"
    body = factories.signed(
        factories.test_message(sender=DSO), role="DSO", private_key=dso[1], envelope_domain=huge_domain
    )
    response = post(client, body)
    assert response.status_code == 400
    assert b"longer than 253" in response.content
    assert len(response.content) < 1000
    assert Message.objects.count() == 0
    # Nothing was counted against the domain it claims: the genuine sender is not limited.
    assert post(client, genuine(dso[1]), address="198.51.100.7").status_code == 200


def test_a_refusal_never_echoes_unbounded_input(client, db):
    response = client.post(URL, data=b"<x/>", content_type="text/" + "x" * 100_000)
    assert response.status_code == 400
    assert len(response.content) < 1000


def _message_of_exactly(size: int, private_key: str) -> bytes:
    """A valid signed TestMessage of `size` bytes: the inner XML padded with a comment."""
    inner = codec.serialize(factories.test_message(sender=DSO))
    empty = codec.build_signed_message(
        sender_domain=DSO,
        sender_role="DSO",
        inner_xml=inner.replace(b"?>", b"?><!---->", 1),
        private_key=private_key,
    )
    # Body is base64 of (64 + inner): 4 bytes of it for every 3 bytes of padding.
    padding = (size - len(empty)) // 4 * 3
    padded = inner.replace(b"?>", b"?><!--" + b"x" * padding + b"-->", 1)
    body = codec.build_signed_message(
        sender_domain=DSO, sender_role="DSO", inner_xml=padded, private_key=private_key
    )
    assert 0 <= size - len(body) < 4
    return body + b" " * (size - len(body))  # whitespace after the root element is allowed


def test_a_valid_message_at_the_size_limit_is_accepted_and_one_byte_more_is_413(client, dso, settings):
    """libxml2 caps attribute values at 10,000,000 bytes, less than the default limit of 10 MiB:
    a valid message that fits the limit must not fail in the parser."""
    assert settings.CRO_MAX_MESSAGE_BYTES == 10 * 1024 * 1024
    body = _message_of_exactly(settings.CRO_MAX_MESSAGE_BYTES, dso[1])
    response = post(client, body)
    assert response.status_code == 200, response.content[:300]
    assert Message.objects.count() == 1
    response = post(client, body + b" ")
    assert response.status_code == 413
    assert Message.objects.count() == 1


@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le", "utf-32-be", "utf-32-le"])
@pytest.mark.parametrize("part", ["outer", "inner"])
def test_utf16_and_utf32_without_byte_order_mark_are_400_not_500(client, dso, encoding, part):
    """Such bytes are valid UTF-8 full of NULs; lxml reads them by the declaration (found by the fuzzer)."""

    def recoded(xml: bytes) -> bytes:
        text = xml.decode("utf-8").split("?>", 1)[-1]
        return f'<?xml version="1.0" encoding="{encoding}"?>{text}'.encode(encoding)

    inner = codec.serialize(factories.test_message(sender=DSO))
    if part == "inner":
        body = codec.build_signed_message(
            sender_domain=DSO, sender_role="DSO", inner_xml=recoded(inner), private_key=dso[1]
        )
    else:
        body = recoded(
            codec.build_signed_message(
                sender_domain=DSO, sender_role="DSO", inner_xml=inner, private_key=dso[1]
            )
        )
    response = post(client, body)
    assert response.status_code == 400, response.content[:300]
    assert Message.objects.count() == 0
