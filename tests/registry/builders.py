"""Builders of parsed UFTP messages for the registry tests (dataclasses, no XML)."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

from registry.uftp import messages as uftp

CRO_DOMAIN = "cro.example.com"
MARKET_TIME_ZONE = "Europe/Amsterdam"
_seconds = itertools.count(1)


def next_time_stamp() -> dt.datetime:
    """Strictly increasing TimeStamps, so that each new update is the newest by default."""
    return dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=next(_seconds))


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def conn(address: str, start: str, end: str | None = None) -> uftp.ConnectionPeriod:
    return uftp.ConnectionPeriod(
        entity_address=address, start_period=d(start), end_period=d(end) if end else None
    )


def cp(
    address: str,
    start: str,
    end: str | None = None,
    *connections: uftp.ConnectionPeriod,
    mutex: bool = True,
    day_ahead: str = "DSO",
    intraday: str | None = "AGR",
) -> uftp.CongestionPointUpdate:
    return uftp.CongestionPointUpdate(
        entity_address=address,
        start_period=d(start),
        end_period=d(end) if end else None,
        mutex_offers_supported=mutex,
        day_ahead_redispatch_by=uftp.RedispatchBy(day_ahead),
        intraday_redispatch_by=uftp.RedispatchBy(intraday) if intraday else None,
        connections=tuple(connections),
    )


def _metadata(sender_domain: str, time_stamp: dt.datetime | None) -> dict:
    return {
        "version": "3.1.0",
        "sender_domain": sender_domain,
        "recipient_domain": CRO_DOMAIN,
        "time_stamp": time_stamp or next_time_stamp(),
        "message_id": str(uuid.uuid4()),
        "conversation_id": str(uuid.uuid4()),
    }


def dso_update(
    sender_domain: str, *cps: uftp.CongestionPointUpdate, time_stamp: dt.datetime | None = None
) -> uftp.DSOPortfolioUpdate:
    return uftp.DSOPortfolioUpdate(
        **_metadata(sender_domain, time_stamp), time_zone=MARKET_TIME_ZONE, congestion_points=tuple(cps)
    )


def agr_update(
    sender_domain: str, *connections: uftp.ConnectionPeriod, time_stamp: dt.datetime | None = None
) -> uftp.AGRPortfolioUpdate:
    return uftp.AGRPortfolioUpdate(
        **_metadata(sender_domain, time_stamp), time_zone=MARKET_TIME_ZONE, connections=tuple(connections)
    )
