"""Builders of parsed and signed UFTP messages for the tests (our codec on both ends).

Two call styles build the same dataclasses: keywords, where a test spells a message out
(`dso_update(sender=..., congestion_points=[congestion_point(..., connections=[...])])`),
and positional short forms, where a registry test states many small updates
(`dso_update(dso.domain, cp(CP1, "2024-01-01", None, conn(C1, "2024-01-01")))`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.conf import settings

from registry.uftp import codec
from registry.uftp import messages as m

MARKET_TIME_ZONE = "Europe/Amsterdam"
_last_time_stamp = dt.datetime.min.replace(tzinfo=dt.UTC)


def next_time_stamp() -> dt.datetime:
    """Now, but strictly after the previous call: each new update is the newest by default."""
    global _last_time_stamp
    _last_time_stamp = max(dt.datetime.now(dt.UTC), _last_time_stamp + dt.timedelta(microseconds=1))
    return _last_time_stamp


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def metadata(
    *,
    sender: str,
    version: str = "3.1.0",
    recipient: str | None = None,
    time_stamp: dt.datetime | None = None,
    **extra,
) -> dict:
    values = {
        "version": version,
        "sender_domain": sender,
        "recipient_domain": recipient or settings.CRO_DOMAIN,
        "time_stamp": time_stamp or next_time_stamp(),
        "message_id": str(uuid.uuid4()),
        "conversation_id": str(uuid.uuid4()),
    }
    values.update(extra)
    return values


def connection(address: str, start: str, end: str | None = None) -> m.ConnectionPeriod:
    return m.ConnectionPeriod(
        entity_address=address, start_period=d(start), end_period=d(end) if end else None
    )


def congestion_point(
    address: str,
    start: str,
    end: str | None = None,
    *members: m.ConnectionPeriod,
    connections: Iterable[m.ConnectionPeriod] = (),
    mutex: bool = True,
    day_ahead: str = "DSO",
    intraday: str | None = "AGR",
) -> m.CongestionPointUpdate:
    """Connections given positionally (`members`) or as `connections=[...]`."""
    return m.CongestionPointUpdate(
        entity_address=address,
        start_period=d(start),
        end_period=d(end) if end else None,
        mutex_offers_supported=mutex,
        day_ahead_redispatch_by=m.RedispatchBy(day_ahead),
        intraday_redispatch_by=m.RedispatchBy(intraday) if intraday else None,
        connections=(*members, *connections),
    )


# Short names for the registry tests, which build many updates per test.
conn = connection
cp = congestion_point


def dso_update(
    sender: str,
    *cps: m.CongestionPointUpdate,
    congestion_points: Iterable[m.CongestionPointUpdate] = (),
    time_zone: str = MARKET_TIME_ZONE,
    **meta,
) -> m.DSOPortfolioUpdate:
    """Congestion points given positionally or as `congestion_points=[...]`."""
    return m.DSOPortfolioUpdate(
        **metadata(sender=sender, **meta), time_zone=time_zone, congestion_points=(*cps, *congestion_points)
    )


def agr_update(
    sender: str,
    *periods: m.ConnectionPeriod,
    connections: Iterable[m.ConnectionPeriod] = (),
    time_zone: str = MARKET_TIME_ZONE,
    **meta,
) -> m.AGRPortfolioUpdate:
    """Connections given positionally or as `connections=[...]`."""
    return m.AGRPortfolioUpdate(
        **metadata(sender=sender, **meta), time_zone=time_zone, connections=(*periods, *connections)
    )


def dso_query(
    *, sender: str, entity_address: str, period: str, time_zone: str = MARKET_TIME_ZONE, **meta
) -> m.DSOPortfolioQuery:
    return m.DSOPortfolioQuery(
        **metadata(sender=sender, **meta),
        time_zone=time_zone,
        period=d(period),
        entity_address=entity_address,
    )


def agr_query(*, sender: str, period: str, time_zone: str = MARKET_TIME_ZONE, **meta) -> m.AGRPortfolioQuery:
    return m.AGRPortfolioQuery(**metadata(sender=sender, **meta), time_zone=time_zone, period=d(period))


def test_message(*, sender: str, **meta) -> m.TestMessage:
    return m.TestMessage(**metadata(sender=sender, **meta))


test_message.__test__ = False  # a builder, not a test


def signed(
    payload: m.PayloadMessage, *, role: str, private_key: str, envelope_domain: str | None = None
) -> bytes:
    """The SignedMessage a participant would POST."""
    return codec.build_signed_message(
        sender_domain=envelope_domain or payload.sender_domain,
        sender_role=role,
        inner_xml=codec.serialize(payload),
        private_key=private_key,
    )
