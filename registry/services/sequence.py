"""The administrators' way out of a far-future TimeStamp (cro-rules §3 item 9).

Each congestion point, and each connection per AGR, remembers the TimeStamp of the newest update
applied to it; an older update is "Subordinate sequence number". Updates stamped too far ahead are
refused now, but one applied before that rule (or with a wrong clock within the tolerance) can still
hold an entity: resetting its last TimeStamp to now lets the participant's next update through.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from registry.models import CongestionPoint, Participant, RepresentationSequence

audit_logger = logging.getLogger("registry.audit")


@dataclass(frozen=True, kw_only=True)
class TimeStampReset:
    participant: Participant
    entity_address: str
    previous: dt.datetime | None
    current: dt.datetime


def entity_time_stamp_reset(
    *, participant: Participant, entity_address: str, reset_by: str
) -> TimeStampReset:
    """Set the last TimeStamp of `participant`'s entity to now (a DSO's congestion point, an AGR's
    connection) and write who did it to the audit log. ValidationError when there is none."""
    now = timezone.now()
    row: CongestionPoint | RepresentationSequence | None
    with transaction.atomic():
        if participant.role == Participant.Role.DSO:
            row = (
                CongestionPoint.objects.select_for_update()
                .filter(dso=participant, entity_address=entity_address)
                .first()
            )
        else:
            row = (
                RepresentationSequence.objects.select_for_update()
                .filter(agr=participant, connection__entity_address=entity_address)
                .first()
            )
        if row is None:
            raise ValidationError(
                {"entity_address": f"{participant} has no update recorded for {entity_address!r}"}
            )
        previous = row.last_time_stamp
        row.last_time_stamp = now
        row.save(update_fields=["last_time_stamp"])
    audit_logger.warning(
        "last TimeStamp of %s for %s reset from %s to %s by %s",
        entity_address,
        participant,
        previous.isoformat() if previous else "none",
        now.isoformat(),
        reset_by,
    )
    return TimeStampReset(
        participant=participant, entity_address=entity_address, previous=previous, current=now
    )
