"""Interop with the real peer library shapeshifter-uftp 2.4.0 (as DSOs and AGRs use it),
and validity of everything we send against the official XSD of its version."""

from __future__ import annotations

import datetime as dt

import pytest

pytest.importorskip("shapeshifter_uftp")

from shapeshifter_uftp import uftp as lib  # noqa: E402
from shapeshifter_uftp.exceptions import SchemaException  # noqa: E402
from shapeshifter_uftp.transport import from_xml, seal_message, to_xml, unseal_message  # noqa: E402
from xsdata.models.datatype import XmlDate  # noqa: E402

from registry.uftp import codec  # noqa: E402
from registry.uftp import messages as m  # noqa: E402
from tests.codec.oracle import official_verdict, requires_official_xsd  # noqa: E402
from tests.codec.samples import XSD_EXCEPTION_SHAPES, new_id, response_samples  # noqa: E402

VERSIONS = ("3.0.0", "3.1.0")
TIME_STAMP = "2024-05-01T10:00:00+02:00"


def lib_metadata(*, version: str, sender: str) -> dict:
    return {
        "version": version,
        "sender_domain": sender,
        "recipient_domain": "cro.example.com",
        "time_stamp": TIME_STAMP,
        "message_id": new_id(),
        "conversation_id": new_id(),
    }


def lib_messages(version: str) -> dict[str, tuple[str, object]]:
    """(sender role, library message) for every type a peer sends to a CRO."""
    dso = lib_metadata(version=version, sender="dso1.example.com")
    agr = lib_metadata(version=version, sender="agr-a.example.com")
    return {
        "DSOPortfolioUpdate": (
            "DSO",
            lib.DsoPortfolioUpdate(
                **dso,
                congestion_points=[
                    lib.DsoPortfolioUpdateCongestionPoint(
                        entity_address="ean.000000000001",
                        start_period=XmlDate(2024, 1, 1),
                        end_period=XmlDate(2024, 12, 31),
                        mutex_offers_supported=True,
                        day_ahead_redispatch_by=lib.RedispatchBy.DSO,
                        intraday_redispatch_by=lib.RedispatchBy.AGR,
                        connections=[
                            lib.DsoPortfolioUpdateConnection(
                                entity_address="ean.100000000001", start_period=XmlDate(2024, 1, 1)
                            ),
                            lib.DsoPortfolioUpdateConnection(
                                entity_address="ean.100000000002",
                                start_period=XmlDate(2024, 1, 1),
                                end_period=XmlDate(2024, 6, 30),
                            ),
                        ],
                    )
                ],
            ),
        ),
        "DSOPortfolioQuery": (
            "DSO",
            lib.DsoPortfolioQuery(**dso, period=XmlDate(2024, 7, 15), entity_address="ean.000000000001"),
        ),
        "AGRPortfolioUpdate": (
            "AGR",
            lib.AgrPortfolioUpdate(
                **agr,
                connections=[
                    lib.AgrPortfolioUpdateConnection(
                        entity_address="ean.100000000001", start_period=XmlDate(2024, 1, 1)
                    ),
                    lib.AgrPortfolioUpdateConnection(
                        entity_address="ea1.2024-01.example.com:c9",
                        start_period=XmlDate(2024, 5, 1),
                        end_period=XmlDate(2024, 12, 31),
                    ),
                ],
            ),
        ),
        "AGRPortfolioQuery": ("AGR", lib.AgrPortfolioQuery(**agr, period=XmlDate(2024, 6, 15))),
        "TestMessage": ("DSO", lib.TestMessage(**dso)),
        "TestMessageResponse": ("AGR", lib.TestMessageResponse(**agr)),
    }


def receive(outer_xml: bytes, public_key: str) -> tuple[codec.SignedEnvelope, m.PayloadMessage]:
    envelope = codec.parse_signed_message(outer_xml)
    return envelope, codec.parse_message(codec.open_body(envelope.body, [public_key]))


# ------------------------------------------------------------------- peer -> CRO


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", list(lib_messages("3.1.0")))
def test_we_read_what_the_peer_library_sends(version, name, peer_keys):
    private_key, public_key = peer_keys
    role, lib_message = lib_messages(version)[name]
    outer = to_xml(
        lib.SignedMessage(
            sender_domain=lib_message.sender_domain,
            sender_role=role,
            body=seal_message(lib_message, private_key),
        )
    ).encode("utf-8")

    envelope, message = receive(outer, public_key)

    assert (envelope.sender_domain, envelope.sender_role) == (lib_message.sender_domain, m.Role(role))
    assert message.message_type == name
    assert (message.version, message.sender_domain, message.recipient_domain) == (
        version,
        lib_message.sender_domain,
        "cro.example.com",
    )
    assert (message.message_id, message.conversation_id) == (
        lib_message.message_id,
        lib_message.conversation_id,
    )
    assert message.time_stamp == dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    check = CHECKS[name]
    check(message, lib_message)


def _check_dso_update(message: m.DSOPortfolioUpdate, sent) -> None:
    assert message.time_zone == "Europe/Amsterdam"
    (cp,) = message.congestion_points
    assert (cp.entity_address, cp.start_period, cp.end_period) == (
        "ean.000000000001",
        dt.date(2024, 1, 1),
        dt.date(2024, 12, 31),
    )
    assert cp.mutex_offers_supported is True
    assert (cp.day_ahead_redispatch_by, cp.intraday_redispatch_by) == (m.RedispatchBy.DSO, m.RedispatchBy.AGR)
    assert cp.connections == (
        m.ConnectionPeriod(entity_address="ean.100000000001", start_period=dt.date(2024, 1, 1)),
        m.ConnectionPeriod(
            entity_address="ean.100000000002",
            start_period=dt.date(2024, 1, 1),
            end_period=dt.date(2024, 6, 30),
        ),
    )


def _check_dso_query(message: m.DSOPortfolioQuery, sent) -> None:
    assert (message.time_zone, message.period, message.entity_address) == (
        "Europe/Amsterdam",
        dt.date(2024, 7, 15),
        "ean.000000000001",
    )


def _check_agr_update(message: m.AGRPortfolioUpdate, sent) -> None:
    assert message.connections == (
        m.ConnectionPeriod(entity_address="ean.100000000001", start_period=dt.date(2024, 1, 1)),
        m.ConnectionPeriod(
            entity_address="ea1.2024-01.example.com:c9",
            start_period=dt.date(2024, 5, 1),
            end_period=dt.date(2024, 12, 31),
        ),
    )


def _check_agr_query(message: m.AGRPortfolioQuery, sent) -> None:
    assert (message.time_zone, message.period) == ("Europe/Amsterdam", dt.date(2024, 6, 15))


def _check_test_message(message: m.TestMessage, sent) -> None:
    assert type(message) is m.TestMessage


def _check_test_message_response(message: m.TestMessageResponse, sent) -> None:
    # The library sends Result on a 3.x TestMessageResponse; we tolerate and keep it.
    assert message.result == m.Result.ACCEPTED
    assert message.reference_message_id is None


CHECKS = {
    "DSOPortfolioUpdate": _check_dso_update,
    "DSOPortfolioQuery": _check_dso_query,
    "AGRPortfolioUpdate": _check_agr_update,
    "AGRPortfolioQuery": _check_agr_query,
    "TestMessage": _check_test_message,
    "TestMessageResponse": _check_test_message_response,
}


def test_peer_library_test_message_response_carries_result(peer_keys):
    # The fact behind schema difference (a).
    _, lib_message = lib_messages("3.1.0")["TestMessageResponse"]
    assert ' Result="Accepted"' in to_xml(lib_message)


# ------------------------------------------------------------------- CRO -> peer


RESPONSE_NAMES = list(response_samples("3.1.0"))


def _sent_by_cro(message: m.PayloadMessage, cro_private_key: str) -> tuple[bytes, bytes]:
    inner = codec.serialize(message)
    outer = codec.build_signed_message(
        sender_domain="cro.example.com", sender_role=m.Role.CRO, inner_xml=inner, private_key=cro_private_key
    )
    return inner, outer


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", RESPONSE_NAMES)
def test_peer_library_verifies_and_reads_what_we_send(version, name, cro_keys):
    private_key, public_key = cro_keys
    message = response_samples(version)[name]
    _, outer = _sent_by_cro(message, private_key)

    signed = from_xml(outer)
    assert (signed.sender_domain, str(signed.sender_role)) == ("cro.example.com", "CRO")

    if name in XSD_EXCEPTION_SHAPES:
        # The library models the official XSD (≥1 DSO-View, ≥1 DSO-Portfolio) and refuses the
        # catalog shapes; the signature itself verified (else InvalidSignatureException).
        with pytest.raises(SchemaException, match="must be 1 or greater"):
            unseal_message(signed.body, public_key)
        return

    received = unseal_message(signed.body, public_key)
    assert type(received).__name__.lower() == message.message_type.lower()
    assert (received.version, received.message_id, received.conversation_id) == (
        version,
        message.message_id,
        message.conversation_id,
    )
    assert received.sender_domain == "cro.example.com"
    LIBRARY_CHECKS.get(message.message_type, lambda received, message: None)(received, message)


def _lib_check_response(received, message: m.PayloadResponse) -> None:
    assert str(received.result) == str(message.result)
    assert received.rejection_reason == message.rejection_reason


def _lib_check_dso_update_response(received, message) -> None:
    _lib_check_response(received, message)
    assert received.dso_portfolio_update_message_id == message.reference_message_id


def _lib_check_agr_update_response(received, message) -> None:
    _lib_check_response(received, message)
    assert received.agr_portfolio_update_message_id == message.reference_message_id


def _lib_check_dso_query_response(received, message) -> None:
    _lib_check_response(received, message)
    assert received.dso_portfolio_query_message_id == message.reference_message_id
    assert (received.time_zone, str(received.period)) == (message.time_zone, message.period.isoformat())
    if message.congestion_point is None:
        assert received.congestion_point is None
    else:
        assert received.congestion_point.entity_address == message.congestion_point.entity_address
        assert [(c.entity_address, c.agr_domain) for c in received.congestion_point.connections] == [
            (c.entity_address, c.agr_domain) for c in message.congestion_point.connections
        ]


def _lib_check_agr_query_response(received, message) -> None:
    _lib_check_response(received, message)
    assert received.agr_portfolio_query_message_id == message.reference_message_id
    (view,) = received.dso_views
    assert [p.dso_domain for p in view.dso_portfolios] == [p.dso_domain for p in message.dso_portfolios]
    assert [c.entity_address for c in view.connections] == list(message.unallocated_connections)
    first_cp = view.dso_portfolios[0].congestion_points[0]
    expected_cp = message.dso_portfolios[0].congestion_points[0]
    assert (first_cp.entity_address, first_cp.mutex_offers_supported) == (
        expected_cp.entity_address,
        expected_cp.mutex_offers_supported,
    )
    assert [c.entity_address for c in first_cp.connections] == list(expected_cp.connections)


LIBRARY_CHECKS = {
    "DSOPortfolioUpdateResponse": _lib_check_dso_update_response,
    "AGRPortfolioUpdateResponse": _lib_check_agr_update_response,
    "DSOPortfolioQueryResponse": _lib_check_dso_query_response,
    "AGRPortfolioQueryResponse": _lib_check_agr_query_response,
}


@requires_official_xsd
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", RESPONSE_NAMES)
def test_what_we_send_is_valid_against_the_official_xsd(version, name, cro_keys):
    inner, outer = _sent_by_cro(response_samples(version)[name], cro_keys[0])
    inner_valid, error = official_verdict(inner, version=version)
    if name in XSD_EXCEPTION_SHAPES:
        # The documented exception (cro-rules §6): the XSD cannot express this shape.
        assert not inner_valid
        assert "DSO-View" in error or "DSO-Portfolio" in error or "Missing child" in error
    else:
        assert inner_valid, error
    assert official_verdict(outer, version=version)[0]


def test_signature_from_the_library_with_a_key_we_generated_interoperates(peer_keys):
    # Same key format both ways: our base64 64-byte private key signs for the library too.
    _, lib_message = lib_messages("3.1.0")["TestMessage"]
    body = seal_message(lib_message, peer_keys[0])
    assert codec.open_body(body, [peer_keys[1]]).startswith(b"<?xml")
