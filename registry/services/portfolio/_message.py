"""What both updates read from the message alone: its source label, its storable addresses."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone

from registry.models import Message
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE


def source_label(source: str | None, source_message: Message | None) -> str:
    if source:
        return source[:32]
    return "uftp" if source_message is not None else ""


def is_storable(address: str) -> bool:
    # Invalid addresses are reported as reasons; keep them out of the database work.
    return bool(ENTITY_ADDRESS_RE.fullmatch(address))


def time_stamp_reasons(time_stamp: dt.datetime) -> list[str]:
    """cro-rules §3 item 9: a TimeStamp too far ahead of the CRO's clock would lock its entities for good."""
    ahead = dt.timedelta(seconds=settings.CRO_MAX_TIMESTAMP_AHEAD_SECONDS)
    if time_stamp - timezone.now() > ahead:
        return [
            f"Invalid TimeStamp: {time_stamp.isoformat()} is more than "
            f"{settings.CRO_MAX_TIMESTAMP_AHEAD_SECONDS} seconds ahead of the CRO's clock"
        ]
    return []
