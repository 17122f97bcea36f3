"""Serialization and parsing of the typed messages: shapes, spellings and value formats."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from lxml import etree

from registry.uftp import codec, errors
from registry.uftp import messages as m
from tests.codec.corpus import BASES
from tests.codec.samples import request_samples, response_samples

VERSIONS = ("3.0.0", "3.1.0")


def root_of(message: m.PayloadMessage) -> etree._Element:
    return etree.fromstring(codec.serialize(message))


# ------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(request_samples()))
def test_requests_round_trip(version, name):
    message = request_samples(version)[name]
    assert codec.parse_message(codec.serialize(message)) == message


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(response_samples("3.1.0")))
def test_responses_round_trip(version, name):
    message = response_samples(version)[name]
    parsed = codec.parse_any(codec.serialize(message))
    if isinstance(message, m.TestMessageResponse):
        # 3.x has no Result and no reference on TestMessageResponse: they do not travel.
        message = dataclasses.replace(message, result=None, reference_message_id=None)
    assert parsed == message


# ------------------------------------------------------------------------ serialization


def test_output_is_utf8_with_declaration_and_no_namespaces():
    xml = codec.serialize(response_samples("3.1.0")["DSOPortfolioUpdateResponse rejected"])
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<DSOPortfolioUpdateResponse ')
    assert b"xmlns" not in xml
    xml.decode("utf-8")


def test_non_ascii_rejection_reason_survives():
    message = dataclasses.replace(
        response_samples("3.1.0")["AGRPortfolioUpdateResponse rejected"],
        rejection_reason='Périod "out" <of> bounds & €',
    )
    assert codec.parse_any(codec.serialize(message)).rejection_reason == 'Périod "out" <of> bounds & €'


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("DSOPortfolioUpdateResponse accepted", "DSOPortfolioUpdateResponseMessageID"),
        ("DSOPortfolioQueryResponse rejected", "DSOPortfolioQueryMessageID"),
        ("AGRPortfolioUpdateResponse accepted", "AGRPortfolioUpdateMessageID"),
        ("AGRPortfolioQueryResponse rejected", "AGRPortfolioQueryMessageID"),
    ],
)
@pytest.mark.parametrize("version", VERSIONS)
def test_3x_reference_attribute_names(version, name, attribute):
    message = response_samples(version)[name]
    root = root_of(message)
    assert root.get(attribute) == message.reference_message_id
    assert root.get("ReferenceMessageID") is None
    assert root.get("Version") == version


def test_metadata_formats():
    root = root_of(request_samples()["DSOPortfolioUpdate"])
    assert root.get("TimeStamp") == "2024-05-01T10:00:00.123000+02:00"
    cp = root.find("CongestionPoint")
    assert cp.get("StartPeriod") == "2024-01-01" and cp.get("MutexOffersSupported") == "true"
    assert "EndPeriod" not in cp.attrib  # None is omitted, not written empty
    second = root.findall("CongestionPoint")[1]
    assert second.get("MutexOffersSupported") == "false" and "IntradayRedispatchBy" not in second.attrib


def test_utc_timestamp_keeps_an_offset():
    message = dataclasses.replace(
        request_samples()["TestMessage"], time_stamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    )
    assert root_of(message).get("TimeStamp") == "2024-01-01T00:00:00+00:00"


def test_naive_timestamp_is_refused():
    message = dataclasses.replace(request_samples()["TestMessage"], time_stamp=dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        codec.serialize(message)


def test_agr_query_response_accepted_has_one_dso_view_portfolios_first():
    root = root_of(response_samples("3.1.0")["AGRPortfolioQueryResponse portfolios and unallocated"])
    views = root.findall("DSO-View")
    assert len(views) == 1
    assert [child.tag for child in views[0]] == ["DSO-Portfolio", "DSO-Portfolio", "Connection"]
    assert views[0].find("DSO-Portfolio/CongestionPoint").get("IntradayRedispatchBy") == "AGR"


def test_agr_query_response_rejected_has_no_dso_view():
    root = root_of(response_samples("3.1.0")["AGRPortfolioQueryResponse rejected"])
    assert root.find("DSO-View") is None
    assert root.get("Result") == "Rejected" and root.get("RejectionReason") == "No connections available"


def test_agr_query_response_rejected_with_content_is_a_programming_error():
    message = dataclasses.replace(
        response_samples("3.1.0")["AGRPortfolioQueryResponse rejected"],
        unallocated_connections=("ean.100000000009",),
    )
    with pytest.raises(ValueError, match="Rejected"):
        codec.serialize(message)


def test_dso_query_response_has_at_most_one_congestion_point():
    with_cp = root_of(response_samples("3.1.0")["DSOPortfolioQueryResponse with congestion point"])
    assert len(with_cp.findall("CongestionPoint")) == 1
    assert [c.get("AGR-Domain") for c in with_cp.iter("Connection")] == ["agr-a.example.com", None]
    assert (
        root_of(response_samples("3.1.0")["DSOPortfolioQueryResponse without congestion point"]).find(
            "CongestionPoint"
        )
        is None
    )


def test_query_responses_copy_time_zone_and_period():
    root = root_of(response_samples("3.0.0")["DSOPortfolioQueryResponse rejected"])
    assert (root.get("TimeZone"), root.get("Period")) == ("Europe/Amsterdam", "2024-06-15")


def test_serialize_refuses_what_the_schema_refuses():
    message = dataclasses.replace(request_samples()["DSOPortfolioQuery"], entity_address="not-an-address")
    with pytest.raises(errors.SchemaError, match="EntityAddress"):
        codec.serialize(message)
    empty_cp = dataclasses.replace(
        response_samples("3.1.0")["DSOPortfolioQueryResponse with congestion point"],
        congestion_point=m.DSOQueryCongestionPoint(entity_address="ean.000000000001", connections=()),
    )
    with pytest.raises(errors.SchemaError):
        codec.serialize(empty_cp)


def test_serialize_needs_a_reference_on_responses():
    message = dataclasses.replace(
        response_samples("3.1.0")["AGRPortfolioUpdateResponse accepted"], reference_message_id=""
    )
    with pytest.raises(ValueError, match="reference_message_id"):
        codec.serialize(message)


def test_serialize_of_an_unknown_major_needs_an_explicit_profile():
    message = dataclasses.replace(
        response_samples("3.1.0")["DSOPortfolioUpdateResponse rejected"], version="5.0.0"
    )
    with pytest.raises(errors.UnsupportedVersion):
        codec.serialize(message)
    from registry.uftp import versions

    root = etree.fromstring(codec.serialize(message, profile=versions.profile_for("3.1.0")))
    assert root.get("Version") == "5.0.0" and root.get("DSOPortfolioUpdateResponseMessageID")


def test_signed_message_shape(cro_keys):
    inner = codec.serialize(response_samples("3.1.0")["TestMessage"])
    outer = codec.build_signed_message(
        sender_domain="cro.example.com", sender_role=m.Role.CRO, inner_xml=inner, private_key=cro_keys[0]
    )
    assert outer.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<SignedMessage ')
    root = etree.fromstring(outer)
    assert list(root.attrib) == ["SenderDomain", "SenderRole", "Body"]
    assert root.get("SenderRole") == "CRO" and len(root) == 0
    envelope = codec.parse_signed_message(outer)
    assert envelope.body[64:] == inner
    assert codec.open_body(envelope.body, [cro_keys[1]]) == inner


# ---------------------------------------------------------------------------- parsing


def _query_with(**attributes: str) -> bytes:
    root = etree.fromstring(BASES["AGRPortfolioQuery"].encode())
    for name, value in attributes.items():
        root.set(name, value)
    return etree.tostring(root)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00+02:00", dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
        ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        (
            "2024-05-01T10:00:00-05:30",
            dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30))),
        ),
        ("2024-05-01T10:00:00.123456789Z", dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)),
        ("2024-05-01T10:00:00.5Z", dt.datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=dt.UTC)),
        ("2024-12-31T24:00:00Z", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)),
        ("2024-05-01T10:00:00", dt.datetime(2024, 5, 1, 10)),  # no offset given: naive
    ],
)
def test_timestamp_parsing(text, expected):
    parsed = codec.parse_message(_query_with(TimeStamp=text)).time_stamp
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("2024-06-15Z", dt.date(2024, 6, 15)),
        ("2024-06-15-03:00", dt.date(2024, 6, 15)),
    ],
)
def test_period_parsing(text, expected):
    assert codec.parse_message(_query_with(Period=text)).period == expected


def test_dates_the_schema_allows_but_python_cannot_hold_are_schema_errors():
    for period in ("-0001-01-01", "10000-01-01"):
        with pytest.raises(errors.SchemaError, match="outside the dates"):
            codec.parse_message(_query_with(Period=period))


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)])
def test_boolean_parsing(text, expected):
    xml = BASES["DSOPortfolioUpdate"].replace('MutexOffersSupported="true"', f'MutexOffersSupported="{text}"')
    assert codec.parse_message(xml.encode()).congestion_points[0].mutex_offers_supported is expected


def test_parsed_update_is_fully_typed():
    message = codec.parse_message(BASES["DSOPortfolioUpdate"].encode())
    assert isinstance(message, m.DSOPortfolioUpdate)
    (cp,) = message.congestion_points
    assert cp.entity_address == "ean.000000000001"
    assert (cp.start_period, cp.end_period) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert (cp.day_ahead_redispatch_by, cp.intraday_redispatch_by) == (m.RedispatchBy.DSO, m.RedispatchBy.AGR)
    assert isinstance(cp.connections, tuple)
    assert [(c.entity_address, c.start_period, c.end_period) for c in cp.connections] == [
        ("ean.100000000001", dt.date(2024, 1, 1), dt.date(2024, 6, 30)),
        ("ea1.2024-01.example.com:conn-2", dt.date(2024, 2, 1), None),
    ]


def test_comments_and_whitespace_between_elements_are_ignored():
    xml = BASES["AGRPortfolioUpdate"].replace("<Connection", "<!-- note --><?pi x?>\n  <Connection", 1)
    assert len(codec.parse_message(xml.encode()).connections) == 2


def test_several_dso_views_are_merged():
    root = etree.fromstring(BASES["AGRPortfolioQueryResponse"].encode())
    root.append(etree.fromstring('<DSO-View><Connection EntityAddress="ean.100000000010"/></DSO-View>'))
    message = codec.parse_any(etree.tostring(root))
    assert message.unallocated_connections == ("ean.100000000009", "ean.100000000010")
    assert [p.dso_domain for p in message.dso_portfolios] == ["dso1.example.com"]
