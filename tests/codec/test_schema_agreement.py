"""Our own v3 schema gives the same verdict as the official 3.0.0 and 3.1.0 XSDs."""

from __future__ import annotations

import pytest
from lxml import etree

from registry.uftp import codec, errors, schema
from tests.codec.corpus import BASES, CORPUS, INNER_TYPES
from tests.codec.oracle import OFFICIAL_VERSIONS, official_verdict, requires_official_xsd

CASE_IDS = [f"{index:03d} {case.name[:70]}" for index, case in enumerate(CORPUS)]


def test_corpus_is_broad():
    assert len(CORPUS) >= 60
    assert any(case.valid for case in CORPUS) and any(not case.valid for case in CORPUS)
    for tag in BASES:
        tagged = [case for case in CORPUS if case.root_tag == tag]
        assert any(case.valid for case in tagged), tag
        assert any(not case.valid for case in tagged), tag


@requires_official_xsd
@pytest.mark.parametrize("case", CORPUS, ids=CASE_IDS)
def test_same_verdict_as_official_xsd(case):
    ours = schema.is_valid(etree.fromstring(case.xml), major=3)
    official = {version: official_verdict(case.xml, version=version) for version in OFFICIAL_VERSIONS}
    for version, (valid, error) in official.items():
        assert valid == case.valid, f"official {version} says {valid}: {error}"
    assert ours == case.valid


@pytest.mark.parametrize(
    "case",
    [c for c in CORPUS if c.root_tag in INNER_TYPES or c.root_tag == "FlexOffer"],
    ids=lambda c: c.name[:70],
)
def test_codec_reads_exactly_the_valid_inner_messages(case):
    if case.valid:
        message = codec.parse_any(case.xml)
        assert message.message_type == case.root_tag
    else:
        with pytest.raises((errors.SchemaError, errors.UnsupportedMessageType)):
            codec.parse_any(case.xml)


@pytest.mark.parametrize(
    "case", [c for c in CORPUS if c.root_tag == "SignedMessage"], ids=lambda c: c.name[:70]
)
def test_envelope_parser_accepts_exactly_the_valid_signed_messages(case):
    if case.valid:
        envelope = codec.parse_signed_message(case.xml)
        assert envelope.sender_role in ("AGR", "CRO", "DSO")
    else:
        with pytest.raises(errors.EnvelopeError):
            codec.parse_signed_message(case.xml)
