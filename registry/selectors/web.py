"""Reads for the administrators' web interface.

Every function answers in a fixed number of SQL queries, whatever the size of the registry or
the message log: lists are lazy querysets with select_related/prefetch_related (the views
paginate them), the rest aggregates in the database.

Days are calendar days of the market time zone (settings.CRO_TIME_ZONE).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from cro.signing import cro_public_key
from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    CsvImport,
    Membership,
    Message,
    Participant,
    Representation,
)
from registry.uftp import codec, errors
from registry.uftp import messages as uftp

# Messages not final after this long need an administrator's look.
STUCK_AFTER = dt.timedelta(minutes=15)


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


# ------------------------------------------------------------------------------ dashboard


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
    failed = failed_delivery_list().count()
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
        failed_deliveries=failed,
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


def stuck_message_list(*, now: dt.datetime | None = None) -> QuerySet[Message]:
    """Messages left in a non-final state for longer than STUCK_AFTER (the worker may be down)."""
    now = now or timezone.now()
    return (
        Message.objects.exclude(status__in=Message.FINAL_STATUSES)
        .filter(updated_at__lt=now - STUCK_AFTER)
        .select_related("participant")
        .order_by("updated_at", "id")
    )


# ------------------------------------------------------------------------------ participants


def participant_list(*, role: str = "", status: str = "", q: str = "") -> QuerySet[Participant]:
    queryset = Participant.objects.order_by("domain", "role")
    if role:
        queryset = queryset.filter(role=role)
    if status:
        queryset = queryset.filter(status=status)
    if q:
        queryset = queryset.filter(Q(domain__icontains=q) | Q(endpoint_url__icontains=q))
    return queryset


@dataclass(frozen=True, kw_only=True)
class ParticipantSummary:
    congestion_points: int
    represented_connections: int
    messages_in: int
    messages_out: int


def participant_summary(*, participant: Participant) -> ParticipantSummary:
    """What the participant holds in the registry and the log (3 queries)."""
    messages = Message.objects.filter(participant=participant).aggregate(
        inbound=Count("pk", filter=Q(direction=Message.Direction.INBOUND)),
        outbound=Count("pk", filter=Q(direction=Message.Direction.OUTBOUND)),
    )
    return ParticipantSummary(
        congestion_points=CongestionPoint.objects.filter(dso=participant).count()
        if participant.role == Participant.Role.DSO
        else 0,
        represented_connections=Representation.objects.current()
        .filter(agr=participant)
        .values("connection_address")
        .distinct()
        .count()
        if participant.role == Participant.Role.AGR
        else 0,
        messages_in=messages["inbound"],
        messages_out=messages["outbound"],
    )


def participant_test_messages(*, participant: Participant, limit: int = 20) -> list[Message]:
    """The CRO's TestMessages to this participant, newest first, each with `answers` (2 queries)."""
    return list(
        Message.objects.filter(
            participant=participant,
            direction=Message.Direction.OUTBOUND,
            message_type=uftp.TestMessage.message_type,
        )
        .prefetch_related(
            Prefetch(
                "responses",
                queryset=Message.objects.filter(direction=Message.Direction.INBOUND).order_by(
                    "created_at", "id"
                ),
                to_attr="answers",
            )
        )
        .order_by("-created_at", "-id")[:limit]
    )


def participant_recent_messages(*, participant: Participant, limit: int = 10) -> list[Message]:
    return list(Message.objects.filter(participant=participant).order_by("-created_at", "-id")[:limit])


# ------------------------------------------------------------------------------ registry


@dataclass(frozen=True, kw_only=True)
class RegistryFilter:
    """The registry page's selection: what the list shows and the CSV export writes."""

    dso: Participant | None = None
    agr: Participant | None = None
    day: dt.date | None = None  # active on this day; None: every current row, whatever its Period
    as_of: dt.datetime | None = None  # as known at this moment; None: now
    q: str = ""


def _registry_rows(selection: RegistryFilter) -> tuple[QuerySet, QuerySet]:
    """(versions, memberships) querysets of the selection, not yet restricted to CPs."""
    versions = CongestionPointVersion.objects.known_at(selection.as_of)
    memberships = Membership.objects.known_at(selection.as_of)
    if selection.day is not None:
        versions = versions.active_on(selection.day)
        memberships = memberships.active_on(selection.day)
    if selection.agr is not None:
        representations = Representation.objects.known_at(selection.as_of).filter(agr=selection.agr)
        if selection.day is not None:
            representations = representations.active_on(selection.day)
        # IN (not a correlated EXISTS): SQLite builds the list once, instead of probing the
        # AGR's partial index for every membership.
        memberships = memberships.filter(connection_address__in=representations.values("connection_address"))
    return versions, memberships


def congestion_point_list(
    *, selection: RegistryFilter, connections_per_cp: int = 50
) -> QuerySet[CongestionPoint]:
    """CPs of the selection, per DSO then by address (lazy; 3 queries per page when evaluated).

    Each CP carries `version_list` (its attributes: one row) and `membership_list` (its first
    `connections_per_cp` connections of the selection, sorted); `connection_counts` gives the
    totals for a page. With an AGR in the selection only CPs holding that AGR's connections are
    listed, and only those connections.
    """
    versions, memberships = _registry_rows(selection)
    return (
        _congestion_points_selected(selection=selection, versions=versions, memberships=memberships)
        .select_related("dso")
        .prefetch_related(
            Prefetch("versions", queryset=versions, to_attr="version_list"),
            Prefetch(
                "memberships",
                queryset=memberships.order_by("connection_address", "start_period", "id")[
                    :connections_per_cp
                ],
                to_attr="membership_list",
            ),
        )
        .order_by("dso__domain", "entity_address")
    )


def connection_counts(*, selection: RegistryFilter, congestion_point_ids: list[int]) -> dict[int, int]:
    """How many connections of the selection each of these CPs holds (1 query)."""
    if not congestion_point_ids:
        return {}
    _, memberships = _registry_rows(selection)
    return dict(
        memberships.filter(congestion_point_id__in=congestion_point_ids)
        .order_by()
        .values("congestion_point_id")
        .annotate(n=Count("pk"))
        .values_list("congestion_point_id", "n")
    )


def _congestion_points_selected(
    *, selection: RegistryFilter, versions: QuerySet, memberships: QuerySet
) -> QuerySet[CongestionPoint]:
    queryset = CongestionPoint.objects.filter(Exists(versions.filter(congestion_point=OuterRef("pk"))))
    if selection.dso is not None:
        queryset = queryset.filter(dso=selection.dso)
    if selection.agr is not None:
        queryset = queryset.filter(Exists(memberships.filter(congestion_point=OuterRef("pk"))))
    if selection.q:
        queryset = queryset.filter(
            Q(entity_address__icontains=selection.q)
            | Exists(
                memberships.filter(congestion_point=OuterRef("pk"), connection_address__icontains=selection.q)
            )
        )
    return queryset


def representations_of(
    *, addresses: list[str], day: dt.date | None = None, as_of: dt.datetime | None = None
) -> dict[str, list[Representation]]:
    """Who represents each of `addresses` (on `day`, or every current row), as known at `as_of` (1 query)."""
    if not addresses:
        return {}
    rows = Representation.objects.known_at(as_of).filter(connection_address__in=addresses)
    if day is not None:
        rows = rows.active_on(day)
    found: dict[str, list[Representation]] = defaultdict(list)
    for row in rows.select_related("agr").order_by("connection_address", "start_period", "id"):
        found[row.connection_address].append(row)
    return found


EXPORT_COLUMNS = (
    "congestion_point",
    "cp_start",
    "cp_end",
    "mutex_offers_supported",
    "day_ahead_redispatch_by",
    "intraday_redispatch_by",
    "connection",
    "connection_start",
    "connection_end",
)


def registry_export_rows(*, selection: RegistryFilter) -> Iterator[tuple[str, ...]]:
    """The selection as CSV rows (EXPORT_COLUMNS), one per connection, sorted (3 queries).

    A CP without a connection in the selection gets one row with empty connection columns, so
    that exporting a DSO's portfolio and importing it again changes nothing.
    """
    versions, memberships = _registry_rows(selection)
    cp_ids = _congestion_points_selected(
        selection=selection, versions=versions, memberships=memberships
    ).values("pk")
    version_by_cp = {
        row["congestion_point_id"]: row
        for row in versions.filter(congestion_point_id__in=cp_ids).values(
            "congestion_point_id",
            "congestion_point__entity_address",
            "start_period",
            "end_period",
            "mutex_offers_supported",
            "day_ahead_redispatch_by",
            "intraday_redispatch_by",
        )
    }
    members: dict[int, list[tuple[str, dt.date, dt.date | None]]] = defaultdict(list)
    for cp_id, address, start, end in (
        memberships.filter(congestion_point_id__in=cp_ids)
        .order_by("connection_address", "start_period", "id")
        .values_list("congestion_point_id", "connection_address", "start_period", "end_period")
        .iterator(chunk_size=5000)
    ):
        members[cp_id].append((address, start, end))
    for version in sorted(version_by_cp.values(), key=lambda row: row["congestion_point__entity_address"]):
        cp_columns = (
            version["congestion_point__entity_address"],
            version["start_period"].isoformat(),
            version["end_period"].isoformat() if version["end_period"] else "",
            "true" if version["mutex_offers_supported"] else "false",
            version["day_ahead_redispatch_by"],
            version["intraday_redispatch_by"] or "",
        )
        rows = members.get(version["congestion_point_id"], [])
        if not rows:
            yield (*cp_columns, "", "", "")
        for address, start, end in rows:
            yield (*cp_columns, address, start.isoformat(), end.isoformat() if end else "")


def congestion_point_get(*, pk: int) -> CongestionPoint | None:
    return CongestionPoint.objects.select_related("dso").filter(pk=pk).first()


def congestion_point_memberships(*, congestion_point: CongestionPoint) -> QuerySet[Membership]:
    """Every membership row ever recorded for a CP, per connection then in transaction time (lazy)."""
    return (
        Membership.objects.filter(congestion_point=congestion_point)
        .select_related("recorded_by", "superseded_by")
        .order_by("connection_address", "recorded_at", "id")
    )


def congestion_point_versions(*, congestion_point: CongestionPoint) -> QuerySet[CongestionPointVersion]:
    return (
        CongestionPointVersion.objects.filter(congestion_point=congestion_point)
        .select_related("recorded_by", "superseded_by")
        .order_by("recorded_at", "id")
    )


def participants_of_role(*, role: str) -> QuerySet[Participant]:
    return Participant.objects.filter(role=role).order_by("domain")


# ------------------------------------------------------------------------------ messages


@dataclass(frozen=True, kw_only=True)
class MessageFilter:
    direction: str = ""
    message_type: str = ""
    participant: Participant | None = None
    status: str = ""
    result: str = ""
    day: dt.date | None = None
    q: str = ""  # MessageID or ConversationID (or part of one)


def message_list(*, selection: MessageFilter) -> QuerySet[Message]:
    queryset = Message.objects.select_related("participant").order_by("-created_at", "-id")
    if selection.direction:
        queryset = queryset.filter(direction=selection.direction)
    if selection.message_type:
        queryset = queryset.filter(message_type=selection.message_type)
    if selection.participant is not None:
        queryset = queryset.filter(participant=selection.participant)
    if selection.status:
        queryset = queryset.filter(status=selection.status)
    if selection.result:
        queryset = queryset.filter(result=selection.result)
    if selection.day is not None:
        start, end = market_day_bounds(selection.day)
        queryset = queryset.filter(created_at__gte=start, created_at__lt=end)
    if selection.q:
        queryset = queryset.filter(
            Q(message_id__icontains=selection.q) | Q(conversation_id__icontains=selection.q)
        )
    return queryset


def message_types() -> list[str]:
    """Every message type the CRO reads or writes, for the filter."""
    return sorted(codec.ALL_MESSAGE_TYPES)


def message_get(*, pk: int) -> Message | None:
    return Message.objects.select_related("participant", "request").filter(pk=pk).first()


def message_responses(*, message: Message) -> list[Message]:
    return list(message.responses.select_related("participant").order_by("created_at", "id"))


def conversation_messages(*, conversation_id: str) -> list[Message]:
    """Every message of one conversation, oldest first (1 query)."""
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("participant", "request")
        .order_by("created_at", "id")
    )


def failed_delivery_list() -> QuerySet[Message]:
    """Outbound messages whose delivery failed for good: they wait for an administrator's retry."""
    return (
        Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED)
        .select_related("participant", "request")
        .order_by("-updated_at", "-id")
    )


@dataclass(frozen=True, kw_only=True)
class SignatureStatus:
    valid: bool
    detail: str


def message_signature_status(*, message: Message) -> SignatureStatus:
    """Verify the stored SignedMessage again: inbound with the participant's keys, outbound with the CRO's."""
    try:
        envelope = codec.parse_signed_message(
            message.signed_xml.encode("utf-8"), max_bytes=settings.CRO_MAX_MESSAGE_BYTES
        )
    except errors.UFTPError as exc:
        return SignatureStatus(valid=False, detail=f"the stored SignedMessage cannot be read: {exc}")
    if message.direction == Message.Direction.OUTBOUND:
        candidates = [("the CRO's current key", cro_public_key())]
    elif message.participant is None:
        return SignatureStatus(valid=False, detail="no participant record to take the sender's keys from")
    else:
        candidates = [("the participant's current key", message.participant.public_key)]
        if message.participant.public_key_previous:
            candidates.append(("the participant's previous key", message.participant.public_key_previous))
    if envelope.sender_domain != message.sender_domain or envelope.sender_role != message.sender_role:
        return SignatureStatus(
            valid=False,
            detail=f"the envelope names {envelope.sender_domain} ({envelope.sender_role}), "
            f"not {message.sender_domain} ({message.sender_role})",
        )
    for label, key in candidates:
        try:
            inner = codec.open_body(envelope.body, [key])
        except errors.UFTPError:
            continue
        if inner != message.inner_xml.encode("utf-8"):
            return SignatureStatus(
                valid=False, detail=f"verifies with {label}, but the signed body differs from the stored XML"
            )
        return SignatureStatus(valid=True, detail=f"verifies with {label}")
    return SignatureStatus(
        valid=False, detail=f"does not verify with {' or '.join(label for label, _ in candidates)}"
    )


# ------------------------------------------------------------------------------ CSV imports


def csv_import_list() -> QuerySet[CsvImport]:
    return (
        CsvImport.objects.select_related("dso", "created_by").defer("csv_text").order_by("-created_at", "-id")
    )


def csv_import_get(*, pk: int) -> CsvImport | None:
    return CsvImport.objects.select_related("dso", "created_by").filter(pk=pk).first()
