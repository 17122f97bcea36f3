"""What both updates read from the message alone: its source label, its storable addresses."""

from __future__ import annotations

from registry.models import Message
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE


def source_label(source: str | None, source_message: Message | None) -> str:
    if source:
        return source[:32]
    return "uftp" if source_message is not None else ""


def is_storable(address: str) -> bool:
    # Invalid addresses are reported as reasons; keep them out of the database work.
    return bool(ENTITY_ADDRESS_RE.fullmatch(address))
