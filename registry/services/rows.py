"""Rows written on the path of every answer, without the ORM's cost per call.

Django compiles an INSERT again for every bulk_create: for the few rows a drain writes per batch
(responses, delivery attempts) that cost more CPU than the database spent storing them. Here the
statement is built once per process, model and row count; the values are what bulk_create would
have written (each field's pre_save, so auto_now columns are now, then its database form).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from django.db import connection
from django.db.models import Model


def rows_insert(*, objects: Sequence[Model]) -> None:
    """INSERT `objects` (all of one model, not yet stored) in one statement; each gets its pk."""
    if not objects:
        return
    model = type(objects[0])
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    statement, fields = _insert_statement(model, len(objects))
    params: list = []
    for instance in objects:
        params.extend(field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        pks = [pk for (pk,) in cursor.fetchall()]
    # RETURNING gives the rows in the order of the VALUES (bulk_create relies on it too).
    for instance, pk in zip(objects, pks, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = connection.alias


@functools.cache
def _insert_statement(model: type[Model], rows: int) -> tuple[str, list]:
    """INSERT INTO <table> (every column but the key) VALUES (...) x rows RETURNING <key>."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    statement = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(str(field.column)) for field in fields)})"  # noqa: S608 (names from the model)
        f" VALUES {', '.join([row] * rows)} RETURNING {quote(str(model._meta.pk.column))}"
    )
    return statement, fields


@functools.cache
def concrete_attnames(model: type[Model]) -> tuple[str, ...]:
    """Every column's attribute name in the model's order: what Model.from_db takes with a row."""
    return tuple(field.attname for field in model._meta.concrete_fields)
