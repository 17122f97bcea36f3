"""The answers to the portfolio queries (cro-rules §5), built on the registry as known at T and
active on D (registry.selectors.registry_state). Every answer takes a fixed number of SQL queries,
whatever the portfolio size.

`period` / `day` is a calendar date (a Period); `as_of` is a moment in transaction time:
None answers from the current rows, a datetime answers "as the registry knew it at that moment".
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery

from registry.db import server_binding_cursor
from registry.models import CongestionPointVersion, Participant
from registry.models.portfolio import active_on_sql, known_at_sql
from registry.selectors.registry_state import registry_rows
from registry.uftp import messages as uftp

NO_CONNECTIONS_AVAILABLE = "No connections available"
# CP ids per `IN` condition: well below SQLite's 32766 bound variables.
_CP_CHUNK = 5_000
# The CP terms of a connection in no CP active on the day.
_NOT_PLACED: tuple = (None,) * 5


@dataclass(frozen=True, kw_only=True)
class QueryAnswer:
    """The registry's answer to a portfolio query, in the shapes of registry.uftp.messages."""

    accepted: bool
    rejection_reason: str | None = None
    # DSOPortfolioQuery: the CP and its connections; None when the CP is not active on the Period.
    congestion_point: uftp.DSOQueryCongestionPoint | None = None
    # AGRPortfolioQuery: per DSO its CPs with this AGR's connections, then the unallocated ones.
    dso_portfolios: tuple[uftp.AGRQueryDSOPortfolio, ...] = ()
    unallocated_connections: tuple[str, ...] = ()

    @property
    def result(self) -> uftp.Result:
        return uftp.Result.ACCEPTED if self.accepted else uftp.Result.REJECTED


# ------------------------------------------------------------------------------ §5 queries


def dso_portfolio_query_answer(
    *, dso: Participant, entity_address: str, period: dt.date, as_of: dt.datetime | None = None
) -> QueryAnswer:
    """DSOPortfolioQuery: the CP with every connection active in it on `period` (3 queries).

    Written in SQL (the same conditions as registry_state's, from known_at_sql/active_on_sql, and
    cross-checked against it by the tests): it answers every such message on the worker's path,
    where building the ORM's querysets cost several times more CPU than running them. The
    statements are bound on the server, so psycopg prepares them: PostgreSQL parsed and planned
    the CP's lookup anew for every message, for more than it spent running it.
    """
    with server_binding_cursor() as cursor:
        # A CP whose first version was recorded after `as_of` was unknown at that moment.
        version_known, version_params = known_at_sql("v", as_of)
        cursor.execute(
            "SELECT cp.id, cp.dso_id, v.start_period, v.end_period"  # noqa: S608 (as below)
            " FROM registry_congestionpoint cp"
            " JOIN registry_congestionpointversion v ON v.congestion_point_id = cp.id"
            f" WHERE cp.entity_address = %s AND {version_known} LIMIT 1",
            [entity_address, *version_params],
        )
        version = cursor.fetchone()
        if version is None:
            return QueryAnswer(
                accepted=False, rejection_reason=f"Unknown congestion point [{entity_address}]"
            )
        cp_id, dso_id, start_period, end_period = version
        if dso_id != dso.pk:
            return QueryAnswer(
                accepted=False,
                rejection_reason=f"Unauthorized: congestion point [{entity_address}] is owned by another DSO",
            )
        if not (_as_date(start_period) <= period and (end_period is None or _as_date(end_period) >= period)):
            return QueryAnswer(accepted=True)

        # The CP's connections on the Period, each with its AGR: an index probe per connection
        # (representation_conn_idx), whatever else the registry holds. The representations of one
        # connection never overlap, so each has at most one on the Period.
        membership_known, membership_known_params = known_at_sql("m", as_of)
        membership_on, membership_on_params = active_on_sql("m", period)
        representation_known, representation_known_params = known_at_sql("r", as_of)
        representation_on, representation_on_params = active_on_sql("r", period)
        cursor.execute(
            # A correlated subquery, not a join: the planner then probes the index per connection
            # (index-only) instead of hashing every representation of the registry. It reads the
            # AGR's id only: a join to the participants inside it let the planner put them first.
            "SELECT m.connection_address, (SELECT r.agr_id FROM registry_representation r"  # noqa: S608 (conditions are ours, values are parameters)
            f" WHERE r.connection_address = m.connection_address AND {representation_known}"
            f" AND {representation_on} LIMIT 1)"
            " FROM registry_membership m"
            f" WHERE m.congestion_point_id = %s AND {membership_known} AND {membership_on}",
            [
                *representation_known_params,
                *representation_on_params,
                cp_id,
                *membership_known_params,
                *membership_on_params,
            ],
        )
        agr_id_by_connection: dict[str, int | None] = dict(cursor.fetchall())
        agr_ids = sorted({agr_id for agr_id in agr_id_by_connection.values() if agr_id is not None})
        domains: dict[int, str] = {}
        if agr_ids and connection.vendor == "postgresql":
            # One text whatever the number of AGRs (an array): prepared like the others.
            cursor.execute("SELECT id, domain FROM registry_participant WHERE id = ANY(%s)", [agr_ids])
            domains = dict(cursor.fetchall())
        elif agr_ids:
            cursor.execute(
                f"SELECT id, domain FROM registry_participant WHERE id IN ({', '.join(['%s'] * len(agr_ids))})",  # noqa: S608
                agr_ids,
            )
            domains = dict(cursor.fetchall())
    agr_by_connection = {
        address: domains.get(agr_id) if agr_id is not None else None
        for address, agr_id in agr_id_by_connection.items()
    }
    if not agr_by_connection:
        # The schema wants at least one Connection in a CongestionPoint: a CP without connections
        # on this Period is answered like an inactive one.
        return QueryAnswer(accepted=True)
    return QueryAnswer(
        accepted=True,
        congestion_point=uftp.DSOQueryCongestionPoint(
            entity_address=entity_address,
            connections=tuple(
                uftp.DSOQueryConnection(entity_address=address, agr_domain=agr_domain)
                for address, agr_domain in sorted(agr_by_connection.items())
            ),
        ),
    )


def _as_date(value: dt.date | str) -> dt.date:
    """A DATE column as a date (SQLite's raw cursor returns the ISO text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def agr_portfolio_query_answer(
    *, agr: Participant, period: dt.date, as_of: dt.datetime | None = None
) -> QueryAnswer:
    """AGRPortfolioQuery: this AGR's connections on `period`, per DSO and CP, then unallocated (2 queries).

    Built from plain tuples (no model or per-connection object): for 50,000 connections the answer
    costs the two queries and a sort of the addresses.
    """
    represented = _rows_fetched(
        _agr_represented(agr=agr, day=period, as_of=as_of).values_list("connection_address", "placed_in")
    )
    if not represented:
        return QueryAnswer(accepted=False, rejection_reason=NO_CONNECTIONS_AVAILABLE)
    terms_of = cp_terms(
        cp_ids={cp_id for _, cp_id in represented if cp_id is not None}, day=period, as_of=as_of
    )

    by_cp: dict[int, list[str]] = defaultdict(list)
    unallocated: list[str] = []
    for address, cp_id in represented:
        if cp_id in terms_of:
            by_cp[cp_id].append(address)
        else:
            unallocated.append(address)
    # dso domain -> [(cp address, cp id)]
    cps_of_dso: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for cp_id in by_cp:
        cp_address, dso_domain, *_ = terms_of[cp_id]
        cps_of_dso[dso_domain or ""].append((cp_address, cp_id))
    return QueryAnswer(
        accepted=True,
        dso_portfolios=tuple(
            uftp.AGRQueryDSOPortfolio(
                dso_domain=dso_domain,
                congestion_points=tuple(
                    _agr_query_congestion_point(terms_of[cp_id], by_cp[cp_id])
                    for _, cp_id in sorted(cps_of_dso[dso_domain])
                ),
            )
            for dso_domain in sorted(cps_of_dso)
        ),
        unallocated_connections=tuple(sorted(unallocated)),
    )


def _agr_query_congestion_point(terms: tuple, connections: list[str]) -> uftp.AGRQueryCongestionPoint:
    cp_address, _dso_domain, mutex, day_ahead, intraday = terms
    return uftp.AGRQueryCongestionPoint(
        entity_address=cp_address,
        mutex_offers_supported=bool(mutex),
        day_ahead_redispatch_by=uftp.RedispatchBy(str(day_ahead)),
        intraday_redispatch_by=uftp.RedispatchBy(intraday) if intraday else None,
        connections=tuple(sorted(connections)),
    )


# ------------------------------------------------------------------------------ an AGR's day


@dataclass(frozen=True, kw_only=True)
class AGRConnectionOnDay:
    """A connection an AGR represents on a day, with the CP (and its DSO) it is in, if any."""

    entity_address: str
    start_period: dt.date
    end_period: dt.date | None
    congestion_point: str | None = None
    dso_domain: str | None = None
    # The CP's attributes on that day (None when the connection is in no active CP).
    mutex_offers_supported: bool | None = None
    day_ahead_redispatch_by: str | None = None
    intraday_redispatch_by: str | None = None


def agr_portfolio_on_day(
    *, agr: Participant, day: dt.date, as_of: dt.datetime | None = None
) -> list[AGRConnectionOnDay]:
    """Every connection the AGR represents on `day`, sorted by address (2 queries)."""
    represented = list(
        _agr_represented(agr=agr, day=day, as_of=as_of).values_list(
            "connection_address", "start_period", "end_period", "placed_in"
        )
    )
    terms_of = cp_terms(
        cp_ids={cp_id for *_, cp_id in represented if cp_id is not None}, day=day, as_of=as_of
    )
    return [
        agr_connection_on_day(address=address, start=start, end=end, cp_id=cp_id, terms_of=terms_of)
        for address, start, end, cp_id in sorted(represented)
    ]


def agr_connection_on_day(
    *, address: str, start: dt.date, end: dt.date | None, cp_id: int | None, terms_of: dict[int, tuple]
) -> AGRConnectionOnDay:
    """One represented connection with the terms of the CP it is in (`cp_terms`; none: unplaced)."""
    terms = terms_of.get(cp_id, _NOT_PLACED) if cp_id is not None else _NOT_PLACED
    cp_address, dso_domain, mutex, day_ahead, intraday = terms
    return AGRConnectionOnDay(
        entity_address=address,
        start_period=start,
        end_period=end,
        congestion_point=cp_address,
        dso_domain=dso_domain,
        mutex_offers_supported=mutex,
        day_ahead_redispatch_by=day_ahead,
        intraday_redispatch_by=intraday or None,
    )


# ------------------------------------------------------------------------------ helpers


def _agr_represented(*, agr: Participant, day: dt.date, as_of: dt.datetime | None) -> QuerySet:
    """This AGR's representations on `day`, each annotated `placed_in`: the id of the CP its
    connection is in on `day` (None: in none). Lazy."""
    on_day = registry_rows(as_of=as_of, day=day)
    # The CP each represented connection is in on `day`, looked up by its address (one index probe
    # per connection: no join whose plan could scan the whole membership table). The memberships
    # of one connection never overlap, so there is at most one.
    placed_in = Subquery(
        on_day.memberships.filter(connection_address=OuterRef("connection_address"))
        .order_by()
        .values("congestion_point_id")[:1]
    )
    return (
        registry_rows(as_of=as_of, day=day, agr=agr).representations.order_by().annotate(placed_in=placed_in)
    )


def cp_terms(*, cp_ids: set[int], day: dt.date, as_of: dt.datetime | None) -> dict[int, tuple]:
    """Per CP active on `day` among `cp_ids`: (cp address, dso domain, mutex, day-ahead, intraday).

    A CP not active on `day` is missing: its connections are unallocated.
    """
    ordered = sorted(cp_ids)
    terms_of: dict[int, tuple] = {}
    for offset in range(0, len(ordered), _CP_CHUNK):
        versions = (
            registry_rows(as_of=as_of, day=day)
            .versions.filter(congestion_point_id__in=ordered[offset : offset + _CP_CHUNK])
            .values_list(
                "congestion_point_id",
                "congestion_point__entity_address",
                "congestion_point__dso__domain",
                "mutex_offers_supported",
                "day_ahead_redispatch_by",
                "intraday_redispatch_by",
            )
        )
        for cp_id, *terms in versions.order_by():
            terms_of.setdefault(cp_id, tuple(terms))
    return terms_of


def _rows_fetched(queryset: QuerySet) -> list[tuple]:
    """Every row of a values_list queryset in one fetch (the ORM fetches 100 rows a call).

    Only for columns that need no conversion from the database's values (text, integers).
    """
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _version_active_on(version: CongestionPointVersion, day: dt.date) -> bool:
    return version.start_period <= day and (version.end_period is None or version.end_period >= day)
