"""The registry as known at a moment T and active on a day D: one definition, used by the worker's
query answers (registry.selectors.portfolio_queries), the web pages and the REST API alike.

`as_of` is a moment in transaction time: None answers from the current rows, a datetime answers
"as the registry knew it at that moment". `day` is a calendar date (a Period): None keeps rows
whatever their Period range. Lists are lazy querysets whose prefetches cost one query each, so a
page costs a fixed number of SQL queries whatever the size of the registry.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, DateField, Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from registry.models import CongestionPoint, CongestionPointVersion, Membership, Participant, Representation

# CPs whose memberships one export query reads (a national CP holds up to a few thousand).
EXPORT_CPS_PER_QUERY = 20
# The open end of a Period range, for overlap tests in SQL.
_FAR_FUTURE = Value(dt.date.max, output_field=DateField())


@dataclass(frozen=True, kw_only=True)
class RegistryFilter:
    """A selection of the registry: what the web page and the API list, and the CSV export writes."""

    as_of: dt.datetime | None = None  # as known at this moment; None: now
    day: dt.date | None = None  # active on this day; None: every row known, whatever its Period
    dso: Participant | None = None
    # Only CPs holding a connection this AGR (a participant, or an AGR's domain) represents, and
    # only those connections.
    agr: Participant | str | None = None
    connection: str = ""  # only CPs holding this connection (exact address)
    q: str = ""  # part of a CP's address, or a connection's whole address (connection_search_addresses)


@dataclass(frozen=True, kw_only=True)
class RegistryRows:
    """The three bitemporal tables as known at `as_of` and (if a day is given) active on `day`."""

    versions: QuerySet[CongestionPointVersion]
    memberships: QuerySet[Membership]
    representations: QuerySet[Representation]


def registry_rows(
    *, as_of: dt.datetime | None = None, day: dt.date | None = None, agr: Participant | str | None = None
) -> RegistryRows:
    """CP versions, memberships and representations known at `as_of`, active on `day` (lazy, no query).

    With `agr` the representations are that AGR's, and the memberships only those of connections it
    represents: on `day`, or without a day at some time during the membership's Period range.
    """
    versions = CongestionPointVersion.objects.known_at(as_of)
    memberships = Membership.objects.known_at(as_of)
    representations = Representation.objects.known_at(as_of)
    if day is not None:
        versions = versions.active_on(day)
        memberships = memberships.active_on(day)
        representations = representations.active_on(day)
    if agr is not None:
        if isinstance(agr, Participant):
            representations = representations.filter(agr=agr)
        else:
            representations = representations.filter(agr__domain=agr, agr__role=Participant.Role.AGR)
        if day is not None:
            # IN (not a correlated EXISTS): SQLite builds the list once, instead of probing the
            # AGR's partial index for every membership.
            memberships = memberships.filter(
                connection_address__in=representations.values("connection_address")
            )
        else:
            overlapping = representations.filter(
                Q(connection_address=OuterRef("connection_address"))
                & Q(start_period__lte=Coalesce(OuterRef("end_period"), _FAR_FUTURE))
                & (Q(end_period__isnull=True) | Q(end_period__gte=OuterRef("start_period")))
            )
            memberships = memberships.filter(Exists(overlapping))
    return RegistryRows(versions=versions, memberships=memberships, representations=representations)


def congestion_point_base_list() -> QuerySet[CongestionPoint]:
    """Every congestion point ever registered, by address (the API narrows it with its filters)."""
    return CongestionPoint.objects.order_by("entity_address")


def congestion_point_state_list(
    *,
    selection: RegistryFilter,
    queryset: QuerySet[CongestionPoint] | None = None,
    connections_per_cp: int | None = None,
) -> QuerySet[CongestionPoint]:
    """CPs of the selection (lazy; 3 queries when evaluated), per DSO then by address unless a
    `queryset` (already narrowed and ordered) is given.

    Each CP carries `state_versions` (its one version then: the attributes) and `state_memberships`
    (its connections of the selection, sorted; the first `connections_per_cp` if given).
    """
    rows = registry_rows(as_of=selection.as_of, day=selection.day, agr=selection.agr)
    if queryset is None:
        queryset = CongestionPoint.objects.order_by("dso__domain", "entity_address")
    memberships = rows.memberships.order_by("connection_address", "start_period", "id")
    if connections_per_cp is not None:
        memberships = memberships[:connections_per_cp]
    return (
        _congestion_points_selected(selection=selection, rows=rows, queryset=queryset)
        .select_related("dso")
        .prefetch_related(
            Prefetch(
                "versions", queryset=rows.versions.order_by("-recorded_at", "-id"), to_attr="state_versions"
            ),
            Prefetch("memberships", queryset=memberships, to_attr="state_memberships"),
        )
    )


def congestion_point_connection_counts(
    *, selection: RegistryFilter, congestion_point_ids: list[int]
) -> dict[int, int]:
    """How many connections of the selection each of these CPs holds (1 query)."""
    if not congestion_point_ids:
        return {}
    rows = registry_rows(as_of=selection.as_of, day=selection.day, agr=selection.agr)
    return dict(
        rows.memberships.filter(congestion_point_id__in=congestion_point_ids)
        .order_by()
        .values("congestion_point_id")
        .annotate(n=Count("pk"))
        .values_list("congestion_point_id", "n")
    )


def representations_by_connection(
    *, addresses: list[str], day: dt.date | None = None, as_of: dt.datetime | None = None
) -> dict[str, list[Representation]]:
    """Who represents each of `addresses` (on `day`, or any Period), as known at `as_of` (1 query)."""
    if not addresses:
        return {}
    found: dict[str, list[Representation]] = defaultdict(list)
    for row in (
        registry_rows(as_of=as_of, day=day)
        .representations.filter(connection_address__in=addresses)
        .select_related("agr")
        .order_by("connection_address", "start_period", "id")
    ):
        found[row.connection_address].append(row)
    return found


def agr_portfolio_state_list(
    *,
    queryset: QuerySet[Participant],
    as_of: dt.datetime | None = None,
    day: dt.date | None = None,
    connection: str = "",
) -> QuerySet[Participant]:
    """AGRs with at least one representation known at `as_of` (active on `day`); `connection`
    keeps the AGRs that represent that connection. Their connections: agr_portfolio_connections."""
    representations = registry_rows(as_of=as_of, day=day).representations
    queryset = queryset.filter(role=Participant.Role.AGR).filter(
        Exists(representations.filter(agr=OuterRef("pk")))
    )
    if connection:
        queryset = queryset.filter(
            Exists(representations.filter(agr=OuterRef("pk"), connection_address=connection))
        )
    return queryset


def agr_portfolio_connections(
    *, agr: Participant, as_of: dt.datetime | None = None, day: dt.date | None = None
) -> QuerySet:
    """The AGR's representations known at `as_of` (active on `day`), by connection address."""
    return (
        registry_rows(as_of=as_of, day=day)
        .representations.filter(agr=agr)
        .order_by("connection_address", "start_period", "id")
    )


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
    """The selection as CSV rows (EXPORT_COLUMNS), one per connection, sorted by CP then connection.

    A CP without a connection in the selection gets one row with empty connection columns, so
    that exporting a DSO's portfolio and importing it again changes nothing. Rows are streamed:
    the memberships are read a few CPs at a time (EXPORT_CPS_PER_QUERY, by their CP's index), so
    memory and each query follow the CPs exported, not the registry.
    """
    rows = registry_rows(as_of=selection.as_of, day=selection.day, agr=selection.agr)
    cp_ids = _congestion_points_selected(
        selection=selection, rows=rows, queryset=CongestionPoint.objects.all()
    ).values("pk")
    versions = sorted(
        {
            row["congestion_point_id"]: row
            for row in rows.versions.filter(congestion_point_id__in=cp_ids).values(
                "congestion_point_id",
                "congestion_point__entity_address",
                "start_period",
                "end_period",
                "mutex_offers_supported",
                "day_ahead_redispatch_by",
                "intraday_redispatch_by",
            )
        }.values(),
        key=lambda row: row["congestion_point__entity_address"],
    )
    for start in range(0, len(versions), EXPORT_CPS_PER_QUERY):
        chunk = versions[start : start + EXPORT_CPS_PER_QUERY]
        members: dict[int, list[tuple[str, dt.date, dt.date | None]]] = defaultdict(list)
        for cp_id, address, start_period, end_period in (
            rows.memberships.filter(congestion_point_id__in=[row["congestion_point_id"] for row in chunk])
            .order_by("connection_address", "start_period", "id")
            .values_list("congestion_point_id", "connection_address", "start_period", "end_period")
        ):
            members[cp_id].append((address, start_period, end_period))
        for version in chunk:
            cp_columns = (
                version["congestion_point__entity_address"],
                version["start_period"].isoformat(),
                version["end_period"].isoformat() if version["end_period"] else "",
                "true" if version["mutex_offers_supported"] else "false",
                version["day_ahead_redispatch_by"],
                version["intraday_redispatch_by"] or "",
            )
            connections = members.pop(version["congestion_point_id"], [])
            if not connections:
                yield (*cp_columns, "", "", "")
            for address, start_period, end_period in connections:
                yield (
                    *cp_columns,
                    address,
                    start_period.isoformat(),
                    end_period.isoformat() if end_period else "",
                )


def _congestion_points_selected(
    *, selection: RegistryFilter, rows: RegistryRows, queryset: QuerySet[CongestionPoint]
) -> QuerySet[CongestionPoint]:
    """The CPs with a version in `rows`, narrowed by the selection's DSO, AGR, connection and text."""
    queryset = queryset.filter(Exists(rows.versions.filter(congestion_point=OuterRef("pk"))))
    if selection.dso is not None:
        queryset = queryset.filter(dso=selection.dso)
    if selection.agr is not None:
        queryset = queryset.filter(Exists(rows.memberships.filter(congestion_point=OuterRef("pk"))))
    if selection.connection:
        queryset = queryset.filter(
            Exists(
                rows.memberships.filter(
                    congestion_point=OuterRef("pk"), connection_address=selection.connection
                )
            )
        )
    if selection.q:
        queryset = queryset.filter(
            Q(entity_address__icontains=selection.q)
            | Exists(
                rows.memberships.filter(
                    congestion_point=OuterRef("pk"),
                    connection_address__in=connection_search_addresses(q=selection.q),
                )
            )
        )
    return queryset


def connection_search_addresses(*, q: str) -> list[str]:
    """The connection addresses a search text stands for: the whole address, the "ean." one may
    leave out included. Part of a CP's address is searched as text (the CPs are tens of thousands),
    a connection by its whole address only: a part of one would read every membership (millions)
    where a whole one is an index probe."""
    q = q.strip()
    addresses = [q]
    if "." not in q.partition(":")[0]:
        addresses.append(f"ean.{q}")
    return addresses
