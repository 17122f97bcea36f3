"""Bad input at every layer raises its own error class with a clear message, never a crash."""

from __future__ import annotations

import base64

import pytest

from registry.uftp import codec, errors
from registry.uftp import messages as m
from tests.codec.corpus import BASES
from tests.codec.samples import request_samples
from tests.codec.test_xmlsafe import BILLION_LAUGHS, external_entity


def signed(inner_xml: bytes, private_key: str, *, role: str = "DSO") -> bytes:
    return codec.build_signed_message(
        sender_domain="dso1.example.com", sender_role=role, inner_xml=inner_xml, private_key=private_key
    )


def envelope_with_body(body: str) -> bytes:
    return f'<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="{body}"/>'.encode()


# ----------------------------------------------------------------------------- signature


def test_wrong_key_gives_signature_error(peer_keys, cro_keys):
    envelope = codec.parse_signed_message(signed(b"<TestMessage/>", peer_keys[0]))
    with pytest.raises(errors.SignatureError, match="does not verify with any of the sender's 1 public key"):
        codec.open_body(envelope.body, [cro_keys[1]])


def test_any_of_two_keys_verifies_during_rotation(peer_keys, cro_keys):
    envelope = codec.parse_signed_message(signed(b"<TestMessage/>", peer_keys[0]))
    assert codec.open_body(envelope.body, [cro_keys[1], peer_keys[1]]) == b"<TestMessage/>"
    assert codec.open_body(envelope.body, peer_keys[1]) == b"<TestMessage/>"  # a bare key


def test_tampered_body_gives_signature_error(peer_keys):
    body = bytearray(codec.seal(b"<TestMessage/>", peer_keys[0]))
    body[-2] ^= 1
    with pytest.raises(errors.SignatureError):
        codec.open_body(bytes(body), [peer_keys[1]])


@pytest.mark.parametrize("length", [0, 1, 63])
def test_truncated_body_gives_signature_error(length, peer_keys):
    body = codec.seal(b"<TestMessage/>", peer_keys[0])[:length]
    with pytest.raises(errors.SignatureError, match="truncated"):
        codec.open_body(body, [peer_keys[1]])


def test_signature_only_or_cut_message_does_not_verify(peer_keys):
    body = codec.seal(b"<TestMessage/>", peer_keys[0])
    for cut in (body[:64], body[:-1]):
        with pytest.raises(errors.SignatureError):
            codec.open_body(cut, [peer_keys[1]])


def test_no_keys_gives_signature_error(peer_keys):
    with pytest.raises(errors.SignatureError, match="no public key"):
        codec.open_body(codec.seal(b"<TestMessage/>", peer_keys[0]), [])


@pytest.mark.parametrize(
    "bad_key",
    [
        base64.b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 33).decode(),
        "not base64!",
        "",
        "cs1.AAAA",
    ],
)
def test_malformed_public_key_gives_key_format_error(bad_key, peer_keys):
    with pytest.raises(errors.KeyFormatError):
        codec.open_body(codec.seal(b"<TestMessage/>", peer_keys[0]), [bad_key])


@pytest.mark.parametrize(
    "bad_key", [base64.b64encode(b"\x01" * 32).decode(), "%%%", base64.b64encode(b"\x01" * 64).decode()]
)
def test_malformed_private_key_gives_key_format_error(bad_key):
    with pytest.raises(errors.KeyFormatError):
        codec.seal(b"<TestMessage/>", bad_key)


# ------------------------------------------------------------------------------ envelope


@pytest.mark.parametrize("body", ["!!!!", "SGVsbG8", "SGVsbG9=", "SGVs!G8=", "SGVsbG8=SGVs", "Zm9v\u00e9"])
def test_non_base64_body_gives_envelope_error(body):
    with pytest.raises(errors.EnvelopeError, match="Body is not"):
        codec.parse_signed_message(envelope_with_body(body))


def test_base64_body_with_xml_whitespace_is_accepted():
    assert codec.parse_signed_message(envelope_with_body("SGVs bG8=")).body == b"Hello"


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"<TestMessage/>", "root element must be SignedMessage"),
        (b'<SignedMessage SenderRole="DSO" Body="SGVsbG8="/>', "lacks attribute(s): SenderDomain"),
        (b'<SignedMessage SenderDomain="a.example.com" Body="SGVsbG8="/>', "lacks attribute(s): SenderRole"),
        (b'<SignedMessage SenderDomain="a.example.com" SenderRole="DSO"/>', "lacks attribute(s): Body"),
        (
            b'<SignedMessage SenderDomain="a.example.com" SenderRole="DSO" Body="" Extra="1"/>',
            "unexpected attribute(s): Extra",
        ),
        (
            b'<SignedMessage SenderDomain="A.example.com" SenderRole="DSO" Body=""/>',
            "not a lower-case internet domain",
        ),
        (
            b'<SignedMessage SenderDomain="a.example.com" SenderRole="BRP" Body=""/>',
            "not one of AGR, CRO, DSO",
        ),
        (
            b'<SignedMessage SenderDomain="a.example.com" SenderRole="DSO" Body=""><x/></SignedMessage>',
            "child elements",
        ),
        (
            b'<SignedMessage SenderDomain="a.example.com" SenderRole="DSO" Body="">x</SignedMessage>',
            "text content",
        ),
        (
            b'<SignedMessage xmlns="urn:x" SenderDomain="a.example.com" SenderRole="DSO" Body=""/>',
            "namespace",
        ),
    ],
)
def test_bad_envelope_gives_envelope_error(xml, reason):
    with pytest.raises(errors.EnvelopeError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        codec.parse_signed_message(xml)


def test_envelope_with_billion_laughs_gives_xml_security_error():
    with pytest.raises(errors.XMLSecurityError):
        codec.parse_signed_message(BILLION_LAUGHS.replace(b"TestMessage", b"SignedMessage"))


def test_oversized_envelope_gives_xml_security_error():
    with pytest.raises(errors.XMLSecurityError):
        codec.parse_signed_message(envelope_with_body("QUFB" * 1000), max_bytes=1000)


def test_malformed_envelope_gives_malformed_xml_error():
    with pytest.raises(errors.MalformedXMLError):
        codec.parse_signed_message(b"<SignedMessage")


def test_build_signed_message_refuses_a_bad_sender(peer_keys):
    with pytest.raises(errors.EnvelopeError):
        signed(b"<TestMessage/>", peer_keys[0], role="BRP")
    with pytest.raises(errors.EnvelopeError):
        codec.build_signed_message(
            sender_domain="CRO", sender_role="CRO", inner_xml=b"<a/>", private_key=peer_keys[0]
        )


# ------------------------------------------------------------------------- inner message


def test_inner_billion_laughs_and_external_entities_give_xml_security_error(no_network):
    for xml in (
        BILLION_LAUGHS,
        external_entity("file:///etc/passwd"),
        external_entity("http://127.0.0.1:9/x"),
    ):
        with pytest.raises(errors.XMLSecurityError):
            codec.parse_message(xml)


def test_inner_malformed_gives_malformed_xml_error():
    with pytest.raises(errors.MalformedXMLError):
        codec.parse_message(b"<TestMessage")


def test_inner_oversized_gives_xml_security_error():
    with pytest.raises(errors.XMLSecurityError):
        codec.parse_message(BASES["TestMessage"].encode(), max_bytes=50)


@pytest.mark.parametrize(
    "tag",
    [
        "DSOPortfolioUpdateResponse",
        "DSOPortfolioQueryResponse",
        "AGRPortfolioUpdateResponse",
        "AGRPortfolioQueryResponse",
    ],
)
def test_responses_are_not_received(tag):
    with pytest.raises(errors.UnsupportedMessageType, match="never receives"):
        codec.parse_message(BASES[tag].encode())


@pytest.mark.parametrize("tag", ["FlexOffer", "FlexRequest", "Metering", "Anything"])
def test_non_cro_messages_are_unsupported(tag):
    with pytest.raises(errors.UnsupportedMessageType, match="not a message type a CRO handles"):
        codec.parse_message(BASES["TestMessage"].replace("TestMessage", tag).encode())


def test_namespaced_inner_message_is_a_schema_error():
    for xml in (
        BASES["TestMessage"].replace("<TestMessage", '<TestMessage xmlns="urn:example"'),
        BASES["TestMessage"].replace("<TestMessage", '<TestMessage xmlns:x="urn:example" x:Note="1"'),
        BASES["AGRPortfolioUpdate"].replace("<Connection", '<x:Connection xmlns:x="urn:example"', 1),
    ):
        with pytest.raises(errors.SchemaError, match="namespace"):
            codec.parse_message(xml.encode())


def test_schema_error_message_names_the_problem():
    xml = BASES["DSOPortfolioQuery"].replace('EntityAddress="ean.000000000001"', 'EntityAddress="ean.1"')
    with pytest.raises(errors.SchemaError) as caught:
        codec.parse_message(xml.encode())
    assert "EntityAddress" in str(caught.value) and "3.x schema" in str(caught.value)


def test_unsupported_version_still_parses_for_the_worker_to_reject():
    for version in ("3.9.0", "4.0.0", "5.0.0", "2.0.0"):
        message = codec.parse_message(
            BASES["AGRPortfolioQuery"].replace('Version="3.1.0"', f'Version="{version}"').encode()
        )
        assert message.version == version


def test_path_major_without_schema_gives_unsupported_version():
    xml = BASES["AGRPortfolioQuery"].replace('Version="3.1.0"', 'Version="5.0.0"').encode()
    with pytest.raises(errors.UnsupportedVersion):
        codec.parse_message(xml, path_major=5)
    # A 3.x message validates against the 3.x schema whatever the path says.
    assert codec.parse_message(BASES["AGRPortfolioQuery"].encode(), path_major=5).version == "3.1.0"


def test_every_codec_error_is_a_uftp_error():
    for cls in (
        errors.KeyFormatError,
        errors.XMLSecurityError,
        errors.MalformedXMLError,
        errors.EnvelopeError,
        errors.SignatureError,
        errors.SchemaError,
        errors.UnsupportedMessageType,
        errors.UnsupportedVersion,
    ):
        assert issubclass(cls, errors.UFTPError)


def test_full_inbound_pipeline(peer_keys):
    message = request_samples()["DSOPortfolioUpdate"]
    envelope = codec.parse_signed_message(signed(codec.serialize(message), peer_keys[0]))
    assert (envelope.sender_domain, envelope.sender_role) == ("dso1.example.com", m.Role.DSO)
    assert codec.parse_message(codec.open_body(envelope.body, [peer_keys[1]])) == message
