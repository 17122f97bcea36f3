"""Rows written on the path of every answer, without the ORM's cost per call.

Django compiles an INSERT again for every bulk_create: for the few rows a drain writes per batch
(responses, delivery attempts) that cost more CPU than the database spent storing them. Here the
statement is built once per process and model; the values are what bulk_create would have
written (each field's pre_save, so auto_now columns are now, then its database form).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model

from registry.db import server_binding_cursor

# The field types whose database form JSON carries as it is (a date-time as ISO 8601 text).
_JSON_FIELD_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "DateTimeField",
        "FloatField",
        "ForeignKey",
        "IntegerField",
        "PositiveBigIntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)


def rows_insert(*, objects: Sequence[Model]) -> None:
    """INSERT `objects` (all of one model, not yet stored) in one statement; each gets its pk.

    On PostgreSQL the rows travel as one JSON parameter (`jsonb_populate_recordset` over the
    table's own row type, so every value is checked against its column as an INSERT checks it),
    and the statement is the same text whatever the number of rows: psycopg converts it once
    per process and prepares it on the server. As a VALUES list it had 28 parameters per message
    row, past psycopg's cache of converted queries (50 parameters): it split the statement and
    quoted every value anew for each batch. Measured in process (200 inserts of Message rows):
    0.19 -> 0.11 ms of CPU per row in batches of 20, 0.33 -> 0.26 ms for one row.
    """
    if not objects:
        return
    model = type(objects[0])
    statement = _insert_statement(model) if connection.vendor == "postgresql" else None
    if statement is None:
        model._default_manager.bulk_create(objects)
        return
    sql, fields, columns = statement
    with server_binding_cursor() as cursor:
        cursor.execute(sql, [_json_rows(objects, fields, columns, adding=True)])
        pks = [pk for (pk,) in cursor.fetchall()]
    _stored(objects, pks)


def rows_update_and_insert(
    *, updated: Sequence[Model], fields: Sequence[str], inserted: Sequence[Model]
) -> None:
    """In ONE statement (PostgreSQL): UPDATE the `fields` (attribute names) of the stored
    `updated` rows, by primary key, to the values their instances hold; and INSERT `inserted`
    as rows_insert does (each gets its pk). A drain's batch: its messages' processed fields
    and their responses, one round trip on the path of each answer instead of two."""
    if not updated or not inserted:
        raise ValueError("rows_update_and_insert needs rows to update and rows to insert")
    if connection.vendor != "postgresql":
        raise ValueError("rows_update_and_insert is for PostgreSQL")
    sql, (update_fields, update_columns), (insert_fields, insert_columns) = update_and_insert_statement(
        type(updated[0]), tuple(fields), type(inserted[0])
    )
    with server_binding_cursor() as cursor:
        cursor.execute(
            sql,
            [
                _json_rows(updated, update_fields, update_columns, adding=False),
                _json_rows(inserted, insert_fields, insert_columns, adding=True),
            ],
        )
        pks = [pk for (pk,) in cursor.fetchall()]
    _stored(inserted, pks)


def _json_rows(objects: Sequence[Model], fields: list, columns: list[str], *, adding: bool) -> str:
    """The rows as a JSON array of objects keyed by column, each value in its database form
    (new rows: after each field's pre_save, so auto_now columns are now).

    A value already in its database form (a str for a text column, an int for an integer, an
    aware date-time, None) is taken as it is: Django's get_db_prep_save returns those unchanged
    (the tests compare), at a few microseconds a call, 5% of the worker's Python CPU per message.
    Positive integers are checked by the database (the columns' CHECK constraints)."""
    plan = _json_plan(tuple(fields), adding)
    rows = []
    for instance in objects:
        row = {}
        for column, (field, attname, pre_save, plain) in zip(columns, plan, strict=True):
            value = field.pre_save(instance, True) if pre_save else getattr(instance, attname)
            if value is not None and not (
                type(value) is plain and (plain is not dt.datetime or value.tzinfo is not None)
            ):
                value = field.get_db_prep_save(value, connection)
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            row[column] = value
        rows.append(row)
    return json.dumps(rows, allow_nan=False)


# The Python type (exactly: a bool is an int, a TextChoices member a str) whose values a column
# of each field type stores unchanged on PostgreSQL (a date-time only when aware).
_PLAIN_TYPES: dict[str, type] = {
    "AutoField": int,
    "BigAutoField": int,
    "BigIntegerField": int,
    "BooleanField": bool,
    "CharField": str,
    "DateTimeField": dt.datetime,
    "FloatField": float,
    "ForeignKey": int,
    "IntegerField": int,
    "PositiveBigIntegerField": int,
    "PositiveIntegerField": int,
    "PositiveSmallIntegerField": int,
    "SmallIntegerField": int,
    "TextField": str,
}


@functools.cache
def _json_plan(fields: tuple, adding: bool) -> tuple:
    """Per field: (field, attname, whether pre_save sets it, the type it stores unchanged)."""
    plan = []
    for field in fields:
        pre_save = adding and (getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))
        plan.append((field, field.attname, pre_save, _PLAIN_TYPES.get(field.get_internal_type())))
    return tuple(plan)


def _stored(objects: Sequence[Model], pks: list) -> None:
    # RETURNING gives the rows in the order of the JSON array (bulk_create relies on the same
    # for a VALUES list).
    for instance, pk in zip(objects, pks, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = connection.alias


@functools.cache
def _insert_statement(model: type[Model]) -> tuple[str, list, list[str]] | None:
    """INSERT INTO <table> (every column but the key) SELECT them FROM the rows of a JSON array
    RETURNING <key>; None when a column's value has no plain JSON form (bulk_create then)."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    if any(field.get_internal_type() not in _JSON_FIELD_TYPES for field in fields):
        return None
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(str(field.column)) for field in fields)
    sql = (
        f"INSERT INTO {table} ({names}) SELECT {names}"  # noqa: S608 (names from the model)
        f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb)"
        f" RETURNING {quote(str(model._meta.pk.column))}"
    )
    return sql, fields, [str(field.column) for field in fields]


@functools.cache
def update_and_insert_statement(
    updated: type[Model], attnames: tuple[str, ...], inserted: type[Model]
) -> tuple[str, tuple[list, list[str]], tuple[list, list[str]]]:
    """The statement of rows_update_and_insert (its two parameters: the JSON rows to update,
    then those to insert), and the fields and columns of each JSON array."""
    inserting = _insert_statement(inserted)
    if inserting is None:
        raise ValueError(f"{inserted.__name__}: a field without a plain JSON form")
    update_sql, update_fields, update_columns = _update_statement(updated, attnames)
    insert_sql, insert_fields, insert_columns = inserting
    return (
        f"WITH updated AS ({update_sql}) {insert_sql}",
        (update_fields, update_columns),
        (insert_fields, insert_columns),
    )


@functools.cache
def _update_statement(model: type[Model], attnames: tuple[str, ...]) -> tuple[str, list, list[str]]:
    """UPDATE <table> SET <the fields' columns> FROM the rows of a JSON array (the key and the
    fields), each column typed without its length, so an over-long value fails as an UPDATE's."""
    fields: list[Field] = [model._meta.pk]
    for name in attnames:
        field = model._meta.get_field(name)
        if not isinstance(field, Field):
            raise ValueError(f"{model.__name__}.{name} is not a column")
        fields.append(field)
    if any(field.get_internal_type() not in _JSON_FIELD_TYPES for field in fields):
        raise ValueError(f"{model.__name__}: a field without a plain JSON form")
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [str(field.column) for field in fields]
    definition = ", ".join(
        f"{quote(column)} {field.cast_db_type(connection)}"
        for column, field in zip(columns, fields, strict=True)
    )
    assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns[1:])
    sql = (
        f"UPDATE {table} SET {assignments}"  # noqa: S608 (names from the model)
        f" FROM jsonb_to_recordset(%s::jsonb) AS v({definition})"
        f" WHERE {table}.{quote(columns[0])} = v.{quote(columns[0])}"
    )
    return sql, fields, columns


@functools.cache
def concrete_attnames(model: type[Model]) -> tuple[str, ...]:
    """Every column's attribute name in the model's order: what Model.from_db takes with a row."""
    return tuple(field.attname for field in model._meta.concrete_fields)
