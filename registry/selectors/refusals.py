"""Reads of the refused-request counters (models.RefusalCount)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Max, Min, QuerySet, Sum
from django.utils import timezone

from registry.models import Participant, RefusalCount


def refusal_list(
    *,
    sender_domain: str = "",
    sender_role: str = "",
    client_address: str = "",
    status: int | None = None,
    since: dt.datetime | None = None,
) -> QuerySet[RefusalCount]:
    """The per-minute counters, newest first, filtered by the given fields."""
    rows = RefusalCount.objects.all()
    if sender_domain:
        rows = rows.filter(sender_domain=sender_domain)
    if sender_role:
        rows = rows.filter(sender_role=sender_role)
    if client_address:
        rows = rows.filter(client_address=client_address)
    if status is not None:
        rows = rows.filter(status=status)
    if since is not None:
        rows = rows.filter(minute__gte=since.replace(second=0, microsecond=0))
    return rows.order_by("-minute", "-last_at", "-id")


@dataclass(frozen=True, kw_only=True)
class RefusalSummary:
    status: int
    reason_kind: str
    count: int
    first_at: dt.datetime
    last_at: dt.datetime
    addresses: int

    def __str__(self) -> str:
        plural = "request" if self.count == 1 else "requests"
        since = timezone.localtime(self.first_at)
        return f"{self.count} {plural} refused since {since:%H:%M}: {self.reason_kind} ({self.status})"


def participant_refusal_summary(
    *, participant: Participant, hours: int = 24, now: dt.datetime | None = None
) -> list[RefusalSummary]:
    """Refusals of requests claiming to come from `participant` in the last `hours`, grouped
    by status and kind of reason, most frequent first (1 query)."""
    since = (now or timezone.now()) - dt.timedelta(hours=hours)
    rows = (
        refusal_list(sender_domain=participant.domain, sender_role=participant.role, since=since)
        .order_by()
        .values("status", "reason_kind")
        .annotate(
            total=Sum("count"),
            first=Min("first_at"),
            last=Max("last_at"),
            addresses=Count("client_address", distinct=True),
        )
        .order_by("-total", "status", "reason_kind")
    )
    return [
        RefusalSummary(
            status=row["status"],
            reason_kind=row["reason_kind"],
            count=row["total"],
            first_at=row["first"],
            last_at=row["last"],
            addresses=row["addresses"],
        )
        for row in rows
    ]
