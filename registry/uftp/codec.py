"""UFTP wire format: SignedMessage envelope, NaCl signatures, inner XML <-> typed messages.

Incoming:  parse_signed_message -> open_body -> parse_message (requests, TestMessageResponse).
Outgoing:  serialize -> build_signed_message (seal + SignedMessage wrapper).
Every version-specific spelling comes from `versions.py`; no namespaces are ever used.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lxml import etree
from nacl.bindings import crypto_sign, crypto_sign_BYTES, crypto_sign_open
from nacl.exceptions import CryptoError

from . import messages as m
from .errors import EnvelopeError, SchemaError, SignatureError, UnsupportedMessageType
from .keys import decode_private_key, decode_public_key
from .schema import validate
from .versions import SCHEMA_SETS, VersionProfile, major_of, resolve_profile, schema_major_for_path
from .vocabulary import INTERNET_DOMAIN_RE as _INTERNET_DOMAIN
from .xmlsafe import DEFAULT_MAX_BYTES, parse_xml

SIGNATURE_BYTES = crypto_sign_BYTES  # 64: Ed25519 signature in front of the signed message
SIGNED_MESSAGE_TAG = "SignedMessage"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_SIGNED_MESSAGE_ATTRIBUTES = frozenset({"SenderDomain", "SenderRole", "Body"})

# Same patterns as the schema; Python needs them for the envelope, which is checked by hand
# so every failure gets its own clear EnvelopeError.
_XML_WHITESPACE = re.compile(r"[ \t\r\n]+")
_XSD_DATE = re.compile(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")
_XSD_DATETIME = re.compile(
    r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|([+-])([0-9]{2}):([0-9]{2}))?"
)

RESPONSE_TYPES: Mapping[str, type[m.PayloadMessage]] = MappingProxyType(
    {
        cls.message_type: cls
        for cls in (
            m.DSOPortfolioUpdateResponse,
            m.DSOPortfolioQueryResponse,
            m.AGRPortfolioUpdateResponse,
            m.AGRPortfolioQueryResponse,
            m.TestMessageResponse,
        )
    }
)
# Everything this codec reads or writes: what the CRO receives plus what it sends.
ALL_MESSAGE_TYPES: Mapping[str, type[m.PayloadMessage]] = MappingProxyType(
    {**m.REQUEST_TYPES, **RESPONSE_TYPES}
)


@dataclass(frozen=True, kw_only=True)
class SignedEnvelope:
    """The outer SignedMessage: who claims to send, and the still-signed Body bytes."""

    sender_domain: str
    sender_role: m.Role
    body: bytes  # base64-decoded: 64-byte signature + inner XML


# ============================================================================ envelope


def _check_sender(*, sender_domain: object, sender_role: object) -> m.Role:
    if not isinstance(sender_domain, str) or not _INTERNET_DOMAIN.fullmatch(sender_domain):
        raise EnvelopeError(
            f"SignedMessage SenderDomain {sender_domain!r} is not a lower-case internet domain"
        )
    try:
        return m.Role(str(sender_role))
    except ValueError:
        raise EnvelopeError(f"SignedMessage SenderRole {sender_role!r} is not one of AGR, CRO, DSO") from None


def _decode_base64_body(value: str) -> bytes:
    # xs:base64Binary tolerates XML whitespace between characters; nothing else is lenient.
    compact = _XML_WHITESPACE.sub("", value)
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise EnvelopeError("SignedMessage Body is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != compact:
        raise EnvelopeError("SignedMessage Body is not canonical base64 (padding or final bits)")
    return raw


def parse_signed_message(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> SignedEnvelope:
    """Parse the outer `<SignedMessage SenderDomain SenderRole Body/>` of an HTTP body.

    XMLSecurityError / MalformedXMLError from the XML itself, EnvelopeError for a wrong
    shape, attribute or base64 Body.
    """
    root = parse_xml(data, max_bytes=max_bytes)
    if root.tag != SIGNED_MESSAGE_TAG:
        if isinstance(root.tag, str) and root.tag.startswith("{"):
            raise EnvelopeError(f"root element {root.tag} has an XML namespace; UFTP uses no namespaces")
        raise EnvelopeError(f"root element must be SignedMessage, got {root.tag}")

    present = set(root.attrib)
    missing = sorted(_SIGNED_MESSAGE_ATTRIBUTES - present)
    unexpected = sorted(present - _SIGNED_MESSAGE_ATTRIBUTES)
    if missing:
        raise EnvelopeError(f"SignedMessage lacks attribute(s): {', '.join(missing)}")
    if unexpected:
        raise EnvelopeError(f"SignedMessage has unexpected attribute(s): {', '.join(unexpected)}")
    if any(isinstance(child.tag, str) for child in root):
        raise EnvelopeError("SignedMessage must be empty: it has child elements")
    # Comments are harmless (the schema allows them); any character content is not.
    if root.text or any(child.tail for child in root):
        raise EnvelopeError("SignedMessage must be empty: it has text content")

    role = _check_sender(sender_domain=root.get("SenderDomain"), sender_role=root.get("SenderRole"))
    return SignedEnvelope(
        sender_domain=root.get("SenderDomain"),
        sender_role=role,
        body=_decode_base64_body(root.get("Body")),
    )


def open_body(body: bytes, public_keys: Iterable[str]) -> bytes:
    """Verify the NaCl-signed Body with any of the sender's public keys; return the inner XML.

    KeyFormatError for a malformed key; SignatureError when the Body is truncated or no
    key verifies it.
    """
    if isinstance(public_keys, str | bytes):  # one key given bare: not an iterable of chars
        public_keys = [public_keys]
    raw_keys = [decode_public_key(key) for key in public_keys]
    body = bytes(body)
    if len(body) < SIGNATURE_BYTES:
        raise SignatureError(
            f"Body is truncated: {len(body)} bytes, shorter than the {SIGNATURE_BYTES}-byte signature"
        )
    if not raw_keys:
        raise SignatureError("no public key of the sender to verify the signature with")
    for raw_key in raw_keys:
        try:
            return crypto_sign_open(body, raw_key)
        except CryptoError:
            continue
    raise SignatureError(f"signature does not verify with any of the sender's {len(raw_keys)} public key(s)")


def seal(inner_xml: bytes, private_key: str) -> bytes:
    """NaCl crypto_sign: the 64-byte signature followed by `inner_xml`."""
    return crypto_sign(bytes(inner_xml), decode_private_key(private_key))


def build_signed_message(
    *, sender_domain: str, sender_role: m.Role | str, inner_xml: bytes, private_key: str
) -> bytes:
    """Sign `inner_xml` and wrap it: `<SignedMessage SenderDomain SenderRole Body/>` (UTF-8)."""
    role = _check_sender(sender_domain=sender_domain, sender_role=sender_role)
    envelope = etree.Element(SIGNED_MESSAGE_TAG)
    envelope.set("SenderDomain", sender_domain)
    envelope.set("SenderRole", role.value)
    envelope.set("Body", base64.b64encode(seal(inner_xml, private_key)).decode("ascii"))
    return _to_bytes(envelope)


def _to_bytes(element: etree._Element) -> bytes:
    # lxml writes the declaration with single quotes; peers expect the usual spelling.
    return XML_DECLARATION + etree.tostring(element, encoding="UTF-8", xml_declaration=False)


# ======================================================================= value parsing


def _to_date(value: str, *, attribute: str) -> dt.date:
    # The schema has already checked the lexical form; xs:date may carry a zone, which a
    # calendar-day Period ignores.
    match = _XSD_DATE.fullmatch(value.strip(" \t\r\n"))
    if match is None:
        raise SchemaError(f"{attribute}={value!r} is not a date")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise SchemaError(f"{attribute}={value!r} is outside the dates the CRO handles") from None


_EARLIEST_DATETIME = dt.datetime.min + dt.timedelta(days=1)
_LATEST_DATETIME = dt.datetime.max - dt.timedelta(days=1)


def _to_datetime(value: str, *, attribute: str) -> dt.datetime:
    match = _XSD_DATETIME.fullmatch(value.strip(" \t\r\n"))
    if match is None:
        raise SchemaError(f"{attribute}={value!r} is not a date-time")
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    microsecond = int((match[7] or ".0")[1:7].ljust(6, "0"))
    tzinfo = None
    if match[8] == "Z":
        tzinfo = dt.UTC
    elif match[8]:
        sign = -1 if match[9] == "-" else 1
        offset = dt.timedelta(hours=int(match[10]), minutes=int(match[11]))
        tzinfo = dt.timezone(sign * offset)
    # xs:dateTime allows 24:00:00, the end of the day, i.e. midnight of the next.
    end_of_day = hour == 24
    try:
        moment = dt.datetime(year, month, day, 0 if end_of_day else hour, minute, second, microsecond, tzinfo)
        moment = moment + dt.timedelta(days=1) if end_of_day else moment
    except (ValueError, OverflowError):
        raise SchemaError(f"{attribute}={value!r} is outside the date-times the CRO handles") from None
    # A day of margin on both ends: in any time zone (or read in the market zone when it has
    # no offset) the moment must still be a date-time that storage can hand back.
    if not _EARLIEST_DATETIME <= moment.replace(tzinfo=None) <= _LATEST_DATETIME:
        raise SchemaError(f"{attribute}={value!r} is outside the date-times the CRO handles")
    return moment


def _to_bool(value: str, *, attribute: str) -> bool:
    text = value.strip(" \t\r\n")
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise SchemaError(f"{attribute}={value!r} is not a boolean")


def _optional_date(element: etree._Element, attribute: str) -> dt.date | None:
    value = element.get(attribute)
    return None if value is None else _to_date(value, attribute=attribute)


def _required_date(element: etree._Element, attribute: str) -> dt.date:
    return _to_date(element.get(attribute), attribute=attribute)


def _optional_redispatch(element: etree._Element, attribute: str) -> m.RedispatchBy | None:
    value = element.get(attribute)
    return None if value is None else m.RedispatchBy(value)


def _children(element: etree._Element, tag: str) -> list[etree._Element]:
    # Elements only: comments and processing instructions are not content.
    return [child for child in element.iterchildren(tag=tag)]


# ====================================================================== typed building


def _metadata(root: etree._Element) -> dict:
    return {
        "version": root.get("Version"),
        "sender_domain": root.get("SenderDomain"),
        "recipient_domain": root.get("RecipientDomain"),
        "time_stamp": _to_datetime(root.get("TimeStamp"), attribute="TimeStamp"),
        "message_id": root.get("MessageID"),
        "conversation_id": root.get("ConversationID"),
    }


def _response_fields(root: etree._Element, profile: VersionProfile) -> dict:
    reference_attribute = profile.reference_attribute(root.tag)
    return {
        "reference_message_id": root.get(reference_attribute) if reference_attribute else None,
        "result": m.Result(root.get("Result")),
        "rejection_reason": root.get("RejectionReason"),
    }


def _connection_period(element: etree._Element) -> m.ConnectionPeriod:
    return m.ConnectionPeriod(
        entity_address=element.get("EntityAddress"),
        start_period=_required_date(element, "StartPeriod"),
        end_period=_optional_date(element, "EndPeriod"),
    )


def _read_dso_portfolio_update(root: etree._Element, _: VersionProfile) -> m.DSOPortfolioUpdate:
    congestion_points = tuple(
        m.CongestionPointUpdate(
            entity_address=cp.get("EntityAddress"),
            start_period=_required_date(cp, "StartPeriod"),
            end_period=_optional_date(cp, "EndPeriod"),
            mutex_offers_supported=_to_bool(cp.get("MutexOffersSupported"), attribute="MutexOffersSupported"),
            day_ahead_redispatch_by=m.RedispatchBy(cp.get("DayAheadRedispatchBy")),
            intraday_redispatch_by=_optional_redispatch(cp, "IntradayRedispatchBy"),
            connections=tuple(_connection_period(c) for c in _children(cp, "Connection")),
        )
        for cp in _children(root, "CongestionPoint")
    )
    return m.DSOPortfolioUpdate(
        **_metadata(root), time_zone=root.get("TimeZone"), congestion_points=congestion_points
    )


def _read_dso_portfolio_query(root: etree._Element, _: VersionProfile) -> m.DSOPortfolioQuery:
    return m.DSOPortfolioQuery(
        **_metadata(root),
        time_zone=root.get("TimeZone"),
        period=_required_date(root, "Period"),
        entity_address=root.get("EntityAddress"),
    )


def _read_agr_portfolio_update(root: etree._Element, _: VersionProfile) -> m.AGRPortfolioUpdate:
    return m.AGRPortfolioUpdate(
        **_metadata(root),
        time_zone=root.get("TimeZone"),
        connections=tuple(_connection_period(c) for c in _children(root, "Connection")),
    )


def _read_agr_portfolio_query(root: etree._Element, _: VersionProfile) -> m.AGRPortfolioQuery:
    return m.AGRPortfolioQuery(
        **_metadata(root), time_zone=root.get("TimeZone"), period=_required_date(root, "Period")
    )


def _read_test_message(root: etree._Element, _: VersionProfile) -> m.TestMessage:
    return m.TestMessage(**_metadata(root))


def _read_test_message_response(root: etree._Element, profile: VersionProfile) -> m.TestMessageResponse:
    # 3.x has neither Result nor a reference, but peers send Result anyway: keep what came.
    result = root.get("Result")
    reference_attribute = profile.reference_attribute(root.tag)
    return m.TestMessageResponse(
        **_metadata(root),
        reference_message_id=root.get(reference_attribute) if reference_attribute else None,
        result=m.Result(result) if result is not None else None,
        rejection_reason=root.get("RejectionReason"),
    )


def _read_dso_portfolio_update_response(
    root: etree._Element, profile: VersionProfile
) -> m.DSOPortfolioUpdateResponse:
    return m.DSOPortfolioUpdateResponse(**_metadata(root), **_response_fields(root, profile))


def _read_agr_portfolio_update_response(
    root: etree._Element, profile: VersionProfile
) -> m.AGRPortfolioUpdateResponse:
    return m.AGRPortfolioUpdateResponse(**_metadata(root), **_response_fields(root, profile))


def _read_dso_portfolio_query_response(
    root: etree._Element, profile: VersionProfile
) -> m.DSOPortfolioQueryResponse:
    congestion_point = None
    for cp in _children(root, "CongestionPoint"):  # at most one (schema)
        congestion_point = m.DSOQueryCongestionPoint(
            entity_address=cp.get("EntityAddress"),
            connections=tuple(
                m.DSOQueryConnection(entity_address=c.get("EntityAddress"), agr_domain=c.get("AGR-Domain"))
                for c in _children(cp, "Connection")
            ),
        )
    return m.DSOPortfolioQueryResponse(
        **_metadata(root),
        **_response_fields(root, profile),
        time_zone=root.get("TimeZone"),
        period=_required_date(root, "Period"),
        congestion_point=congestion_point,
    )


def _read_agr_portfolio_query_response(
    root: etree._Element, profile: VersionProfile
) -> m.AGRPortfolioQueryResponse:
    portfolios: list[m.AGRQueryDSOPortfolio] = []
    unallocated: list[str] = []
    # The official XSD allows several DSO-Views; their contents are simply concatenated.
    for view in _children(root, "DSO-View"):
        for portfolio in _children(view, "DSO-Portfolio"):
            portfolios.append(
                m.AGRQueryDSOPortfolio(
                    dso_domain=portfolio.get("DSO-Domain"),
                    congestion_points=tuple(
                        m.AGRQueryCongestionPoint(
                            entity_address=cp.get("EntityAddress"),
                            mutex_offers_supported=_to_bool(
                                cp.get("MutexOffersSupported"), attribute="MutexOffersSupported"
                            ),
                            day_ahead_redispatch_by=m.RedispatchBy(cp.get("DayAheadRedispatchBy")),
                            intraday_redispatch_by=_optional_redispatch(cp, "IntradayRedispatchBy"),
                            connections=tuple(c.get("EntityAddress") for c in _children(cp, "Connection")),
                        )
                        for cp in _children(portfolio, "CongestionPoint")
                    ),
                )
            )
        unallocated.extend(c.get("EntityAddress") for c in _children(view, "Connection"))
    return m.AGRPortfolioQueryResponse(
        **_metadata(root),
        **_response_fields(root, profile),
        time_zone=root.get("TimeZone"),
        period=_required_date(root, "Period"),
        dso_portfolios=tuple(portfolios),
        unallocated_connections=tuple(unallocated),
    )


_Reader = Callable[[etree._Element, VersionProfile], m.PayloadMessage]
_READERS: Mapping[str, _Reader] = MappingProxyType(
    {
        "DSOPortfolioUpdate": _read_dso_portfolio_update,
        "DSOPortfolioQuery": _read_dso_portfolio_query,
        "AGRPortfolioUpdate": _read_agr_portfolio_update,
        "AGRPortfolioQuery": _read_agr_portfolio_query,
        "TestMessage": _read_test_message,
        "TestMessageResponse": _read_test_message_response,
        "DSOPortfolioUpdateResponse": _read_dso_portfolio_update_response,
        "DSOPortfolioQueryResponse": _read_dso_portfolio_query_response,
        "AGRPortfolioUpdateResponse": _read_agr_portfolio_update_response,
        "AGRPortfolioQueryResponse": _read_agr_portfolio_query_response,
    }
)


def _reject_namespaces(root: etree._Element) -> None:
    for element in root.iter(tag=etree.Element):
        if element.tag.startswith("{"):
            raise SchemaError(f"element {element.tag} has an XML namespace; UFTP uses none")
        for name in element.attrib:
            if name.startswith("{"):
                raise SchemaError(f"attribute {name} on {element.tag} has an XML namespace; UFTP uses none")


def _schema_major(version: str | None, *, path_major: int) -> int:
    # The message's own major when we have a schema for it; otherwise the URL path's, so an
    # unsupported Version still parses and the worker can reject it functionally.
    major = major_of(version)
    if major is not None and major in SCHEMA_SETS:
        return major
    return schema_major_for_path(path_major)


def _parse_payload(
    inner_xml: bytes,
    *,
    path_major: int,
    accepted_types: Mapping[str, type[m.PayloadMessage]],
    max_bytes: int,
) -> m.PayloadMessage:
    root = parse_xml(inner_xml, max_bytes=max_bytes)
    _reject_namespaces(root)
    if root.tag not in accepted_types:
        if root.tag in ALL_MESSAGE_TYPES:
            raise UnsupportedMessageType(f"{root.tag} is a response the CRO sends; a CRO never receives one")
        expected = ", ".join(accepted_types)
        raise UnsupportedMessageType(
            f"{root.tag} is not a message type a CRO handles (expected one of: {expected})"
        )
    version = root.get("Version")
    major = _schema_major(version, path_major=path_major)
    validate(root, major=major)
    profile = resolve_profile(version, fallback_major=major)
    return _READERS[root.tag](root, profile)


def parse_message(
    inner_xml: bytes, *, path_major: int = 3, max_bytes: int = DEFAULT_MAX_BYTES
) -> m.PayloadMessage:
    """Parse and validate an inner message the CRO receives (messages.REQUEST_TYPES).

    Validated against our schema of the message's major version when we have one, else of
    `path_major`. Raises XMLSecurityError, MalformedXMLError, UnsupportedMessageType,
    SchemaError or UnsupportedVersion (no schema for `path_major`).
    """
    return _parse_payload(
        inner_xml, path_major=path_major, accepted_types=m.REQUEST_TYPES, max_bytes=max_bytes
    )


def parse_any(
    inner_xml: bytes, *, path_major: int = 3, max_bytes: int = DEFAULT_MAX_BYTES
) -> m.PayloadMessage:
    """Like parse_message, but also reads the responses the CRO sends (tests, audit views)."""
    return _parse_payload(
        inner_xml, path_major=path_major, accepted_types=ALL_MESSAGE_TYPES, max_bytes=max_bytes
    )


# ======================================================================= serialization


def _format_timestamp(value: dt.datetime) -> str:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError(f"TimeStamp must be a timezone-aware datetime, got {value!r}")
    return value.isoformat()


def _format_date(value: dt.date) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"a Period must be a datetime.date, got {value!r}")
    return value.isoformat()


def _format_bool(value: bool) -> str:
    return "true" if value else "false"


def _set_optional(element: etree._Element, attribute: str, value: object) -> None:
    if value is not None:
        element.set(attribute, str(value))


def _sub(parent: etree._Element, tag: str, attributes: Mapping[str, str | None]) -> etree._Element:
    """A child element with the attributes that are not None, in the given order."""
    child = etree.SubElement(parent, tag)
    for name, value in attributes.items():
        _set_optional(child, name, value)
    return child


def _new_message_element(message: m.PayloadMessage) -> etree._Element:
    element = etree.Element(message.message_type)
    element.set("Version", message.version)
    element.set("SenderDomain", message.sender_domain)
    element.set("RecipientDomain", message.recipient_domain)
    element.set("TimeStamp", _format_timestamp(message.time_stamp))
    element.set("MessageID", message.message_id)
    element.set("ConversationID", message.conversation_id)
    return element


def _set_response_outcome(
    element: etree._Element, message: m.PayloadResponse, profile: VersionProfile
) -> None:
    if not message.reference_message_id:
        raise ValueError(f"a {message.message_type} needs reference_message_id")
    element.set("Result", str(message.result))
    _set_optional(element, "RejectionReason", message.rejection_reason)
    element.set(profile.reference_attribute(message.message_type), message.reference_message_id)


def _write_connection_period(parent: etree._Element, connection: m.ConnectionPeriod) -> None:
    child = etree.SubElement(parent, "Connection")
    child.set("EntityAddress", connection.entity_address)
    child.set("StartPeriod", _format_date(connection.start_period))
    if connection.end_period is not None:
        child.set("EndPeriod", _format_date(connection.end_period))


def _write_trading_terms(
    element: etree._Element, cp: m.CongestionPointUpdate | m.AGRQueryCongestionPoint
) -> None:
    element.set("MutexOffersSupported", _format_bool(cp.mutex_offers_supported))
    element.set("DayAheadRedispatchBy", str(cp.day_ahead_redispatch_by))
    _set_optional(element, "IntradayRedispatchBy", cp.intraday_redispatch_by)


def _write_dso_portfolio_update(message: m.DSOPortfolioUpdate, _: VersionProfile) -> etree._Element:
    element = _new_message_element(message)
    element.set("TimeZone", message.time_zone)
    for cp in message.congestion_points:
        cp_element = etree.SubElement(element, "CongestionPoint")
        cp_element.set("EntityAddress", cp.entity_address)
        cp_element.set("StartPeriod", _format_date(cp.start_period))
        if cp.end_period is not None:
            cp_element.set("EndPeriod", _format_date(cp.end_period))
        _write_trading_terms(cp_element, cp)
        for connection in cp.connections:
            _write_connection_period(cp_element, connection)
    return element


def _write_dso_portfolio_query(message: m.DSOPortfolioQuery, _: VersionProfile) -> etree._Element:
    element = _new_message_element(message)
    element.set("TimeZone", message.time_zone)
    element.set("Period", _format_date(message.period))
    element.set("EntityAddress", message.entity_address)
    return element


def _write_agr_portfolio_update(message: m.AGRPortfolioUpdate, _: VersionProfile) -> etree._Element:
    element = _new_message_element(message)
    element.set("TimeZone", message.time_zone)
    for connection in message.connections:
        _write_connection_period(element, connection)
    return element


def _write_agr_portfolio_query(message: m.AGRPortfolioQuery, _: VersionProfile) -> etree._Element:
    element = _new_message_element(message)
    element.set("TimeZone", message.time_zone)
    element.set("Period", _format_date(message.period))
    return element


def _write_test_message(message: m.TestMessage, _: VersionProfile) -> etree._Element:
    return _new_message_element(message)


def _write_test_message_response(message: m.TestMessageResponse, profile: VersionProfile) -> etree._Element:
    element = _new_message_element(message)
    if profile.test_response_has_result_and_reference:
        if message.reference_message_id is None:
            raise ValueError(f"a {profile.version} TestMessageResponse needs reference_message_id")
        element.set("Result", str(message.result or m.Result.ACCEPTED))
        _set_optional(element, "RejectionReason", message.rejection_reason)
        element.set(profile.reference_attribute(message.message_type), message.reference_message_id)
    # 3.x: bare metadata; Result and reference do not exist in that schema.
    return element


def _write_simple_response(message: m.PayloadResponse, profile: VersionProfile) -> etree._Element:
    element = _new_message_element(message)
    _set_response_outcome(element, message, profile)
    return element


def _write_dso_portfolio_query_response(
    message: m.DSOPortfolioQueryResponse, profile: VersionProfile
) -> etree._Element:
    element = _new_message_element(message)
    _set_response_outcome(element, message, profile)
    element.set("TimeZone", message.time_zone)
    element.set("Period", _format_date(message.period))
    cp = message.congestion_point
    if cp is not None:
        cp_element = _sub(element, "CongestionPoint", {"EntityAddress": cp.entity_address})
        for connection in cp.connections:
            _sub(
                cp_element,
                "Connection",
                {"EntityAddress": connection.entity_address, "AGR-Domain": connection.agr_domain},
            )
    return element


def _write_agr_portfolio_query_response(
    message: m.AGRPortfolioQueryResponse, profile: VersionProfile
) -> etree._Element:
    element = _new_message_element(message)
    _set_response_outcome(element, message, profile)
    element.set("TimeZone", message.time_zone)
    element.set("Period", _format_date(message.period))
    if message.result != m.Result.ACCEPTED:
        if message.dso_portfolios or message.unallocated_connections:
            raise ValueError("a Rejected AGRPortfolioQueryResponse carries no portfolio")
        return element  # Rejected: no DSO-View (message catalog)
    # Accepted: exactly one DSO-View, the DSO portfolios first, then unallocated connections.
    view = etree.SubElement(element, "DSO-View")
    for portfolio in message.dso_portfolios:
        portfolio_element = _sub(view, "DSO-Portfolio", {"DSO-Domain": portfolio.dso_domain})
        for cp in portfolio.congestion_points:
            cp_element = _sub(portfolio_element, "CongestionPoint", {"EntityAddress": cp.entity_address})
            _write_trading_terms(cp_element, cp)
            for address in cp.connections:
                _sub(cp_element, "Connection", {"EntityAddress": address})
    for address in message.unallocated_connections:
        _sub(view, "Connection", {"EntityAddress": address})
    return element


# Each writer takes its own message type; the table is keyed by that type.
_Writer = Callable[[Any, VersionProfile], etree._Element]
_WRITERS: Mapping[type[m.PayloadMessage], _Writer] = MappingProxyType(
    {
        m.DSOPortfolioUpdate: _write_dso_portfolio_update,
        m.DSOPortfolioQuery: _write_dso_portfolio_query,
        m.AGRPortfolioUpdate: _write_agr_portfolio_update,
        m.AGRPortfolioQuery: _write_agr_portfolio_query,
        m.TestMessage: _write_test_message,
        m.TestMessageResponse: _write_test_message_response,
        m.DSOPortfolioUpdateResponse: _write_simple_response,
        m.AGRPortfolioUpdateResponse: _write_simple_response,
        m.DSOPortfolioQueryResponse: _write_dso_portfolio_query_response,
        m.AGRPortfolioQueryResponse: _write_agr_portfolio_query_response,
    }
)


def to_element(message: m.PayloadMessage, *, profile: VersionProfile | None = None) -> etree._Element:
    """The lxml element of a message, spelled per its version (or the given profile)."""
    writer = _WRITERS.get(type(message))
    if writer is None:
        raise UnsupportedMessageType(f"cannot serialize {type(message).__name__}")
    return writer(message, profile or resolve_profile(message.version))


def serialize(message: m.PayloadMessage, *, profile: VersionProfile | None = None) -> bytes:
    """UTF-8 XML (with declaration) of a message, checked against our schema before it leaves.

    `profile` defaults to the message's Version (or the newest profile of its major); pass
    one explicitly to answer a message whose version the CRO does not support.
    Raises SchemaError if the result would not be valid, UnsupportedVersion if no profile
    fits, ValueError for a naive TimeStamp or an impossible shape.
    """
    profile = profile or resolve_profile(message.version)
    element = to_element(message, profile=profile)
    validate(element, major=profile.major)
    return _to_bytes(element)
