"""What both updates read from the message alone: its TimeStamp, its source label, its storable addresses."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from registry.models import Message
from registry.validators import ENTITY_ADDRESS_RE


def time_stamp_aware(time_stamp: dt.datetime) -> dt.datetime:
    """A TimeStamp without offset is read in the market time zone."""
    if timezone.is_naive(time_stamp):
        return time_stamp.replace(tzinfo=ZoneInfo(settings.CRO_TIME_ZONE))
    return time_stamp


def source_label(source: str | None, source_message: Message | None) -> str:
    if source:
        return source[:32]
    return "uftp" if source_message is not None else ""


def is_storable(address: str) -> bool:
    # Invalid addresses are reported as reasons; keep them out of the database work.
    return bool(ENTITY_ADDRESS_RE.fullmatch(address))
