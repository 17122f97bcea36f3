"""Record a request the UFTP endpoint refused, in a bounded way.

A refusal is one upsert of a per-minute counter row keyed by (claimed sender, client address,
status, kind of reason). The number of distinct keys a minute can create is capped
(CRO_REFUSALS_MAX_ROWS_PER_MINUTE): past the cap, refusals are folded into one overflow row
per status, so a flood of forged senders from many addresses stays a bounded number of rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from registry.models import RefusalCount
from registry.uftp import codec, errors

logger = logging.getLogger("registry.ops")

OVERFLOW_ADDRESS = "*"
OVERFLOW_KIND = "(more distinct refusals than the per-minute limit)"

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_UNKNOWN_SENDER = re.compile(r"^unknown sender\b.*")
_CLAIM_PEEK_BYTES = 64 * 1024


def refusal_reason_kind(reason: str) -> str:
    """The reason without its variable part: the text before the first colon, quoted values
    and sender names removed ("signature does not verify: ..." -> "signature does not verify")."""
    kind = reason.split(":", 1)[0]
    kind = _UNKNOWN_SENDER.sub("unknown sender", kind)
    kind = _QUOTED.sub("…", kind).strip()
    return kind[: RefusalCount.KIND_MAX_LENGTH] or "(no reason)"


def refusal_claimed_sender(*, data: bytes | None) -> tuple[str, str]:
    """(SenderDomain, SenderRole) the refused body claims, or ("", "") when unreadable."""
    if not data:
        return "", ""
    try:
        envelope = codec.parse_signed_message(data, max_bytes=settings.CRO_MAX_MESSAGE_BYTES)
    except errors.UFTPError:
        return "", ""
    return envelope.sender_domain[:253], str(envelope.sender_role)[:3]


def refusal_record(
    *,
    status: int,
    reason: str,
    client_address: str,
    sender_domain: str = "",
    sender_role: str = "",
    now: dt.datetime | None = None,
) -> None:
    """Count one refusal. Never raises: a refusal is answered whatever the database does."""
    now = now or timezone.now()
    try:
        with transaction.atomic():
            _count(
                minute=now.replace(second=0, microsecond=0),
                now=now,
                status=status,
                reason=reason[: RefusalCount.REASON_MAX_LENGTH],
                reason_kind=refusal_reason_kind(reason),
                client_address=client_address[:45],
                sender_domain=sender_domain[:253],
                sender_role=sender_role[:3],
            )
    except DatabaseError:
        logger.exception("could not record a refusal")


def _count(*, minute, now, status, reason, reason_kind, client_address, sender_domain, sender_role) -> None:
    key = {
        "minute": minute,
        "sender_domain": sender_domain,
        "sender_role": sender_role,
        "client_address": client_address,
        "status": status,
        "reason_kind": reason_kind,
    }
    if _increment(key=key, reason=reason, now=now):
        return
    if RefusalCount.objects.filter(minute=minute).count() >= settings.CRO_REFUSALS_MAX_ROWS_PER_MINUTE:
        key = {
            "minute": minute,
            "sender_domain": "",
            "sender_role": "",
            "client_address": OVERFLOW_ADDRESS,
            "status": status,
            "reason_kind": OVERFLOW_KIND,
        }
        if _increment(key=key, reason=reason, now=now):
            return
    try:
        with transaction.atomic():
            RefusalCount.objects.create(**key, last_reason=reason, count=1, first_at=now, last_at=now)
    except IntegrityError:
        # Another process created the row in between: count on it.
        _increment(key=key, reason=reason, now=now)
        return
    _purge_old(now=now)


def _increment(*, key: dict, reason: str, now: dt.datetime) -> bool:
    return bool(
        RefusalCount.objects.filter(**key).update(count=F("count") + 1, last_reason=reason, last_at=now)
    )


def _purge_old(*, now: dt.datetime) -> None:
    """Done when a row is created (at most the per-minute cap times a minute), not per refusal."""
    if settings.CRO_REFUSALS_RETENTION_DAYS > 0:
        RefusalCount.objects.filter(
            minute__lt=now - dt.timedelta(days=settings.CRO_REFUSALS_RETENTION_DAYS)
        ).delete()
