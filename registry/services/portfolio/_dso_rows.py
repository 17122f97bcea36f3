"""The reads and writes of a DSOPortfolioUpdate, in as few statements as the database allows.

A one-CP update is the common message, and its cost was its round trips and the ORM's compiler:
ten statements (5-7 ms of the worker's time, most of a drain's time per message). On PostgreSQL
a new CP now takes three besides the savepoint: create the CPs, read the current memberships of
the listed connections (for conflicts), and one statement writing the versions, the memberships
and the CPs' TimeStamps. A CP that existed adds its lock read and the read of its version (and
its memberships come with the connections' in the one read); a change adds the supersede.
Statement texts are built once per shape; a list is one array parameter, whatever its length.
Elsewhere (SQLite) the ORM does the same reads and writes, in chunks.

The rules stay in `dso`: these functions only read and write what it decided.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from functools import cache

from django.db import connection as database

from registry.models import CongestionPoint, CongestionPointVersion, Membership

from . import _bulk

# The columns of the rows `dso_update_write` inserts, with their SQL types.
VERSION_COLUMNS = {
    "congestion_point_id": "bigint",
    "start_period": "date",
    "end_period": "date",
    "mutex_offers_supported": "boolean",
    "day_ahead_redispatch_by": "varchar",
    "intraday_redispatch_by": "varchar",
}
# What an update states of a CP (compared to find a change): a version's columns after the CP.
VERSION_ATTRIBUTES = tuple(VERSION_COLUMNS)[1:]
MEMBERSHIP_COLUMNS = {
    "congestion_point_id": "bigint",
    "connection_address": "varchar",
    "start_period": "date",
    "end_period": "date",
}


@dataclass(frozen=True, slots=True)
class CurrentVersion:
    pk: int
    attributes: dict


@dataclass(frozen=True, slots=True)
class LockedCongestionPoint:
    """A listed CP, locked (or created) by this transaction."""

    pk: int
    entity_address: str
    dso_id: int
    last_time_stamp: dt.datetime | None
    # Created by this update: it has no version and no memberships yet.
    created: bool


@dataclass(frozen=True, slots=True)
class CurrentMembership:
    pk: int
    congestion_point_id: int
    congestion_point_address: str
    connection_address: str
    start_period: dt.date
    end_period: dt.date | None


# --------------------------------------------------------------------------- reads


def congestion_points_lock(
    *, dso_id: int, addresses: list[str], now: dt.datetime
) -> dict[str, LockedCongestionPoint]:
    """Create the unknown CPs for this DSO, then lock every listed CP that existed, in address
    order (so two updates never deadlock)."""
    if not addresses:
        return {}
    if not _bulk.is_postgresql():
        return _congestion_points_lock_orm(dso_id=dso_id, addresses=addresses)
    with database.cursor() as cursor:
        # A concurrent insert of the same address makes this wait for that transaction: then
        # the row is not created here, and the lock read below (a new statement) sees it.
        cursor.execute(_CREATE_STATEMENT(), [dso_id, now, addresses])
        locked = {
            address: LockedCongestionPoint(
                pk=pk, entity_address=address, dso_id=dso_id, last_time_stamp=None, created=True
            )
            for pk, address in cursor.fetchall()
        }
        existing = [address for address in addresses if address not in locked]
        if existing:
            cursor.execute(_LOCK_STATEMENT(), [existing])
            for pk, address, owner_id, last_time_stamp in cursor.fetchall():
                locked[address] = LockedCongestionPoint(
                    pk=pk,
                    entity_address=address,
                    dso_id=owner_id,
                    last_time_stamp=last_time_stamp,
                    created=False,
                )
    return locked


@cache
def _CREATE_STATEMENT() -> str:
    return (
        f"INSERT INTO {_bulk.quoted_table(CongestionPoint)} (entity_address, dso_id, created_at) "  # noqa: S608 (names from the models)
        "SELECT address, %s, %s FROM unnest(%s::varchar[]) AS address ORDER BY address "
        "ON CONFLICT (entity_address) DO NOTHING RETURNING id, entity_address"
    )


@cache
def _LOCK_STATEMENT() -> str:
    # The CP rows alone: a row of another table read by the statement that waited for the lock
    # would come from before the wait (the current version another update just replaced).
    return (
        f"SELECT id, entity_address, dso_id, last_time_stamp FROM {_bulk.quoted_table(CongestionPoint)} "  # noqa: S608 (names from the models)
        "WHERE entity_address IN (SELECT unnest(%s::varchar[])) ORDER BY entity_address FOR UPDATE"
    )


def _congestion_points_lock_orm(*, dso_id: int, addresses: list[str]) -> dict[str, LockedCongestionPoint]:
    CongestionPoint.objects.bulk_create(
        [CongestionPoint(entity_address=address, dso_id=dso_id) for address in addresses],
        ignore_conflicts=True,
        batch_size=_bulk.BULK_BATCH_SIZE,
    )
    # `created` is not told here (the ORM's ignore_conflicts returns no ids): every CP's
    # version and memberships are read.
    return {
        cp.entity_address: LockedCongestionPoint(
            pk=cp.pk,
            entity_address=cp.entity_address,
            dso_id=cp.dso_id,
            last_time_stamp=cp.last_time_stamp,
            created=False,
        )
        for among in _bulk.in_batches("entity_address", addresses)
        for cp in CongestionPoint.objects.select_for_update().filter(among).order_by("entity_address")
    }


def versions_current(*, congestion_point_ids: list[int]) -> dict[int, CurrentVersion]:
    """The current version of each given CP that has one, by CP id."""
    if not congestion_point_ids:
        return {}
    if _bulk.is_postgresql():
        with database.cursor() as cursor:
            cursor.execute(_VERSIONS_STATEMENT(), [congestion_point_ids])
            rows = cursor.fetchall()
    else:
        rows = [
            row
            for among in _bulk.in_batches("congestion_point_id", congestion_point_ids)
            for row in CongestionPointVersion.objects.current()
            .filter(among)
            .order_by()
            .values_list("congestion_point_id", "pk", *VERSION_ATTRIBUTES)
        ]
    return {
        cp_id: CurrentVersion(pk=pk, attributes=dict(zip(VERSION_ATTRIBUTES, attributes, strict=True)))
        for cp_id, pk, *attributes in rows
    }


@cache
def _VERSIONS_STATEMENT() -> str:
    return (
        f"SELECT congestion_point_id, id, {', '.join(VERSION_ATTRIBUTES)} FROM {_bulk.quoted_table(CongestionPointVersion)} "  # noqa: S608 (names from the models)
        "WHERE superseded_at IS NULL AND congestion_point_id IN (SELECT unnest(%s::bigint[]))"
    )


def memberships_current(
    *, connection_addresses: list[str], congestion_point_ids: list[int]
) -> list[CurrentMembership]:
    """The current memberships of the given CPs, and those of the listed connections in other CPs."""
    if not _bulk.is_postgresql():
        return _memberships_current_orm(
            connection_addresses=connection_addresses, congestion_point_ids=congestion_point_ids
        )
    with database.cursor() as cursor:
        if congestion_point_ids:
            cursor.execute(
                _MEMBERSHIPS_STATEMENT(by_cp=True),
                [connection_addresses, congestion_point_ids, congestion_point_ids],
            )
        elif connection_addresses:
            cursor.execute(_MEMBERSHIPS_STATEMENT(by_cp=False), [connection_addresses])
        else:
            return []
        return [CurrentMembership(*row) for row in cursor.fetchall()]


@cache
def _MEMBERSHIPS_STATEMENT(*, by_cp: bool) -> str:
    # Two halves of a UNION ALL rather than one OR: each half is a semi-join on its own index
    # (membership_conn_idx, membership_cp_idx), where an OR of the two would scan the table.
    # The first leaves out the given CPs' rows (the second has them): no row comes twice.
    select = (
        "SELECT m.id, m.congestion_point_id, cp.entity_address, m.connection_address, "  # noqa: S608 (names from the models)
        "m.start_period, m.end_period "
        f"FROM {_bulk.quoted_table(Membership)} m JOIN {_bulk.quoted_table(CongestionPoint)} cp ON cp.id = m.congestion_point_id "
        "WHERE m.superseded_at IS NULL AND "
    )
    statement = f"{select}m.connection_address IN (SELECT unnest(%s::varchar[]))"
    if by_cp:
        statement += (
            " AND m.congestion_point_id NOT IN (SELECT unnest(%s::bigint[]))"
            f" UNION ALL {select}m.congestion_point_id IN (SELECT unnest(%s::bigint[]))"
        )
    return statement


def _memberships_current_orm(
    *, connection_addresses: list[str], congestion_point_ids: list[int]
) -> list[CurrentMembership]:
    columns = (
        "pk",
        "congestion_point_id",
        "congestion_point__entity_address",
        "connection_address",
        "start_period",
        "end_period",
    )
    by_pk: dict[int, CurrentMembership] = {}
    for field, values in (
        ("connection_address", connection_addresses),
        ("congestion_point_id", congestion_point_ids),
    ):
        for among in _bulk.in_batches(field, values):
            for row in Membership.objects.current().filter(among).order_by().values_list(*columns):
                by_pk[row[0]] = CurrentMembership(*row)
    return list(by_pk.values())


# --------------------------------------------------------------------------- writes


def dso_update_write(
    *,
    versions: list[tuple],
    memberships: list[tuple],
    stamped_ids: list[int],
    time_stamp: dt.datetime,
    now: dt.datetime,
    source_message_id: int | None,
    source: str,
) -> _bulk.RowsWritten:
    """Insert the new versions (rows of VERSION_COLUMNS) and memberships (rows of
    MEMBERSHIP_COLUMNS), recorded now, and set the TimeStamp and message of the CPs
    `stamped_ids`. The rows they replace are superseded already. On PostgreSQL one statement,
    unless there are many rows (`_bulk.recorded_rows_params`)."""
    version_params, membership_params = (
        _bulk.recorded_rows_params(
            model,
            fields=tuple(columns),
            rows=rows,
            now=now,
            source_message_id=source_message_id,
            source=source,
        )
        for model, columns, rows in (
            (CongestionPointVersion, VERSION_COLUMNS, versions),
            (Membership, MEMBERSHIP_COLUMNS, memberships),
        )
    )
    if not _bulk.is_postgresql():
        for among in _bulk.in_batches("pk", stamped_ids):
            CongestionPoint.objects.filter(among).update(
                last_time_stamp=time_stamp, last_message_id=source_message_id
            )
    else:
        params = [
            *(version_params or []),
            *([time_stamp, source_message_id, stamped_ids] if stamped_ids else []),
            *(membership_params or []),
        ]
        if params:
            statement = _WRITE_STATEMENT(
                versions=version_params is not None,
                stamped=bool(stamped_ids),
                memberships=membership_params is not None,
            )
            with database.cursor() as cursor:
                cursor.execute(statement, params)
    written: _bulk.RowsWritten = Counter()
    if versions:
        written[CongestionPointVersion._meta.db_table] = len(versions)
    if memberships:
        written[Membership._meta.db_table] = len(memberships)
    return written


@cache
def _WRITE_STATEMENT(*, versions: bool, stamped: bool, memberships: bool) -> str:
    """One statement: each part a data-modifying WITH (PostgreSQL runs them all), the last one
    the main statement. The memberships' overlap check (migration 0012) runs at its end."""
    parts = []
    if versions:
        parts.append(_bulk.recorded_rows_sql(CongestionPointVersion, columns=VERSION_COLUMNS))
    if stamped:
        parts.append(
            f"UPDATE {_bulk.quoted_table(CongestionPoint)} SET last_time_stamp = %s, last_message_id = %s "  # noqa: S608 (names from the models)
            "WHERE id IN (SELECT unnest(%s::bigint[]))"
        )
    if memberships:
        parts.append(_bulk.recorded_rows_sql(Membership, columns=MEMBERSHIP_COLUMNS))
    *before, last = parts
    if not before:
        return last
    return "WITH " + ", ".join(f"w{number} AS ({part})" for number, part in enumerate(before)) + " " + last
