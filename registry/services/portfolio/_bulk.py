"""Bulk reads and writes, by database vendor, and the planner statistics refresh after a large write.

The databases bound the parameters of one statement (SQLite 32766, PostgreSQL 65535), so nothing
here binds one parameter per row: on PostgreSQL a list of values is one array parameter (InArray,
unnest) and rows are streamed with COPY; elsewhere values go in chunks of CHUNK_SIZE and rows in
batches of BULK_BATCH_SIZE.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial

from django.db import DatabaseError, IntegrityError, transaction
from django.db import connection as database
from django.db.models import F, Model, Q

from registry.models import Message
from registry.models.portfolio import InArray

logger = logging.getLogger(__name__)

# Values per `IN` condition where there are no arrays: well below SQLite's 32766 bound variables.
CHUNK_SIZE = 5_000
# Rows per INSERT of the ORM's bulk_create.
BULK_BATCH_SIZE = 5_000
# An update that writes this many rows to a table (and 10% of it) refreshes its planner statistics.
ANALYZE_MIN_ROWS = 1_000

# Above this many new rows, the updates' writes (`_dso_rows`, `_agr_rows`) COPY them: faster than
# the arrays of one statement from about a thousand rows (50,000 memberships: 0.15 s sooner).
ROWS_IN_STATEMENT = 1_000
# What every bitemporal row is recorded with, after its own columns.
RECORDED_FIELDS = ("recorded_at", "recorded_by_id", "source")

# Rows written per table name, for the statistics refresh.
RowsWritten = Counter[str]


def is_postgresql() -> bool:
    return database.vendor == "postgresql"


def quoted_table(model: type[Model]) -> str:
    """`model`'s table name, quoted for SQL text."""
    return database.ops.quote_name(model._meta.db_table)


def in_batches(field: str, values: Sequence) -> Iterator[Q | InArray]:
    """Conditions `field IN values`: one on PostgreSQL, chunks below SQLite's variable limit elsewhere."""
    if not values:
        return
    if database.vendor == "postgresql":
        yield InArray(F(field), list(values))
        return
    for start in range(0, len(values), CHUNK_SIZE):
        yield Q(**{f"{field}__in": values[start : start + CHUNK_SIZE]})


def rows_supersede(
    model: type[Model], *, ids: list[int], now: dt.datetime, source_message: Message | None
) -> RowsWritten:
    """Close the transaction time of current rows. A row closed by someone else is a lost update."""
    updated = 0
    for among in in_batches("pk", ids):
        updated += model._default_manager.filter(among, superseded_at__isnull=True).update(
            superseded_at=now, superseded_by=source_message
        )
    if updated != len(ids):
        # Cannot happen under our row locks; treated like a lost race (the update is retried).
        raise IntegrityError(f"{model.__name__}: {len(ids) - updated} rows were superseded concurrently")
    return Counter({model._meta.db_table: updated})


def rows_insert(model: type[Model], *, fields: tuple[str, ...], rows: list[tuple]) -> RowsWritten:
    """Insert many rows: COPY on PostgreSQL (no ORM work per row), bulk_create elsewhere.

    `fields` are attribute names (`..._id` for foreign keys); each row holds their values in order.
    """
    if not rows:
        return Counter()
    if database.vendor != "postgresql":
        model._default_manager.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows], batch_size=BULK_BATCH_SIZE
        )
        return Counter({model._meta.db_table: len(rows)})
    quote = database.ops.quote_name
    column_of = {field.attname: field.column for field in model._meta.concrete_fields if field.column}
    columns = ", ".join(quote(column_of[name]) for name in fields)
    with database.cursor() as cursor, database.wrap_database_errors:
        with cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    return Counter({model._meta.db_table: len(rows)})


def recorded_rows_sql(model: type[Model], *, columns: dict[str, str]) -> str:
    """The INSERT of rows of `model` recorded by one update, its parameters as
    `recorded_rows_params` gives them: the moment, the message id and the source, then one array
    per column (`columns`: name -> SQL type, in the order of the rows' values)."""
    arrays = ", ".join(f"%s::{sql_type}[]" for sql_type in columns.values())
    names = ", ".join((*RECORDED_FIELDS, *columns))
    return f"INSERT INTO {quoted_table(model)} ({names}) SELECT %s, %s, %s, r.* FROM unnest({arrays}) AS r"  # noqa: S608 (names from the models)


def recorded_rows_params(
    model: type[Model],
    *,
    fields: tuple[str, ...],
    rows: list[tuple],
    now: dt.datetime,
    source_message_id: int | None,
    source: str,
) -> list | None:
    """Rows of `model` (values of `fields`) recorded now by one update.

    On PostgreSQL, up to ROWS_IN_STATEMENT rows: the parameters of `recorded_rows_sql`, for the
    caller to send with its other writes in one statement. Otherwise the rows are inserted here
    (COPY on PostgreSQL, bulk_create elsewhere) and None is returned, as for no rows.
    """
    if not rows:
        return None
    if is_postgresql() and len(rows) <= ROWS_IN_STATEMENT:
        return [now, source_message_id, source, *(list(column) for column in zip(*rows, strict=True))]
    rows_insert(
        model,
        fields=(*fields, *RECORDED_FIELDS),
        rows=[(*row, now, source_message_id, source) for row in rows],
    )
    return None


def statistics_refresh_on_commit(written: RowsWritten) -> None:
    """Refresh the statistics of the tables in `written` once (and only if) the transaction commits.

    Only tables that got at least ANALYZE_MIN_ROWS rows can qualify, so a small update (the common
    message) registers nothing: no catalogue reads between its commit and its response leaving.
    """
    large = {table: rows for table, rows in written.items() if rows >= ANALYZE_MIN_ROWS}
    if large:
        transaction.on_commit(partial(_statistics_refresh, large), robust=True)


def _statistics_refresh(written: dict[str, int]) -> None:
    """VACUUM (ANALYZE) the tables a large update changed, right after it committed.

    Autovacuum would, but only a minute or so later: until then the planner takes a freshly filled
    table for nearly empty and picks nested loops that turn a 50,000-connection query from 0.3 s
    into minutes, and the new pages are not marked all-visible, so the queries' index-only probes
    (the AGR of each connection of a DSO query) each fetch a heap page too: 2.5x slower on a
    freshly loaded 2,000,000-connection registry. Same rule as autovacuum (10% of the table
    changed), at least ANALYZE_MIN_ROWS. Inside an enclosing transaction, where VACUUM cannot
    run, only ANALYZE.
    """
    if database.vendor != "postgresql":
        return
    command = "ANALYZE" if database.in_atomic_block else "VACUUM (ANALYZE)"
    try:
        with database.cursor() as cursor:
            for table, rows in sorted(written.items()):
                cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
                (estimate,) = cursor.fetchone()
                if estimate < 0 or rows >= 0.1 * estimate:
                    cursor.execute(f"{command} {database.ops.quote_name(table)}")
    except DatabaseError:
        logger.warning("could not refresh the planner statistics of %s", sorted(written), exc_info=True)
