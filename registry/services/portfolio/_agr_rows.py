"""The reads and writes of an AGRPortfolioUpdate, in as few statements as the database allows.

On PostgreSQL a one-connection update takes four besides the savepoint: create the connections
(`INSERT .. ON CONFLICT DO NOTHING RETURNING`; a row created here is locked by its creation),
lock the ones that existed, read this AGR's newer TimeStamps (cro-rules §3 item 9) and the
current representations in one statement, and write the representations with the TimeStamps in
one more. The read comes after the lock, in a statement of its own: in the statement that waited
for the lock, rows of other tables would be read as they were before the wait, and an older
update that waited for a newer one would not see the newer's TimeStamp. Statement texts are
built once; a list is one array parameter, whatever its length. Elsewhere (SQLite) the ORM does
the same reads and writes, in chunks.

The rules stay in `agr`: these functions only read and write what it decided.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from functools import cache

from django.db import connection as database
from django.db.models import Exists, OuterRef
from django.utils import timezone

from registry.models import Connection, Participant, Representation, RepresentationSequence

from . import _bulk

# The columns of the rows `agr_update_write` inserts, with their SQL types.
REPRESENTATION_COLUMNS = {
    "agr_id": "bigint",
    "connection_address": "varchar",
    "start_period": "date",
    "end_period": "date",
}


@dataclass(frozen=True, slots=True)
class CurrentRepresentation:
    pk: int
    agr_id: int
    agr_domain: str
    connection_address: str
    start_period: dt.date
    end_period: dt.date | None


# --------------------------------------------------------------------------- reads


def connections_lock(*, addresses: list[str]) -> dict[str, int]:
    """Create the unknown connections, then lock every listed connection row in address order
    (so two updates never deadlock); returns the row id per address."""
    if not addresses:
        return {}
    if not _bulk.is_postgresql():
        return _connections_lock_orm(addresses=addresses)
    with database.cursor() as cursor:
        # A concurrent insert of the same address makes this wait for that transaction: then
        # the row is not created here, and the lock read below (a new statement) sees it.
        cursor.execute(_CREATE_STATEMENT(), [timezone.now(), addresses])
        locked = {address: pk for pk, address in cursor.fetchall()}
        existing = [address for address in addresses if address not in locked]
        if existing:
            cursor.execute(_LOCK_STATEMENT(), [existing])
            locked.update((address, pk) for pk, address in cursor.fetchall())
    return locked


@cache
def _CREATE_STATEMENT() -> str:
    return (
        f"INSERT INTO {_bulk.quoted_table(Connection)} (entity_address, created_at) "  # noqa: S608 (names from the models)
        "SELECT address, %s FROM unnest(%s::varchar[]) AS address ORDER BY address "
        "ON CONFLICT (entity_address) DO NOTHING RETURNING id, entity_address"
    )


@cache
def _LOCK_STATEMENT() -> str:
    return (
        f"SELECT id, entity_address FROM {_bulk.quoted_table(Connection)} "  # noqa: S608 (names from the models)
        "WHERE entity_address IN (SELECT unnest(%s::varchar[])) ORDER BY entity_address FOR UPDATE"
    )


def _connections_lock_orm(*, addresses: list[str]) -> dict[str, int]:
    Connection.objects.bulk_create(
        [Connection(entity_address=address) for address in addresses],
        ignore_conflicts=True,
        batch_size=_bulk.BULK_BATCH_SIZE,
    )
    return {
        address: pk
        for among in _bulk.in_batches("entity_address", addresses)
        for address, pk in Connection.objects.select_for_update()
        .filter(among)
        .order_by("entity_address")
        .values_list("entity_address", "pk")
    }


def agr_state_read(
    *, agr_id: int, connections: dict[str, int], time_stamp: dt.datetime
) -> tuple[list[str], list[CurrentRepresentation]]:
    """The listed connections (address -> row id, locked) that this AGR updated with a TimeStamp
    newer than `time_stamp`, and the current representations of the listed connections."""
    if not connections:
        return [], []
    if not _bulk.is_postgresql():
        return _agr_state_read_orm(agr_id=agr_id, connections=connections, time_stamp=time_stamp)
    newer: list[str] = []
    representations: list[CurrentRepresentation] = []
    with database.cursor() as cursor:
        cursor.execute(
            _STATE_STATEMENT(), [agr_id, time_stamp, list(connections.values()), list(connections)]
        )
        for newer_address, *representation in cursor.fetchall():
            if newer_address is not None:
                newer.append(newer_address)
            else:
                representations.append(CurrentRepresentation(*representation))
    return newer, representations


@cache
def _STATE_STATEMENT() -> str:
    # Two halves of one UNION ALL (one round trip): a row of the first names a connection this
    # AGR updated with a newer TimeStamp, a row of the second is a current representation.
    return (
        "SELECT c.entity_address, NULL::bigint, NULL::bigint, NULL::varchar, NULL::varchar, "  # noqa: S608 (names from the models)
        "NULL::date, NULL::date "
        f"FROM {_bulk.quoted_table(RepresentationSequence)} s JOIN {_bulk.quoted_table(Connection)} c ON c.id = s.connection_id "
        "WHERE s.agr_id = %s AND s.last_time_stamp > %s AND s.connection_id IN (SELECT unnest(%s::bigint[])) "
        "UNION ALL "
        "SELECT NULL, r.id, r.agr_id, p.domain, r.connection_address, r.start_period, r.end_period "
        f"FROM {_bulk.quoted_table(Representation)} r JOIN {_bulk.quoted_table(Participant)} p ON p.id = r.agr_id "
        "WHERE r.superseded_at IS NULL AND r.connection_address IN (SELECT unnest(%s::varchar[]))"
    )


def _agr_state_read_orm(
    *, agr_id: int, connections: dict[str, int], time_stamp: dt.datetime
) -> tuple[list[str], list[CurrentRepresentation]]:
    newer_update = RepresentationSequence.objects.filter(
        agr_id=agr_id, connection=OuterRef("pk"), last_time_stamp__gt=time_stamp
    )
    newer = [
        address
        for among in _bulk.in_batches("pk", list(connections.values()))
        for address in Connection.objects.filter(among, Exists(newer_update))
        .order_by()
        .values_list("entity_address", flat=True)
    ]
    representations = [
        CurrentRepresentation(*row)
        for among in _bulk.in_batches("connection_address", list(connections))
        for row in Representation.objects.current()
        .filter(among)
        .order_by()
        .values_list("pk", "agr_id", "agr__domain", "connection_address", "start_period", "end_period")
    ]
    return newer, representations


# --------------------------------------------------------------------------- writes


def agr_update_write(
    *,
    representations: list[tuple],
    agr_id: int,
    connection_ids: list[int],
    time_stamp: dt.datetime,
    now: dt.datetime,
    source_message_id: int | None,
    source: str,
) -> _bulk.RowsWritten:
    """Insert the new representations (rows of REPRESENTATION_COLUMNS), recorded now, and record
    `time_stamp` as this AGR's newest update of each of `connection_ids` (item 9). The rows they
    replace are superseded already. On PostgreSQL one statement, unless there are many rows
    (`_bulk.recorded_rows_params`)."""
    representation_params = _bulk.recorded_rows_params(
        Representation,
        fields=tuple(REPRESENTATION_COLUMNS),
        rows=representations,
        now=now,
        source_message_id=source_message_id,
        source=source,
    )
    if not _bulk.is_postgresql():
        _sequences_upsert_orm(
            agr_id=agr_id,
            connection_ids=connection_ids,
            time_stamp=time_stamp,
            source_message_id=source_message_id,
        )
    elif connection_ids or representation_params is not None:
        with database.cursor() as cursor:
            cursor.execute(
                _WRITE_STATEMENT(representations=representation_params is not None),
                [*(representation_params or []), agr_id, time_stamp, source_message_id, now, connection_ids],
            )
    written: _bulk.RowsWritten = Counter()
    if representations:
        written[Representation._meta.db_table] = len(representations)
    return written


@cache
def _WRITE_STATEMENT(*, representations: bool) -> str:
    """The TimeStamps' upsert, after a data-modifying WITH inserting the representations (the
    overlap check of migration 0012 runs at the end of the statement)."""
    upsert = (
        f"INSERT INTO {_bulk.quoted_table(RepresentationSequence)} "  # noqa: S608 (names from the models)
        "(agr_id, connection_id, last_time_stamp, last_message_id, updated_at) "
        "SELECT %s, connection_id, %s, %s, %s FROM unnest(%s::bigint[]) AS connection_id "
        "ON CONFLICT (agr_id, connection_id) DO UPDATE SET "
        "last_time_stamp = EXCLUDED.last_time_stamp, "
        "last_message_id = EXCLUDED.last_message_id, updated_at = EXCLUDED.updated_at"
    )
    if not representations:
        return upsert
    inserted = _bulk.recorded_rows_sql(Representation, columns=REPRESENTATION_COLUMNS)
    return f"WITH inserted AS ({inserted}) {upsert}"


def _sequences_upsert_orm(
    *, agr_id: int, connection_ids: list[int], time_stamp: dt.datetime, source_message_id: int | None
) -> None:
    RepresentationSequence.objects.bulk_create(
        [
            RepresentationSequence(
                agr_id=agr_id,
                connection_id=connection_id,
                last_time_stamp=time_stamp,
                last_message_id=source_message_id,
            )
            for connection_id in connection_ids
        ],
        batch_size=_bulk.BULK_BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["agr", "connection"],
        update_fields=["last_time_stamp", "last_message", "updated_at"],
    )
