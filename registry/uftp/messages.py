"""Typed UFTP messages the CRO receives and sends. Plain frozen dataclasses: no XML here.

Attribute names follow the XML attribute names in snake_case. Dates are `datetime.date`,
TimeStamp is an aware `datetime.datetime` (or naive when the sender gave no offset).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    AGR = "AGR"
    CRO = "CRO"
    DSO = "DSO"


class Result(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"


class RedispatchBy(StrEnum):
    AGR = "AGR"
    DSO = "DSO"


@dataclass(frozen=True, kw_only=True)
class PayloadMessage:
    """Metadata common to every inner message."""

    version: str
    sender_domain: str
    recipient_domain: str
    time_stamp: dt.datetime
    message_id: str
    conversation_id: str

    # The XML element name, e.g. "DSOPortfolioUpdate"; set on each subclass.
    message_type = "PayloadMessage"


@dataclass(frozen=True, kw_only=True)
class PayloadResponse(PayloadMessage):
    """A response: the request's MessageID, Result and (when Rejected) a reason."""

    reference_message_id: str
    result: Result = Result.ACCEPTED
    rejection_reason: str | None = None


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, kw_only=True)
class ConnectionPeriod:
    """A connection with the inclusive Periods it is listed for (EndPeriod None: open-ended)."""

    entity_address: str
    start_period: dt.date
    end_period: dt.date | None = None


@dataclass(frozen=True, kw_only=True)
class CongestionPointUpdate:
    entity_address: str
    start_period: dt.date
    end_period: dt.date | None
    mutex_offers_supported: bool
    day_ahead_redispatch_by: RedispatchBy
    intraday_redispatch_by: RedispatchBy | None
    connections: tuple[ConnectionPeriod, ...]


@dataclass(frozen=True, kw_only=True)
class DSOPortfolioUpdate(PayloadMessage):
    message_type = "DSOPortfolioUpdate"
    time_zone: str
    congestion_points: tuple[CongestionPointUpdate, ...]


@dataclass(frozen=True, kw_only=True)
class DSOPortfolioQuery(PayloadMessage):
    message_type = "DSOPortfolioQuery"
    time_zone: str
    period: dt.date
    entity_address: str


@dataclass(frozen=True, kw_only=True)
class AGRPortfolioUpdate(PayloadMessage):
    message_type = "AGRPortfolioUpdate"
    time_zone: str
    connections: tuple[ConnectionPeriod, ...]


@dataclass(frozen=True, kw_only=True)
class AGRPortfolioQuery(PayloadMessage):
    message_type = "AGRPortfolioQuery"
    time_zone: str
    period: dt.date


@dataclass(frozen=True, kw_only=True)
class TestMessage(PayloadMessage):
    message_type = "TestMessage"


@dataclass(frozen=True, kw_only=True)
class TestMessageResponse(PayloadMessage):
    """3.x carries no Result and no reference; both are tolerated (peers send Result)."""

    message_type = "TestMessageResponse"
    reference_message_id: str | None = None
    result: Result | None = None
    rejection_reason: str | None = None


# -------------------------------------------------------------------------- responses


@dataclass(frozen=True, kw_only=True)
class DSOPortfolioUpdateResponse(PayloadResponse):
    message_type = "DSOPortfolioUpdateResponse"


@dataclass(frozen=True, kw_only=True)
class AGRPortfolioUpdateResponse(PayloadResponse):
    message_type = "AGRPortfolioUpdateResponse"


@dataclass(frozen=True, kw_only=True)
class DSOQueryConnection:
    entity_address: str
    agr_domain: str | None = None


@dataclass(frozen=True, kw_only=True)
class DSOQueryCongestionPoint:
    entity_address: str
    connections: tuple[DSOQueryConnection, ...]


@dataclass(frozen=True, kw_only=True)
class DSOPortfolioQueryResponse(PayloadResponse):
    message_type = "DSOPortfolioQueryResponse"
    time_zone: str
    period: dt.date
    congestion_point: DSOQueryCongestionPoint | None = None


@dataclass(frozen=True, kw_only=True)
class AGRQueryCongestionPoint:
    entity_address: str
    mutex_offers_supported: bool
    day_ahead_redispatch_by: RedispatchBy
    intraday_redispatch_by: RedispatchBy | None
    connections: tuple[str, ...]  # entity addresses, this AGR's only


@dataclass(frozen=True, kw_only=True)
class AGRQueryDSOPortfolio:
    dso_domain: str
    congestion_points: tuple[AGRQueryCongestionPoint, ...]


@dataclass(frozen=True, kw_only=True)
class AGRPortfolioQueryResponse(PayloadResponse):
    """Accepted: one DSO-View with `dso_portfolios` then `unallocated_connections`."""

    message_type = "AGRPortfolioQueryResponse"
    time_zone: str
    period: dt.date
    dso_portfolios: tuple[AGRQueryDSOPortfolio, ...] = field(default_factory=tuple)
    unallocated_connections: tuple[str, ...] = field(default_factory=tuple)


REQUEST_TYPES: dict[str, type[PayloadMessage]] = {
    cls.message_type: cls
    for cls in (
        DSOPortfolioUpdate,
        DSOPortfolioQuery,
        AGRPortfolioUpdate,
        AGRPortfolioQuery,
        TestMessage,
        TestMessageResponse,
    )
}

RESPONSE_FOR: dict[type[PayloadMessage], type[PayloadMessage]] = {
    DSOPortfolioUpdate: DSOPortfolioUpdateResponse,
    DSOPortfolioQuery: DSOPortfolioQueryResponse,
    AGRPortfolioUpdate: AGRPortfolioUpdateResponse,
    AGRPortfolioQuery: AGRPortfolioQueryResponse,
    TestMessage: TestMessageResponse,
}

# Which sender role may send which request (cro-rules §3 item 1).
ALLOWED_SENDER_ROLES: dict[type[PayloadMessage], frozenset[Role]] = {
    DSOPortfolioUpdate: frozenset({Role.DSO}),
    DSOPortfolioQuery: frozenset({Role.DSO}),
    AGRPortfolioUpdate: frozenset({Role.AGR}),
    AGRPortfolioQuery: frozenset({Role.AGR}),
    TestMessage: frozenset({Role.DSO, Role.AGR}),
    TestMessageResponse: frozenset({Role.DSO, Role.AGR}),
}
