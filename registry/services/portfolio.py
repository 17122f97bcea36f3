"""Apply DSOPortfolioUpdate and AGRPortfolioUpdate to the registry (cro-rules §3 items 8-10, §4).

An update is applied whole or not at all, in one transaction. Every rejection reason that is cheap
to find is collected. The caller (worker, CSV import) has checked §3 items 1-7 already.

Concurrency:
- DSO: the congestion point rows are locked (sorted by address, so two updates never deadlock);
  updates of one CP are therefore serialised and the TimeStamp check (item 9) cannot be raced.
  Two DSOs putting one connection into two CPs at once lock different rows: on PostgreSQL the
  exclusion constraint `membership_connection_periods_do_not_overlap` stops the second (or
  PostgreSQL picks it as a deadlock victim), and the apply is retried so that it is rejected with
  the proper "Connection conflict" reason.
- AGR: one Connection row per listed connection is locked (sorted), which serialises every AGR's
  changes to that connection; the representation exclusion constraint is the safety net.
- SQLite runs write transactions one at a time (BEGIN IMMEDIATE), so the same checks hold there.

Scale: reads are one query per table (on SQLite in chunks of CHUNK_SIZE addresses), writes are
bulk (COPY and INSERT .. SELECT unnest() on PostgreSQL); nothing is done per row in SQL.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.db import connection as database
from django.db.models import F, Q
from django.utils import timezone

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Connection,
    Membership,
    Message,
    Participant,
    Representation,
    RepresentationSequence,
)
from registry.models.portfolio import InArray
from registry.uftp import messages as uftp
from registry.validators import ENTITY_ADDRESS_RE

logger = logging.getLogger(__name__)

# Addresses per `__in` query: well below SQLite's limit of 32766 bound variables.
CHUNK_SIZE = 5_000
BULK_BATCH_SIZE = 5_000
# Attempts of one update when it loses a race to a concurrent one (see _apply_atomically).
RACE_ATTEMPTS = 3
# An update that writes this many rows to a table (and 10% of it) refreshes its planner statistics.
ANALYZE_MIN_ROWS = 1_000

# Rows written per table by the update being applied (see _statistics_refresh).
_rows_written: ContextVar[Counter[str] | None] = ContextVar("portfolio_rows_written", default=None)

CONFLICT_POLICIES = ("reject", "supersede")

Period = tuple[dt.date, dt.date | None]


@dataclass(frozen=True, kw_only=True)
class UpdateOutcome:
    """What applying an update did (or, when rejected or a dry run, would have done)."""

    accepted: bool
    reasons: tuple[str, ...] = ()
    # Short human-readable lines, e.g. for the admin's CSV preview.
    changes: tuple[str, ...] = ()
    dry_run: bool = False

    @property
    def rejection_reason(self) -> str | None:
        return "; ".join(self.reasons) if self.reasons else None

    @property
    def result(self) -> uftp.Result:
        return uftp.Result.ACCEPTED if self.accepted else uftp.Result.REJECTED


class _RollBack(Exception):
    """Leaves the atomic block without committing: the update was rejected or is a dry run."""

    def __init__(self, outcome: UpdateOutcome):
        super().__init__(outcome.rejection_reason)
        self.outcome = outcome


# ------------------------------------------------------------------------------ DSO updates


def dso_portfolio_update_apply(
    *,
    dso: Participant,
    message: uftp.DSOPortfolioUpdate,
    source_message: Message | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> UpdateOutcome:
    """Replace each listed congestion point (attributes and memberships) by what the DSO listed."""
    if dso.role != Participant.Role.DSO:
        raise ValueError(f"{dso} is not a DSO")
    time_stamp = _aware(message.time_stamp)
    static_reasons = _dso_update_static_reasons(message)
    return _apply_atomically(
        lambda: _dso_update_apply_locked(
            dso=dso,
            message=message,
            time_stamp=time_stamp,
            reasons=list(static_reasons),
            source_message=source_message,
            source=_source_label(source, source_message),
        ),
        dry_run=dry_run,
    )


def _dso_update_static_reasons(message: uftp.DSOPortfolioUpdate) -> list[str]:
    """§4 checks that need no database: addresses, Periods (item 8) and duplicate listings."""
    reasons: list[str] = []
    seen_cps: set[str] = set()
    # connection -> [(cp address, period)] over the whole message, for cross-CP duplicates.
    listings: dict[str, list[tuple[str, Period]]] = defaultdict(list)
    for cp in message.congestion_points:
        cp_label = f"congestion point [{cp.entity_address}]"
        if not ENTITY_ADDRESS_RE.fullmatch(cp.entity_address):
            reasons.append(f"Invalid entity address: {cp_label}")
        if cp.entity_address in seen_cps:
            reasons.append(f"Duplicate congestion point: [{cp.entity_address}] is listed twice")
        seen_cps.add(cp.entity_address)
        cp_period_valid = _period_is_ordered(cp.start_period, cp.end_period)
        if not cp_period_valid:
            reasons.append(
                f"Period out of bounds: {cp_label} ends ({cp.end_period}) before it starts ({cp.start_period})"
            )
        in_this_cp: set[str] = set()
        for connection in cp.connections:
            label = f"connection [{connection.entity_address}] in {cp_label}"
            if not ENTITY_ADDRESS_RE.fullmatch(connection.entity_address):
                reasons.append(f"Invalid entity address: {label}")
            if connection.entity_address in in_this_cp:
                reasons.append(f"Duplicate connection: {label} is listed twice")
                continue
            in_this_cp.add(connection.entity_address)
            if not _period_is_ordered(connection.start_period, connection.end_period):
                reasons.append(
                    f"Period out of bounds: {label} ends ({connection.end_period}) "
                    f"before it starts ({connection.start_period})"
                )
                continue
            if cp_period_valid and not _period_within(
                (connection.start_period, connection.end_period), (cp.start_period, cp.end_period)
            ):
                reasons.append(
                    f"Period out of bounds: {label} {_period_text(connection.start_period, connection.end_period)} "
                    f"is not inside the congestion point's {_period_text(cp.start_period, cp.end_period)}"
                )
            listings[connection.entity_address].append(
                (cp.entity_address, (connection.start_period, connection.end_period))
            )
    for address, cp_periods in listings.items():
        clashing: set[str] = set()
        for i, (cp_a, period_a) in enumerate(cp_periods):
            for cp_b, period_b in cp_periods[i + 1 :]:
                if cp_a != cp_b and _periods_overlap(period_a, period_b):
                    clashing.update((cp_a, cp_b))
        if clashing:
            reasons.append(
                f"Duplicate connection: [{address}] is listed in congestion points "
                f"{', '.join(f'[{cp}]' for cp in sorted(clashing))} for overlapping periods"
            )
    return reasons


def _dso_update_apply_locked(
    *,
    dso: Participant,
    message: uftp.DSOPortfolioUpdate,
    time_stamp: dt.datetime,
    reasons: list[str],
    source_message: Message | None,
    source: str,
) -> UpdateOutcome:
    listed = {cp.entity_address: cp for cp in message.congestion_points if _is_storable(cp.entity_address)}
    cps = _congestion_points_lock(dso=dso, addresses=sorted(listed))

    owned: dict[str, CongestionPoint] = {}
    for address in sorted(listed):
        cp = cps[address]
        if cp.dso_id != dso.pk:
            reasons.append(f"Unauthorized: congestion point [{address}] is owned by another DSO")
        elif cp.last_time_stamp is not None and time_stamp < cp.last_time_stamp:
            reasons.append(
                f"Subordinate sequence number: congestion point [{address}] was updated by a newer "
                f"message (TimeStamp {cp.last_time_stamp.isoformat()})"
            )
            owned[address] = cp
        else:
            owned[address] = cp

    # connection -> [(listing CP, period)]
    listed_periods: dict[str, list[tuple[str, Period]]] = defaultdict(list)
    for cp_address, cp_update in listed.items():
        for connection in cp_update.connections:
            if _period_is_ordered(connection.start_period, connection.end_period):
                listed_periods[connection.entity_address].append(
                    (cp_address, (connection.start_period, connection.end_period))
                )
    reasons.extend(
        _dso_connection_conflicts(
            listed_periods=listed_periods, replaced_cp_ids={cp.pk for cp in owned.values()}
        )
    )
    if reasons:
        return UpdateOutcome(accepted=False, reasons=tuple(reasons))

    now = timezone.now()  # after the locks: transaction time follows the order of application
    changes: dict[str, list[str]] = defaultdict(list)  # per CP, listed in CP order
    _congestion_point_versions_replace(
        listed=listed, cps=owned, now=now, source_message=source_message, source=source, changes=changes
    )
    _memberships_replace(
        listed=listed, cps=owned, now=now, source_message=source_message, source=source, changes=changes
    )
    CongestionPoint.objects.filter(pk__in=[cp.pk for cp in owned.values()]).update(
        last_time_stamp=time_stamp, last_message=source_message
    )
    return UpdateOutcome(
        accepted=True, changes=tuple(line for address in sorted(owned) for line in changes[address])
    )


def _congestion_points_lock(*, dso: Participant, addresses: list[str]) -> dict[str, CongestionPoint]:
    """Create the unknown CPs for this DSO, then lock every listed CP row in address order."""
    CongestionPoint.objects.bulk_create(
        [CongestionPoint(entity_address=address, dso=dso) for address in addresses],
        ignore_conflicts=True,
        batch_size=BULK_BATCH_SIZE,
    )
    locked: dict[str, CongestionPoint] = {}
    for among in _in_batches("entity_address", addresses):
        for cp in CongestionPoint.objects.select_for_update().filter(among).order_by("entity_address"):
            locked[cp.entity_address] = cp
    return locked


def _dso_connection_conflicts(
    *, listed_periods: dict[str, list[tuple[str, Period]]], replaced_cp_ids: set[int]
) -> list[str]:
    """One reason per listed connection that another CP holds for an overlapping period.

    The memberships of the CPs this update replaces (`replaced_cp_ids`) cannot conflict.
    """
    conflicting: dict[str, set[str]] = defaultdict(set)
    for among in _in_batches("connection_address", sorted(listed_periods)):
        rows = (
            Membership.objects.current()
            .filter(among)
            .values_list(
                "connection_address",
                "congestion_point_id",
                "congestion_point__entity_address",
                "start_period",
                "end_period",
            )
        )
        for address, cp_id, cp_address, start, end in rows:
            if cp_id in replaced_cp_ids:
                continue
            if any(
                listing_cp != cp_address and _periods_overlap((start, end), period)
                for listing_cp, period in listed_periods[address]
            ):
                conflicting[address].add(cp_address)
    return [
        f"Connection conflict: [{address}] at {', '.join(f'[{cp}]' for cp in sorted(conflicting[address]))}"
        for address in sorted(conflicting)
    ]


def _congestion_point_versions_replace(
    *,
    listed: dict[str, uftp.CongestionPointUpdate],
    cps: dict[str, CongestionPoint],
    now: dt.datetime,
    source_message: Message | None,
    source: str,
    changes: dict[str, list[str]],
) -> None:
    current = {
        version.congestion_point_id: version
        for among in _in_batches("congestion_point_id", [cp.pk for cp in cps.values()])
        for version in CongestionPointVersion.objects.current().filter(among)
    }
    to_supersede: list[int] = []
    to_create: list[CongestionPointVersion] = []
    for address in sorted(cps):
        cp, update = cps[address], listed[address]
        attributes = {
            "start_period": update.start_period,
            "end_period": update.end_period,
            "mutex_offers_supported": update.mutex_offers_supported,
            "day_ahead_redispatch_by": str(update.day_ahead_redispatch_by),
            "intraday_redispatch_by": str(update.intraday_redispatch_by or ""),
        }
        old = current.get(cp.pk)
        if old is not None and all(getattr(old, name) == value for name, value in attributes.items()):
            continue
        if old is None:
            changes[address].append(
                f"congestion point [{address}]: registered {_attributes_text(attributes)}"
            )
        else:
            to_supersede.append(old.pk)
            old_attributes = {name: getattr(old, name) for name in attributes}
            changes[address].append(
                f"congestion point [{address}]: {_attributes_text(attributes)} (was {_attributes_text(old_attributes)})"
            )
        to_create.append(
            CongestionPointVersion(
                congestion_point=cp, recorded_at=now, recorded_by=source_message, source=source, **attributes
            )
        )
    _rows_supersede(CongestionPointVersion, ids=to_supersede, now=now, source_message=source_message)
    CongestionPointVersion.objects.bulk_create(to_create, batch_size=BULK_BATCH_SIZE)


def _memberships_replace(
    *,
    listed: dict[str, uftp.CongestionPointUpdate],
    cps: dict[str, CongestionPoint],
    now: dt.datetime,
    source_message: Message | None,
    source: str,
    changes: dict[str, list[str]],
) -> None:
    """Supersede the memberships no longer listed, insert the new ones; unchanged rows stay."""
    source_message_id = source_message.pk if source_message is not None else None
    current: dict[int, dict[tuple[str, dt.date, dt.date | None], int]] = defaultdict(dict)
    for among in _in_batches("congestion_point_id", [cp.pk for cp in cps.values()]):
        rows = (
            Membership.objects.current()
            .filter(among)
            .values_list("pk", "congestion_point_id", "connection_address", "start_period", "end_period")
        )
        for pk, cp_id, address, start, end in rows:
            current[cp_id][(address, start, end)] = pk

    to_supersede: list[int] = []
    to_create: list[tuple] = []
    for cp_address in sorted(cps):
        cp = cps[cp_address]
        old = current.get(cp.pk, {})
        new = {(c.entity_address, c.start_period, c.end_period) for c in listed[cp_address].connections}
        removed = sorted(set(old) - new, key=_row_key)
        added = sorted(new - set(old), key=_row_key)
        to_supersede.extend(old[row] for row in removed)
        to_create.extend(
            (cp.pk, address, start, end, now, source_message_id, source) for address, start, end in added
        )
        changes[cp_address].extend(
            _period_changes(removed=removed, added=added, where=f"in congestion point [{cp_address}]")
        )
    _rows_supersede(Membership, ids=to_supersede, now=now, source_message=source_message)
    _rows_insert(
        Membership,
        fields=(
            "congestion_point_id",
            "connection_address",
            "start_period",
            "end_period",
            "recorded_at",
            "recorded_by_id",
            "source",
        ),
        rows=to_create,
    )


# ------------------------------------------------------------------------------ AGR updates


def agr_portfolio_update_apply(
    *,
    agr: Participant,
    message: uftp.AGRPortfolioUpdate,
    source_message: Message | None = None,
    conflict_policy: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
) -> UpdateOutcome:
    """Replace this AGR's representation of each listed connection by what it listed.

    conflict_policy (None: settings.CRO_AGR_CONFLICT_POLICY): "reject" refuses a connection that
    another AGR represents for an overlapping period; "supersede" ends the other AGR's
    representation on the day before the new StartPeriod (cro-rules §4).
    """
    if agr.role != Participant.Role.AGR:
        raise ValueError(f"{agr} is not an AGR")
    policy = conflict_policy or settings.CRO_AGR_CONFLICT_POLICY
    if policy not in CONFLICT_POLICIES:
        raise ValueError(f"unknown AGR conflict policy {policy!r}, expected one of {CONFLICT_POLICIES}")
    time_stamp = _aware(message.time_stamp)
    static_reasons, listed = _agr_update_static_check(message)
    return _apply_atomically(
        lambda: _agr_update_apply_locked(
            agr=agr,
            listed=listed,
            time_stamp=time_stamp,
            reasons=list(static_reasons),
            policy=policy,
            source_message=source_message,
            source=_source_label(source, source_message),
        ),
        dry_run=dry_run,
    )


def _agr_update_static_check(message: uftp.AGRPortfolioUpdate) -> tuple[list[str], dict[str, list[Period]]]:
    """Addresses, Periods (item 8) and overlapping listings of one connection; returns the listing."""
    reasons: list[str] = []
    listed: dict[str, list[Period]] = defaultdict(list)
    duplicated: set[str] = set()
    for connection in message.connections:
        address = connection.entity_address
        period = (connection.start_period, connection.end_period)
        if not ENTITY_ADDRESS_RE.fullmatch(address):
            reasons.append(f"Invalid entity address: connection [{address}]")
        if not _period_is_ordered(*period):
            reasons.append(
                f"Period out of bounds: connection [{address}] ends ({connection.end_period}) "
                f"before it starts ({connection.start_period})"
            )
            continue
        if any(_periods_overlap(period, other) for other in listed[address]):
            duplicated.add(address)
        listed[address].append(period)
    reasons.extend(
        f"Duplicate connection: [{address}] is listed twice for overlapping periods"
        for address in sorted(duplicated)
    )
    return reasons, {address: periods for address, periods in listed.items() if _is_storable(address)}


def _agr_update_apply_locked(
    *,
    agr: Participant,
    listed: dict[str, list[Period]],
    time_stamp: dt.datetime,
    reasons: list[str],
    policy: str,
    source_message: Message | None,
    source: str,
) -> UpdateOutcome:
    addresses = sorted(listed)
    connection_ids = _connections_lock(addresses)

    newer: list[str] = []
    for among in _in_batches("connection_id", list(connection_ids.values())):
        newer.extend(
            RepresentationSequence.objects.filter(among, agr=agr, last_time_stamp__gt=time_stamp).values_list(
                "connection__entity_address", flat=True
            )
        )
    reasons.extend(
        f"Subordinate sequence number: connection [{address}] was updated by a newer message"
        for address in sorted(newer)
    )

    own: dict[str, dict[Period, int]] = defaultdict(dict)
    others: list[dict] = []  # current representations of the listed connections by other AGRs
    for among in _in_batches("connection_address", addresses):
        rows = (
            Representation.objects.current()
            .filter(among)
            .values("pk", "agr_id", "agr__domain", "connection_address", "start_period", "end_period")
        )
        for row in rows:
            if row["agr_id"] == agr.pk:
                own[row["connection_address"]][(row["start_period"], row["end_period"])] = row["pk"]
            elif any(
                _periods_overlap((row["start_period"], row["end_period"]), period)
                for period in listed[row["connection_address"]]
            ):
                others.append(row)
    if policy == "reject":
        reasons.extend(
            f"Connection conflict: [{address}] represented by another AGR"
            for address in sorted({row["connection_address"] for row in others})
        )
    if reasons:
        return UpdateOutcome(accepted=False, reasons=tuple(reasons))

    now = timezone.now()  # after the locks: transaction time follows the order of application
    changes: list[str] = []
    to_supersede: list[int] = []
    to_create: list[tuple] = []
    source_message_id = source_message.pk if source_message is not None else None

    def representation(agr_id: int, address: str, start: dt.date, end: dt.date | None) -> tuple:
        return (agr_id, address, start, end, now, source_message_id, source)

    # supersede policy: the newer claim ends the other AGR's representation the day before it starts.
    for row in sorted(others, key=lambda r: (r["connection_address"], r["start_period"])):
        address, start, end = row["connection_address"], row["start_period"], row["end_period"]
        claim_start = min(p[0] for p in listed[address] if _periods_overlap((start, end), p))
        # A claim from the first representable day leaves nothing before it.
        new_end = claim_start - dt.timedelta(days=1) if claim_start > dt.date.min else None
        if new_end is not None and end is not None and end < new_end:
            new_end = end
        to_supersede.append(row["pk"])
        if new_end is not None and new_end >= start:
            to_create.append(representation(row["agr_id"], address, start, new_end))
            changes.append(
                f"connection [{address}]: representation by {row['agr__domain']} ends on {new_end} "
                f"(was {_period_text(start, end)})"
            )
        else:
            changes.append(
                f"connection [{address}]: representation by {row['agr__domain']} withdrawn "
                f"(was {_period_text(start, end)})"
            )

    for address in addresses:
        old = own.get(address, {})
        new = set(listed[address])
        removed = sorted(set(old) - new, key=_period_key)
        added = sorted(new - set(old), key=_period_key)
        to_supersede.extend(old[period] for period in removed)
        to_create.extend(representation(agr.pk, address, start, end) for start, end in added)
        changes.extend(
            _period_changes(
                removed=[(address, *p) for p in removed],
                added=[(address, *p) for p in added],
                where=f"represented by {agr.domain}",
            )
        )
    _rows_supersede(Representation, ids=to_supersede, now=now, source_message=source_message)
    _rows_insert(
        Representation,
        fields=(
            "agr_id",
            "connection_address",
            "start_period",
            "end_period",
            "recorded_at",
            "recorded_by_id",
            "source",
        ),
        rows=to_create,
    )
    _representation_sequences_advance(
        agr=agr,
        connection_ids=[connection_ids[address] for address in addresses],
        time_stamp=time_stamp,
        source_message=source_message,
        now=now,
    )
    return UpdateOutcome(accepted=True, changes=tuple(changes))


def _connections_lock(addresses: list[str]) -> dict[str, int]:
    """Create the unknown connections, then lock every listed connection row in address order.

    Returns the row id per address.
    """
    if database.vendor == "postgresql":
        # The ORM's bulk_create builds 50,000 model instances; one INSERT .. SELECT unnest() does not.
        with database.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {Connection._meta.db_table} (entity_address, created_at) "
                "SELECT unnest(%s::varchar[]), %s ON CONFLICT (entity_address) DO NOTHING",
                [addresses, timezone.now()],
            )
    else:
        Connection.objects.bulk_create(
            [Connection(entity_address=address) for address in addresses],
            ignore_conflicts=True,
            batch_size=BULK_BATCH_SIZE,
        )
    locked: dict[str, int] = {}
    for among in _in_batches("entity_address", addresses):
        rows = Connection.objects.select_for_update().filter(among).order_by("entity_address")
        locked.update(rows.values_list("entity_address", "pk"))
    return locked


def _representation_sequences_advance(
    *,
    agr: Participant,
    connection_ids: list[int],
    time_stamp: dt.datetime,
    source_message: Message | None,
    now: dt.datetime,
) -> None:
    """Record `time_stamp` as the newest update this AGR applied to each connection (item 9)."""
    last_message_id = source_message.pk if source_message is not None else None
    if database.vendor == "postgresql":
        with database.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {RepresentationSequence._meta.db_table} "
                "(agr_id, connection_id, last_time_stamp, last_message_id, updated_at) "
                "SELECT %s, unnest(%s::bigint[]), %s, %s, %s "
                "ON CONFLICT (agr_id, connection_id) DO UPDATE SET "
                "last_time_stamp = EXCLUDED.last_time_stamp, "
                "last_message_id = EXCLUDED.last_message_id, updated_at = EXCLUDED.updated_at",
                [agr.pk, connection_ids, time_stamp, last_message_id, now],
            )
        return
    RepresentationSequence.objects.bulk_create(
        [
            RepresentationSequence(
                agr=agr,
                connection_id=connection_id,
                last_time_stamp=time_stamp,
                last_message_id=last_message_id,
            )
            for connection_id in connection_ids
        ],
        batch_size=BULK_BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["agr", "connection"],
        update_fields=["last_time_stamp", "last_message", "updated_at"],
    )


# ------------------------------------------------------------------------------ shared


def _apply_atomically(apply: Callable[[], UpdateOutcome], *, dry_run: bool) -> UpdateOutcome:
    """Run `apply` in one transaction; roll back when rejected or dry; retry when a race was lost.

    A constraint violation or deadlock here means a concurrent transaction wrote a conflicting row
    after our checks read the database (the PostgreSQL exclusion constraints: two inserts of one
    connection can also deadlock on each other). The retry reads the winner's row and turns it into
    the proper rejection reason. Each lost race means another transaction made progress, so a
    small bound suffices: after a deadlock the first retry may still beat the winner's commit.
    """
    for attempt in range(1, RACE_ATTEMPTS + 1):
        written: Counter[str] = Counter()
        token = _rows_written.set(written)
        try:
            with transaction.atomic():
                outcome = apply()
                if dry_run or not outcome.accepted:
                    raise _RollBack(outcome)
                transaction.on_commit(partial(_statistics_refresh, dict(written)), robust=True)
                return outcome
        except _RollBack as rollback:
            outcome = rollback.outcome
            if dry_run:
                return UpdateOutcome(
                    accepted=outcome.accepted, reasons=outcome.reasons, changes=outcome.changes, dry_run=True
                )
            return outcome
        except (IntegrityError, OperationalError) as exc:
            if attempt == RACE_ATTEMPTS or not _is_lost_race(exc):
                raise
            logger.info(
                "portfolio update lost a race with a concurrent update (attempt %d); retrying", attempt
            )
        finally:
            _rows_written.reset(token)
    raise AssertionError("unreachable")


def _statistics_refresh(written: dict[str, int]) -> None:
    """ANALYZE the tables a large update changed, right after it committed.

    Autovacuum would, but only a minute or so later: until then the planner takes a freshly filled
    table for nearly empty and picks nested loops that turn a 50,000-connection query from 0.3 s
    into minutes. Same rule as autovacuum (10% of the table changed), at least ANALYZE_MIN_ROWS.
    """
    if database.vendor != "postgresql":
        return
    try:
        with database.cursor() as cursor:
            for table, rows in sorted(written.items()):
                cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
                (estimate,) = cursor.fetchone()
                if estimate < 0 or rows >= max(ANALYZE_MIN_ROWS, 0.1 * estimate):
                    cursor.execute(f"ANALYZE {database.ops.quote_name(table)}")
    except DatabaseError:
        logger.warning("could not refresh the planner statistics of %s", sorted(written), exc_info=True)


def _is_lost_race(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    # PostgreSQL deadlock_detected / serialization_failure; anything else is a real error.
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}


def _rows_supersede(model: type, *, ids: list[int], now: dt.datetime, source_message: Message | None) -> None:
    """Close the transaction time of current rows. A row closed by someone else is a lost update."""
    updated = 0
    for among in _in_batches("pk", ids):
        updated += model.objects.filter(among, superseded_at__isnull=True).update(
            superseded_at=now, superseded_by=source_message
        )
    if updated != len(ids):
        # Cannot happen under our row locks; treated like a lost race (the update is retried).
        raise IntegrityError(f"{model.__name__}: {len(ids) - updated} rows were superseded concurrently")
    _rows_written_count(model, updated)


def _rows_insert(model: type, *, fields: tuple[str, ...], rows: list[tuple]) -> None:
    """Insert many rows: COPY on PostgreSQL (no ORM work per row), bulk_create elsewhere.

    `fields` are attribute names (`..._id` for foreign keys); each row holds their values in order.
    """
    if not rows:
        return
    _rows_written_count(model, len(rows))
    if database.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=BULK_BATCH_SIZE
        )
        return
    quote = database.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)
    with database.cursor() as cursor, database.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _rows_written_count(model: type, rows: int) -> None:
    written = _rows_written.get()
    if written is not None:
        written[model._meta.db_table] += rows


def _in_batches(field: str, values: Sequence) -> Iterator[Q | InArray]:
    """Conditions `field IN values`: one on PostgreSQL, chunks below SQLite's variable limit elsewhere."""
    if not values:
        return
    if database.vendor == "postgresql":
        yield InArray(F(field), list(values))
        return
    for chunk in _chunks(values):
        yield Q(**{f"{field}__in": chunk})


def _aware(time_stamp: dt.datetime) -> dt.datetime:
    """A TimeStamp without offset is read in the market time zone."""
    if timezone.is_naive(time_stamp):
        return time_stamp.replace(tzinfo=ZoneInfo(settings.CRO_TIME_ZONE))
    return time_stamp


def _source_label(source: str | None, source_message: Message | None) -> str:
    if source:
        return source[:32]
    return "uftp" if source_message is not None else ""


def _is_storable(address: str) -> bool:
    # Invalid addresses are reported as reasons; keep them out of the database work.
    return bool(ENTITY_ADDRESS_RE.fullmatch(address))


def _chunks(items: Sequence) -> Iterator[Sequence]:
    for start in range(0, len(items), CHUNK_SIZE):
        yield items[start : start + CHUNK_SIZE]


def _period_is_ordered(start: dt.date, end: dt.date | None) -> bool:
    return end is None or end >= start


def _period_within(inner: Period, outer: Period) -> bool:
    """Inclusive: an open-ended inner period is only inside an open-ended outer one."""
    (inner_start, inner_end), (outer_start, outer_end) = inner, outer
    if inner_start < outer_start:
        return False
    if outer_end is None:
        return True
    return inner_end is not None and inner_end <= outer_end


def _periods_overlap(a: Period, b: Period) -> bool:
    (a_start, a_end), (b_start, b_end) = a, b
    return (a_end is None or b_start <= a_end) and (b_end is None or a_start <= b_end)


def _period_text(start: dt.date, end: dt.date | None) -> str:
    return f"{start.isoformat()}..{end.isoformat() if end else '(open)'}"


def _period_key(period: Period) -> tuple:
    return (period[0], period[1] or dt.date.max)


def _row_key(row: tuple[str, dt.date, dt.date | None]) -> tuple:
    return (row[0], row[1], row[2] or dt.date.max)


def _attributes_text(attributes: dict) -> str:
    return (
        f"{_period_text(attributes['start_period'], attributes['end_period'])}, "
        f"MutexOffersSupported={str(attributes['mutex_offers_supported']).lower()}, "
        f"DayAheadRedispatchBy={attributes['day_ahead_redispatch_by']}, "
        f"IntradayRedispatchBy={attributes['intraday_redispatch_by'] or '-'}"
    )


def _period_changes(
    *,
    removed: Iterable[tuple[str, dt.date, dt.date | None]],
    added: Iterable[tuple[str, dt.date, dt.date | None]],
    where: str,
) -> list[str]:
    """'joins' / 'leaves' / 'now ... (was ...)' lines per connection."""
    old_by_address: dict[str, list[str]] = defaultdict(list)
    new_by_address: dict[str, list[str]] = defaultdict(list)
    for address, start, end in removed:
        old_by_address[address].append(_period_text(start, end))
    for address, start, end in added:
        new_by_address[address].append(_period_text(start, end))
    lines = []
    for address in sorted(old_by_address.keys() | new_by_address.keys()):
        old, new = old_by_address.get(address), new_by_address.get(address)
        if old and new:
            lines.append(f"connection [{address}] {where}: now {', '.join(new)} (was {', '.join(old)})")
        elif new:
            lines.append(f"connection [{address}] {where}: added {', '.join(new)}")
        else:
            lines.append(f"connection [{address}] {where}: removed (was {', '.join(old)})")
    return lines


__all__ = [
    "CONFLICT_POLICIES",
    "UpdateOutcome",
    "agr_portfolio_update_apply",
    "dso_portfolio_update_apply",
]
