"""TimeZone (cro-rules §3.7): another zone stands for the market zone when its UTC offset is the same throughout the message's Periods."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils import timezone

from registry.uftp import messages

logger = logging.getLogger("registry.ops")

# An open end is checked this far ahead (cro-rules §3.7).
OPEN_END_HORIZON_DAYS = 5 * 365 + 1


def _message_days(payload: messages.PayloadMessage) -> tuple[dt.date, dt.date]:
    """The first and last Period a message covers (an open end: the next five years)."""
    period = getattr(payload, "period", None)
    if period is not None:
        return period, period
    listed: list[messages.ConnectionPeriod | messages.CongestionPointUpdate] = []
    for cp in getattr(payload, "congestion_points", ()):
        listed.append(cp)
        listed.extend(cp.connections)
    listed.extend(getattr(payload, "connections", ()))
    if not listed:
        today = timezone.localdate()
        return today, today
    first = min(item.start_period for item in listed)
    ends = [item.end_period for item in listed if item.end_period is not None]
    if len(ends) < len(listed):
        start_of_horizon = max(max(item.start_period for item in listed), timezone.localdate())
        return first, start_of_horizon + dt.timedelta(days=OPEN_END_HORIZON_DAYS)
    return first, max(ends)


def time_zone_mismatch(*, time_zone: str, payload: messages.PayloadMessage) -> str | None:
    """Why `time_zone` cannot stand for the market zone over the message's Periods, or None.

    Another zone is accepted when its UTC offset equals the market zone's at every instant of
    the Periods (Europe/Brussels beside Europe/Amsterdam): then its calendar days are the
    market's days. Offsets are compared once a day, and every quarter hour on a day where
    either zone changes its offset.
    """
    market_zone = ZoneInfo(settings.CRO_TIME_ZONE)
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{time_zone[:100]} is not a known time zone (market zone: {settings.CRO_TIME_ZONE})"
    first_day, last_day = _message_days(payload)
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.UTC)

    def offsets(instant: dt.datetime) -> tuple[dt.timedelta | None, dt.timedelta | None]:
        return instant.astimezone(zone).utcoffset(), instant.astimezone(market_zone).utcoffset()

    def differs_at(instant: dt.datetime) -> str | None:
        own, market = offsets(instant)
        if own == market:
            return None
        return (
            f"{time_zone} is not the market time zone {settings.CRO_TIME_ZONE} and its UTC offset "
            f"differs at {instant:%Y-%m-%dT%H:%MZ}"
        )

    instant, previous = start, offsets(start)
    if differs := differs_at(start):
        return differs
    while instant < end:
        following = min(instant + dt.timedelta(days=1), end)
        current = offsets(following)
        if current != previous:  # an offset changes within the day: look closer
            moment = instant
            while moment < following:
                if differs := differs_at(moment):
                    return differs
                moment += dt.timedelta(minutes=15)
        if differs := differs_at(following):
            return differs
        instant, previous = following, current
    return None
