"""The sweep: dispatch again every message left in a non-final state (broker down, worker killed)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from registry import dispatch
from registry.models import Message


@dataclass(frozen=True)
class SweepReport:
    inbound: int
    outbound: int


def messages_sweep(*, older_than_seconds: int | None = None) -> SweepReport:
    """Re-dispatch stuck messages. Safe to run any time: the tasks are idempotent."""
    if older_than_seconds is None:
        older_than_seconds = settings.CRO_SWEEP_AFTER_SECONDS
    now = timezone.now()
    cutoff = now - dt.timedelta(seconds=older_than_seconds)
    inbound = list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            status__in=[Message.Status.RECEIVED, Message.Status.PROCESSING],
            updated_at__lte=cutoff,
        ).values_list("pk", flat=True)
    )
    # A queued delivery whose next attempt is overdue by the margin lost its task.
    outbound = list(
        Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.RESPONSE_QUEUED)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=cutoff))
        .values_list("pk", flat=True)
    )
    dispatch.messages_stuck_redispatch(message_pks=inbound)
    for pk in outbound:
        dispatch.message_delivery_enqueue(message_pk=pk)
    return SweepReport(inbound=len(inbound), outbound=len(outbound))
