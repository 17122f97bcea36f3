"""The market time zone rule (cro-rules): a TimeStamp given without an offset is read in it."""

from __future__ import annotations

import datetime as dt
from typing import overload
from zoneinfo import ZoneInfo

from django.conf import settings


@overload
def time_stamp_aware(value: dt.datetime) -> dt.datetime: ...
@overload
def time_stamp_aware(value: None) -> None: ...
def time_stamp_aware(value: dt.datetime | None) -> dt.datetime | None:
    """`value` as an aware datetime: an offset-less TimeStamp is read in CRO_TIME_ZONE."""
    if value is not None and value.utcoffset() is None:
        return value.replace(tzinfo=ZoneInfo(settings.CRO_TIME_ZONE))
    return value
