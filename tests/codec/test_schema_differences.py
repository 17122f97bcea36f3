"""The two deliberate, documented differences between our v3 schema and the official XSD."""

from __future__ import annotations

from lxml import etree

from registry.uftp import codec, schema
from registry.uftp import messages as m
from tests.codec.corpus import BASES, U1, mutated, remove_all, set_attr
from tests.codec.oracle import OFFICIAL_VERSIONS, official_verdict, requires_official_xsd

SCHEMA_FILE = schema.schema_path(major=3)


def _official_valid(xml: bytes) -> dict[str, bool]:
    return {version: official_verdict(xml, version=version)[0] for version in OFFICIAL_VERSIONS}


def test_both_differences_are_documented_at_the_top_of_the_schema():
    head = SCHEMA_FILE.read_text(encoding="utf-8")[:4000]
    assert "(a) TestMessageResponse may carry an optional Result and RejectionReason" in head
    assert "(b) AGRPortfolioQueryResponse" in head


# (a) TestMessageResponse with Result / RejectionReason ------------------------------------


@requires_official_xsd
def test_difference_a_test_message_response_with_result_is_ours_only():
    accepted = mutated("TestMessageResponse", set_attr(".", "Result", "Accepted"))
    rejected = mutated(
        "TestMessageResponse",
        lambda root: (root.set("Result", "Rejected"), root.set("RejectionReason", "not today")),
    )
    for xml in (accepted, rejected):
        assert schema.is_valid(etree.fromstring(xml), major=3)
        assert _official_valid(xml) == {"3.0.0": False, "3.1.0": False}
    # ...and the codec keeps what the peer sent.
    message = codec.parse_message(rejected)
    assert isinstance(message, m.TestMessageResponse)
    assert message.result == m.Result.REJECTED
    assert message.rejection_reason == "not today"
    assert message.reference_message_id is None


def test_difference_a_does_not_extend_to_other_values_or_attributes():
    for mutation in (
        set_attr(".", "Result", "Success"),
        set_attr(".", "ReferenceMessageID", U1),
        set_attr(".", "TestMessageMessageID", U1),
    ):
        assert not schema.is_valid(etree.fromstring(mutated("TestMessageResponse", mutation)), major=3)


def test_we_never_send_result_on_a_3x_test_message_response():
    xml = BASES["TestMessageResponse"].encode()
    message = codec.parse_message(xml)
    sent = codec.serialize(
        m.TestMessageResponse(
            **{
                field: getattr(message, field)
                for field in (
                    "version",
                    "sender_domain",
                    "recipient_domain",
                    "time_stamp",
                    "message_id",
                    "conversation_id",
                )
            },
            reference_message_id=U1,
            result=m.Result.ACCEPTED,
        )
    )
    root = etree.fromstring(sent)
    assert "Result" not in root.attrib and "ReferenceMessageID" not in root.attrib


# (b) AGRPortfolioQueryResponse shapes the XSD cannot express -----------------------------


@requires_official_xsd
def test_difference_b_rejected_without_dso_view_is_ours_only():
    xml = mutated(
        "AGRPortfolioQueryResponse",
        lambda root: (
            root.set("Result", "Rejected"),
            root.set("RejectionReason", "No connections available"),
            remove_all(".", "DSO-View")(root),
        ),
    )
    assert schema.is_valid(etree.fromstring(xml), major=3)
    assert _official_valid(xml) == {"3.0.0": False, "3.1.0": False}
    message = codec.parse_any(xml)
    assert message.result == m.Result.REJECTED
    assert message.dso_portfolios == () and message.unallocated_connections == ()


@requires_official_xsd
def test_difference_b_dso_view_with_only_unallocated_connections_is_ours_only():
    xml = mutated("AGRPortfolioQueryResponse", remove_all("DSO-View", "DSO-Portfolio"))
    assert b"DSO-Portfolio" not in xml and b"<Connection" in xml
    assert schema.is_valid(etree.fromstring(xml), major=3)
    assert _official_valid(xml) == {"3.0.0": False, "3.1.0": False}
    message = codec.parse_any(xml)
    assert message.dso_portfolios == ()
    assert message.unallocated_connections == ("ean.100000000009",)


def test_difference_b_keeps_the_inner_cardinalities():
    # Only DSO-View and DSO-Portfolio became optional; their contents did not.
    for mutation in (
        remove_all("DSO-View/DSO-Portfolio", "CongestionPoint"),
        remove_all("DSO-View/DSO-Portfolio/CongestionPoint", "Connection"),
    ):
        xml = mutated("AGRPortfolioQueryResponse", mutation)
        assert not schema.is_valid(etree.fromstring(xml), major=3)
