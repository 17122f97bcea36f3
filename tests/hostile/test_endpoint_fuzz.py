"""Fuzzing the UFTP endpoint with hostile input (issue 15): mutated signed messages through
Django's test client. Whatever arrives, the answer is never a server error (the test client
re-raises any exception the view lets escape), a refusal stores nothing and echoes little.

Bounded for CI: a fixed number of examples per strategy and no example database, so a run
takes a minute or two and leaves no files behind.
"""

import base64
import re

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.models import Message
from registry.uftp import codec
from tests import factories

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"
ANSWERS = {200, 400, 401, 411, 413}
MAX_REFUSAL_BYTES = 1000

fuzz = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dso(make_participant):
    return make_participant(DSO, "DSO")


def inner_xml() -> bytes:
    return codec.serialize(factories.test_message(sender=DSO))


def sign(inner: bytes, private_key: str) -> bytes:
    return codec.build_signed_message(
        sender_domain=DSO, sender_role="DSO", inner_xml=inner, private_key=private_key
    )


def check(client, body: bytes, *, content_type: str = "text/xml; charset=utf-8", **extra) -> int:
    """POST `body`; the answer is a known status, and a refusal stored nothing."""
    before = Message.objects.count()
    # The header goes in as is: given as content_type, the test client would re-encode the body
    # to the charset it names (and fail on a bogus one) before the view sees it.
    response = client.post(
        URL, data=body, content_type="application/octet-stream", CONTENT_TYPE=content_type, **extra
    )
    assert response.status_code in ANSWERS, (response.status_code, response.content[:300])
    if response.status_code == 200:
        assert Message.objects.count() == before + 1
    else:
        assert Message.objects.count() == before, response.content[:300]
        assert len(response.content) <= MAX_REFUSAL_BYTES
    return response.status_code


def flip_bits(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    mutable = bytearray(data)
    for position, bit in flips:
        mutable[position % len(mutable)] ^= 1 << bit
    return bytes(mutable)


flips = st.lists(
    st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=7)), min_size=1, max_size=8
)


@fuzz
@given(flips=flips)
def test_bit_flips_in_the_signed_message(client, dso, flips):
    check(client, flip_bits(sign(inner_xml(), dso[1]), flips))


@fuzz
@given(flips=flips)
def test_bit_flips_in_the_inner_message_signed_by_the_sender(client, dso, flips):
    """The signature holds, so the inner XML parser and schema meet the mutation."""
    check(client, sign(flip_bits(inner_xml(), flips), dso[1]))


@fuzz
@given(cut=st.floats(min_value=0, max_value=1, exclude_max=True), inner=st.booleans())
def test_truncation(client, dso, cut, inner):
    if inner:
        xml = inner_xml()
        check(client, sign(xml[: int(len(xml) * cut)], dso[1]))
    else:
        body = sign(inner_xml(), dso[1])
        check(client, body[: int(len(body) * cut)])


ATTRIBUTE = st.sampled_from(["SenderDomain", "SenderRole", "Body"])
HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(lambda text: text * 7),
    st.sampled_from(
        ["", " ", "&amp;", "&#0;", "&#x202E;", "&lt;x/&gt;", "DSO\u202e", "dso1.example.com\x00"]
    ),
)


def _set_attribute(body: bytes, name: str, value: bytes) -> bytes:
    return re.sub(rf'{name}="[^"]*"'.encode(), lambda _: f'{name}="'.encode() + value + b'"', body, count=1)


@fuzz
@given(name=ATTRIBUTE, value=HOSTILE_TEXT)
def test_attribute_values(client, dso, name, value):
    escaped = value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    body = _set_attribute(sign(inner_xml(), dso[1]), name, escaped.encode("utf-8", "surrogatepass"))
    check(client, body)


@settings(fuzz, max_examples=12)
@given(
    name=ATTRIBUTE,
    size=st.sampled_from([254, 10_000, 1_000_000, 9_000_000, 10_000_001, 11_000_000]),
    char=st.sampled_from(["a", "A", "é", "\u202e", "=", "."]),
)
def test_huge_attribute_values(client, dso, name, size, char):
    check(client, _set_attribute(sign(inner_xml(), dso[1]), name, (char * size).encode()))


ENCODINGS = st.sampled_from(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252", "utf-8-sig"])


@fuzz
@given(encoding=ENCODINGS, declared=st.booleans(), outer=st.booleans(), extra=st.text(max_size=20))
def test_wrong_encodings(client, dso, encoding, declared, outer, extra):
    def encode(xml: bytes) -> bytes:
        text = xml.decode("utf-8")
        text = re.sub(r"^<\?xml[^>]*\?>", "", text)
        if declared:
            text = f'<?xml version="1.0" encoding="{encoding}"?>' + text
        return (text.replace("/>", f"/><!--{extra.replace('-', '')}-->", 1)).encode(encoding, "replace")

    if outer:
        check(client, encode(sign(inner_xml(), dso[1])))
    else:
        check(client, sign(encode(inner_xml()), dso[1]))


STRUCTURES = st.sampled_from(
    [
        lambda body: body.replace(b"/>", b"><SignedMessage/></SignedMessage>", 1),
        lambda body: body.replace(b"/>", b">" + body + b"</SignedMessage>", 1),
        lambda body: body + body,
        lambda body: b"<Wrapper>" + body + b"</Wrapper>",
        lambda body: body.replace(b'SenderRole="DSO"', b'SenderRole="DSO" SenderRole="AGR"', 1),
        lambda body: body.replace(b'SenderRole="DSO"', b'SenderRole="DSO" Extra="1"', 1),
        lambda body: body.replace(b"<SignedMessage", b'<SignedMessage xmlns="urn:x"', 1),
        lambda body: body.replace(b"/>", b">text</SignedMessage>", 1),
        lambda body: b'<?xml version="1.0"?><!DOCTYPE SignedMessage SYSTEM "http://127.0.0.1:9/x">' + body,
        lambda body: b'<?xml-stylesheet href="x"?>' + body,
        lambda body: b"\xef\xbb\xbf" + body,
        lambda body: b"  \n" + body + b"\n  ",
    ]
)
INNER_STRUCTURES = st.sampled_from(
    [
        lambda xml: xml.replace(b"/>", b"><TestMessage/></TestMessage>", 1),
        lambda xml: xml + xml,
        lambda xml: re.sub(rb'(Version="[^"]*")', rb"\1 \1", xml, count=1),
        lambda xml: xml.replace(b"<TestMessage", b'<TestMessage xmlns="http://example.com/x"', 1),
        lambda xml: xml.replace(b"<TestMessage", b"<TestMessage" + b" A=''" * 2, 1),
        lambda xml: xml.replace(b"TestMessage", b"DSOPortfolioQuery", 1),
        lambda xml: b'<!DOCTYPE x [<!ENTITY a "' + b"a" * 100 + b'">]>' + xml,
    ]
)


@fuzz
@given(outer=st.lists(STRUCTURES, max_size=3), inner=st.lists(INNER_STRUCTURES, max_size=3))
def test_nested_and_duplicated_elements(client, dso, outer, inner):
    xml = inner_xml()
    for mutate in inner:
        xml = mutate(xml)
    body = sign(xml, dso[1])
    for mutate in outer:
        body = mutate(body)
    check(client, body)


@fuzz
@given(
    content_type=st.one_of(
        st.sampled_from(
            [
                "",
                "text/xml; charset=utf-16",
                "text/xml; charset=",
                "text/xml; charset=utf-8; charset=latin-1",
                "TEXT/XML",
                "application/soap+xml",
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
                "text/xml; charset=" + "u" * 5000,
            ]
        ),
        st.text(max_size=100).filter(lambda text: "\n" not in text and "\r" not in text),
    ),
    content_length=st.one_of(
        st.none(),
        st.sampled_from(["", " ", "-1", "abc", "1e3", "0x10", "99999999999999999999", "+5", "٣"]),
        st.floats(min_value=0, max_value=1).map(lambda share: share),
    ),
)
def test_content_type_and_length(client, dso, content_type, content_length):
    body = sign(inner_xml(), dso[1])
    extra = {}
    if isinstance(content_length, float):  # a length that cuts the body short
        extra["CONTENT_LENGTH"] = str(int(len(body) * content_length))
    elif content_length is not None:
        extra["CONTENT_LENGTH"] = content_length
    check(client, body, content_type=content_type, **extra)


def test_the_unmutated_message_is_accepted(client, dso):
    """The fuzzers start from a message the endpoint accepts: their refusals are the mutation's."""
    assert check(client, sign(inner_xml(), dso[1])) == 200
    assert base64.b64decode(re.search(rb'Body="([^"]*)"', sign(inner_xml(), dso[1])).group(1))
