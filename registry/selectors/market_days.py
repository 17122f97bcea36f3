"""Days of the market time zone (settings.CRO_TIME_ZONE), in which the web pages count and filter."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def market_zone() -> ZoneInfo:
    return ZoneInfo(settings.CRO_TIME_ZONE)


def market_today() -> dt.date:
    return timezone.now().astimezone(market_zone()).date()


def market_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a calendar day of the market time zone, as aware datetimes."""
    zone = market_zone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return start, end
