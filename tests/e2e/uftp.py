"""Builders of the peers' messages (library objects) and readers of what arrives at the peers."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

from shapeshifter_uftp import (
    AgrPortfolioQuery,
    AgrPortfolioUpdate,
    AgrPortfolioUpdateConnection,
    DsoPortfolioQuery,
    DsoPortfolioUpdate,
    DsoPortfolioUpdateCongestionPoint,
    DsoPortfolioUpdateConnection,
)
from xsdata.models.datatype import XmlDate

from .peers import Arrival, Peer

CRO_DOMAIN = "cro.example.com"
MARKET_ZONE = "Europe/Amsterdam"

# The reference attribute of each 3.x response (cro-rules §6).
REFERENCE_ATTRIBUTE = {
    "DSOPortfolioUpdateResponse": "DSOPortfolioUpdateResponseMessageID",
    "DSOPortfolioQueryResponse": "DSOPortfolioQueryMessageID",
    "AGRPortfolioUpdateResponse": "AGRPortfolioUpdateMessageID",
    "AGRPortfolioQueryResponse": "AGRPortfolioQueryMessageID",
    "TestMessageResponse": None,
}
RESPONSE_TAG = {
    "DSOPortfolioUpdate": "DSOPortfolioUpdateResponse",
    "DSOPortfolioQuery": "DSOPortfolioQueryResponse",
    "AGRPortfolioUpdate": "AGRPortfolioUpdateResponse",
    "AGRPortfolioQuery": "AGRPortfolioQueryResponse",
    "TestMessage": "TestMessageResponse",
}


def day(text: str | None) -> XmlDate | None:
    return XmlDate.from_string(text) if text else None


def cp(
    address: str,
    start: str,
    end: str | None = None,
    *,
    connections: list[tuple[str, str, str | None]] | list[tuple[str, str]],
    mutex: bool = True,
    day_ahead: str = "DSO",
    intraday: str | None = None,
) -> DsoPortfolioUpdateCongestionPoint:
    return DsoPortfolioUpdateCongestionPoint(
        entity_address=address,
        start_period=day(start),
        end_period=day(end),
        mutex_offers_supported=mutex,
        day_ahead_redispatch_by=day_ahead,
        intraday_redispatch_by=intraday,
        connections=[
            DsoPortfolioUpdateConnection(
                entity_address=conn[0],
                start_period=day(conn[1]),
                end_period=day(conn[2] if len(conn) > 2 else None),
            )
            for conn in connections
        ],
    )


def dso_update(
    *cps: DsoPortfolioUpdateCongestionPoint, time_zone: str = MARKET_ZONE, **meta
) -> DsoPortfolioUpdate:
    return DsoPortfolioUpdate(time_zone=time_zone, congestion_points=list(cps), **meta)


def agr_update(*connections: tuple, time_zone: str = MARKET_ZONE, **meta) -> AgrPortfolioUpdate:
    return AgrPortfolioUpdate(
        time_zone=time_zone,
        connections=[
            AgrPortfolioUpdateConnection(
                entity_address=conn[0],
                start_period=day(conn[1]),
                end_period=day(conn[2] if len(conn) > 2 else None),
            )
            for conn in connections
        ],
        **meta,
    )


def dso_query(address: str, period: str, *, time_zone: str = MARKET_ZONE) -> DsoPortfolioQuery:
    return DsoPortfolioQuery(entity_address=address, period=day(period), time_zone=time_zone)


def agr_query(period: str, *, time_zone: str = MARKET_ZONE) -> AgrPortfolioQuery:
    return AgrPortfolioQuery(period=day(period), time_zone=time_zone)


# --------------------------------------------------------------------------- what arrives


def response_to(peer: Peer, request, *, timeout: float = 30, parsed: bool = False) -> Arrival:
    """The CRO's response to `request` (sent by `peer`) as it arrived at the peer's service."""
    tag = RESPONSE_TAG[type(request).Meta.name if hasattr(type(request), "Meta") else type(request).__name__]
    return peer.wait_for(conversation_id=request.conversation_id, tag=tag, timeout=timeout, parsed=parsed)


def check_response(
    arrival: Arrival, request, *, recipient: str, result: str | None, reason: str | None = None
) -> Arrival:
    """Assert the metadata of cro-rules §6 and the Result (and a reason fragment) of a response."""
    attrs = arrival.attrs
    assert attrs["SenderDomain"] == CRO_DOMAIN, attrs
    assert attrs["RecipientDomain"] == recipient, attrs
    assert attrs["ConversationID"] == request.conversation_id, attrs
    assert attrs["Version"] == request.version, attrs
    assert attrs["MessageID"] != request.message_id, attrs
    assert re.search(r"(Z|[+-]\d\d:\d\d)$", attrs["TimeStamp"]), f"TimeStamp without offset: {attrs}"
    reference = REFERENCE_ATTRIBUTE[arrival.tag]
    if reference:
        assert attrs[reference] == request.message_id, attrs
    if result is not None:
        assert attrs.get("Result") == result, f"expected {result}, got {attrs}"
    if reason is not None:
        assert reason in (attrs.get("RejectionReason") or ""), f"expected reason with {reason!r}, got {attrs}"
    return arrival


def agr_view(root: ET.Element) -> tuple[dict, list[str]]:
    """{dso domain: {cp: (cp attributes, [connections])}}, [unallocated connections] of an AGR answer."""
    portfolios: dict[str, dict] = {}
    unallocated: list[str] = []
    views = root.findall("DSO-View")
    assert len(views) <= 1, "one DSO-View"
    for view in views:
        for portfolio in view.findall("DSO-Portfolio"):
            cps = portfolios.setdefault(portfolio.get("DSO-Domain"), {})
            for point in portfolio.findall("CongestionPoint"):
                attributes = {k: v for k, v in point.attrib.items() if k != "EntityAddress"}
                cps[point.get("EntityAddress")] = (
                    attributes,
                    sorted(c.get("EntityAddress") for c in point.findall("Connection")),
                )
        unallocated = sorted(c.get("EntityAddress") for c in view.findall("Connection"))
    return portfolios, unallocated


def agr_view_of_library(parsed) -> tuple[dict, list[str]]:
    """The same view from the library's parsed AgrPortfolioQueryResponse."""
    portfolios: dict[str, dict] = {}
    unallocated: list[str] = []
    for view in parsed.dso_views:
        for portfolio in view.dso_portfolios:
            cps = portfolios.setdefault(portfolio.dso_domain, {})
            for point in portfolio.congestion_points:
                cps[point.entity_address] = sorted(c.entity_address for c in point.connections)
        unallocated = sorted(c.entity_address for c in view.connections)
    return portfolios, unallocated


def dso_view(root: ET.Element) -> dict | None:
    """{connection: AGR domain or None} of a DSOPortfolioQueryResponse, None without a CongestionPoint."""
    points = root.findall("CongestionPoint")
    if not points:
        return None
    assert len(points) == 1
    return {c.get("EntityAddress"): c.get("AGR-Domain") for c in points[0].findall("Connection")}


def wait_db(predicate, *, timeout: float = 30, interval: float = 0.1, what: str = "database state"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
