"""4.0.0, the spec's head: our v4 schema agrees with xsd/latest, and what the CRO builds in
4.0.0 is valid against it (the one documented AGRPortfolioQueryResponse shape aside)."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

from registry.uftp import codec, errors, keys, schema, versions
from registry.uftp import messages as m
from tests.codec.corpus_v4 import BASES_V4, CORPUS_V4, REFERENCE, V3_REFERENCES
from tests.codec.oracle import HEAD_XSD, official_verdict, requires_official_xsd
from tests.codec.samples import XSD_EXCEPTION_SHAPES, new_id, request_samples, response_samples

CASE_IDS = [f"{index:03d} {case.name[:70]}" for index, case in enumerate(CORPUS_V4)]
SCHEMA_FILE = schema.schema_path(major=4)


def test_corpus_is_broad():
    assert len(CORPUS_V4) >= 300
    for tag in BASES_V4:
        tagged = [case for case in CORPUS_V4 if case.root_tag == tag]
        assert any(case.valid for case in tagged), tag
        assert any(not case.valid for case in tagged), tag


@requires_official_xsd
@pytest.mark.parametrize("case", CORPUS_V4, ids=CASE_IDS)
def test_same_verdict_as_the_official_head_xsd(case):
    valid, error = official_verdict(case.xml, version=HEAD_XSD)
    assert valid == case.valid, f"official {HEAD_XSD} says {valid}: {error}"
    assert schema.is_valid(etree.fromstring(case.xml), major=4) == case.valid


def _read_with_the_v4_schema(case) -> bool:
    # The codec picks the schema by the message's own Version; a 3.x Version is read as 3.x.
    root = etree.fromstring(case.xml)
    return versions.major_of(root.get("Version")) in (4, None)


@pytest.mark.parametrize(
    "case",
    [c for c in CORPUS_V4 if c.root_tag != "SignedMessage" and _read_with_the_v4_schema(c)],
    ids=lambda c: c.name[:70],
)
def test_codec_reads_exactly_the_valid_inner_messages(case):
    if case.valid:
        message = codec.parse_any(case.xml, path_major=4)
        assert message.message_type == case.root_tag
    else:
        with pytest.raises((errors.SchemaError, errors.UnsupportedMessageType)):
            codec.parse_any(case.xml, path_major=4)


def test_the_head_is_4_0_0_at_its_own_path():
    profile = versions.profile_for("4.0.0")
    assert (profile.major, profile.schema_set) == (4, "v4")
    assert versions.endpoint_path(4) == "/shapeshifter/api/v4/message"
    assert profile.test_response_has_result_and_reference is True
    for name in (*V3_REFERENCES, "TestMessageResponse"):
        assert profile.reference_attribute(name) == REFERENCE


def test_the_only_difference_is_documented_at_the_top_of_the_schema():
    head = SCHEMA_FILE.read_text(encoding="utf-8")[:4000]
    assert "(b) AGRPortfolioQueryResponse" in head
    assert "ReferenceMessageID" in head and "offset" in head


# ----------------------------------------------------------------------- what we send


@requires_official_xsd
@pytest.mark.parametrize("name", list(response_samples("4.0.0")))
def test_what_we_send_in_4_0_0_is_valid_against_xsd_latest(name, cro_keys):
    message = response_samples("4.0.0")[name]
    inner = codec.serialize(message)
    valid, error = official_verdict(inner, version=HEAD_XSD)
    if name in XSD_EXCEPTION_SHAPES:
        # The documented exception (cro-rules §6): the XSD cannot express this shape.
        assert not valid
        assert "DSO-View" in error or "DSO-Portfolio" in error
        assert schema.is_valid(etree.fromstring(inner), major=4)
    else:
        assert valid, error
    outer = codec.build_signed_message(
        sender_domain="cro.example.com", sender_role=m.Role.CRO, inner_xml=inner, private_key=cro_keys[0]
    )
    assert official_verdict(outer, version=HEAD_XSD)[0]
    # ...and it opens with the CRO's public key and reads back as what was sent.
    envelope = codec.parse_signed_message(outer)
    opened = codec.open_body(envelope.body, [keys.public_key_from_private(cro_keys[0])])
    assert codec.parse_any(opened, path_major=4) == message


@pytest.mark.parametrize("name", [n for n in response_samples("4.0.0") if n != "TestMessage"])
def test_every_4_0_0_response_carries_result_and_reference_message_id(name):
    message = response_samples("4.0.0")[name]
    root = etree.fromstring(codec.serialize(message))
    assert root.get("Version") == "4.0.0"
    assert root.get(REFERENCE) == message.reference_message_id
    assert root.get("Result") == str(message.result)
    assert not set(root.attrib) & set(V3_REFERENCES.values())
    assert root.get("TimeStamp").endswith("+02:00")


def test_rejected_4_0_0_test_message_response_carries_its_reason():
    message = dataclasses.replace(
        response_samples("4.0.0")["TestMessageResponse"],
        result=m.Result.REJECTED,
        rejection_reason="Barred Sender",
    )
    root = etree.fromstring(codec.serialize(message))
    assert (root.get("Result"), root.get("RejectionReason")) == ("Rejected", "Barred Sender")


def test_a_4_0_0_test_message_response_needs_its_reference():
    message = dataclasses.replace(response_samples("4.0.0")["TestMessageResponse"], reference_message_id=None)
    with pytest.raises(ValueError, match="reference_message_id"):
        codec.serialize(message)


def test_a_4_0_0_time_stamp_needs_an_offset():
    message = response_samples("4.0.0")["TestMessage"]
    naive = dataclasses.replace(message, time_stamp=message.time_stamp.replace(tzinfo=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        codec.serialize(naive)


# ----------------------------------------------------------------------- what we read


def test_requests_round_trip_in_4_0_0(peer_keys):
    for name, message in request_samples("4.0.0").items():
        if name == "TestMessageResponse":
            continue
        inner = codec.serialize(message)
        signed = codec.build_signed_message(
            sender_domain=message.sender_domain, sender_role="DSO", inner_xml=inner, private_key=peer_keys[0]
        )
        body = codec.open_body(codec.parse_signed_message(signed).body, [peer_keys[1]])
        assert codec.parse_message(body, path_major=4) == message, name


def test_a_peers_4_0_0_test_message_response_is_read_with_its_reference():
    reference = new_id()
    xml = (
        BASES_V4["TestMessageResponse"]
        .replace('Result="Accepted"', 'Result="Rejected" RejectionReason="busy"')
        .replace(f'{REFERENCE}="0b7e4a5c-1d2e-4f30-8a41-5b6c7d8e9f01"', f'{REFERENCE}="{reference}"')
    )
    message = codec.parse_message(xml.encode(), path_major=4)
    assert isinstance(message, m.TestMessageResponse)
    assert (message.reference_message_id, message.result, message.rejection_reason) == (
        reference,
        m.Result.REJECTED,
        "busy",
    )


def test_a_4_0_0_time_stamp_without_offset_is_a_schema_error():
    xml = BASES_V4["TestMessage"].replace("2024-05-01T10:00:00+02:00", "2024-05-01T10:00:00")
    with pytest.raises(errors.SchemaError, match="TimeStamp"):
        codec.parse_message(xml.encode(), path_major=4)
    # The same message in 3.1.0 is fine: 3.x allows a TimeStamp without offset.
    assert codec.parse_message(xml.replace('"4.0.0"', '"3.1.0"').encode(), path_major=3)


def test_a_message_is_read_with_the_schema_of_its_own_version_whatever_the_path():
    # So a Version that does not match the path still parses and the worker rejects it (§3.4).
    v3 = BASES_V4["AGRPortfolioQuery"].replace('"4.0.0"', '"3.1.0"').encode()
    assert codec.parse_message(v3, path_major=4).version == "3.1.0"
    assert codec.parse_message(BASES_V4["AGRPortfolioQuery"].encode(), path_major=3).version == "4.0.0"
    v3_response = BASES_V4["DSOPortfolioUpdateResponse"].replace('"4.0.0"', '"3.1.0"').encode()
    with pytest.raises(errors.SchemaError):
        codec.parse_any(v3_response, path_major=4)
