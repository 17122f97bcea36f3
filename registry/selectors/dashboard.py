"""The dashboard's numbers: what the registry holds, today's traffic, what needs an administrator.

Every function answers in a fixed number of SQL queries, aggregating in the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from registry.models import CongestionPointVersion, Membership, Message, Participant
from registry.selectors.market_days import market_day_bounds, market_today, market_zone
from registry.selectors.messages import stuck_message_list


@dataclass(frozen=True, kw_only=True)
class DashboardCounts:
    participants_active: int
    participants_barred: int
    dsos: int
    agrs: int
    congestion_points: int
    congestion_points_active_today: int
    connections: int
    connections_active_today: int
    messages_today_in: int
    messages_today_out: int
    failed_deliveries: int
    # Outbound messages still queued after at least one failed attempt (apart from the failed).
    deliveries_retrying: int
    stuck_messages: int

    @property
    def participants(self) -> int:
        return self.participants_active + self.participants_barred

    @property
    def messages_today(self) -> int:
        return self.messages_today_in + self.messages_today_out


def dashboard_counts(*, today: dt.date | None = None) -> DashboardCounts:
    """The dashboard's numbers (6 queries)."""
    today = today or market_today()
    participants = Participant.objects.aggregate(
        active=Count("pk", filter=Q(status=Participant.Status.ACTIVE)),
        barred=Count("pk", filter=Q(status=Participant.Status.BARRED)),
        dsos=Count("pk", filter=Q(role=Participant.Role.DSO)),
        agrs=Count("pk", filter=Q(role=Participant.Role.AGR)),
    )
    versions = CongestionPointVersion.objects.current().aggregate(
        total=Count("pk"),
        active=Count(
            "pk", filter=Q(start_period__lte=today) & (Q(end_period__isnull=True) | Q(end_period__gte=today))
        ),
    )
    connections = Membership.objects.current().aggregate(
        total=Count("connection_address", distinct=True),
        active=Count(
            "connection_address",
            distinct=True,
            filter=Q(start_period__lte=today) & (Q(end_period__isnull=True) | Q(end_period__gte=today)),
        ),
    )
    start, end = market_day_bounds(today)
    messages_today = Message.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        inbound=Count("pk", filter=Q(direction=Message.Direction.INBOUND)),
        outbound=Count("pk", filter=Q(direction=Message.Direction.OUTBOUND)),
    )
    deliveries = Message.objects.filter(direction=Message.Direction.OUTBOUND).aggregate(
        failed=Count("pk", filter=Q(status=Message.Status.FAILED)),
        retrying=Count("pk", filter=Q(status=Message.Status.RESPONSE_QUEUED, attempts__gte=1)),
    )
    stuck = stuck_message_list().count()
    return DashboardCounts(
        participants_active=participants["active"],
        participants_barred=participants["barred"],
        dsos=participants["dsos"],
        agrs=participants["agrs"],
        congestion_points=versions["total"],
        congestion_points_active_today=versions["active"],
        connections=connections["total"],
        connections_active_today=connections["active"],
        messages_today_in=messages_today["inbound"],
        messages_today_out=messages_today["outbound"],
        failed_deliveries=deliveries["failed"],
        deliveries_retrying=deliveries["retrying"],
        stuck_messages=stuck,
    )


@dataclass(frozen=True, kw_only=True)
class HourCount:
    hour: dt.datetime  # aware, start of the hour, in the market time zone
    inbound: int
    outbound: int

    @property
    def total(self) -> int:
        return self.inbound + self.outbound


def messages_per_hour(*, hours: int = 72, now: dt.datetime | None = None) -> list[HourCount]:
    """Messages in and out per hour over the last `hours` hours, oldest first, gaps as zero (1 query)."""
    now = now or timezone.now()
    zone = market_zone()
    last_hour = now.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    first_hour = last_hour - dt.timedelta(hours=hours - 1)
    rows = (
        Message.objects.filter(created_at__gte=first_hour)
        .annotate(hour=TruncHour("created_at", tzinfo=dt.UTC))
        .order_by()
        .values("hour", "direction")
        .annotate(n=Count("pk"))
    )
    counts: dict[tuple[dt.datetime, str], int] = {}
    for row in rows:
        hour = row["hour"]
        if timezone.is_naive(hour):
            hour = hour.replace(tzinfo=dt.UTC)
        counts[(hour.astimezone(dt.UTC), row["direction"])] = row["n"]
    result = []
    for index in range(hours):
        # Step in UTC so that DST days keep every hour once.
        hour = (first_hour.astimezone(dt.UTC) + dt.timedelta(hours=index)).astimezone(zone)
        key = hour.astimezone(dt.UTC)
        result.append(
            HourCount(
                hour=hour,
                inbound=counts.get((key, Message.Direction.INBOUND), 0),
                outbound=counts.get((key, Message.Direction.OUTBOUND), 0),
            )
        )
    return result
