"""The plans PostgreSQL picks for the statements a piece of code sends (EXPLAIN, no timing)."""

from __future__ import annotations

import psycopg
from django.db import connection


def statements_sent(run) -> list[tuple[str, list, bool]]:
    """(SQL with %s placeholders, parameters, bound on the server) of every statement `run` sends."""
    statements: list[tuple[str, list, bool]] = []

    def capture(execute, sql, params, many, context):
        bound_on_server = type(getattr(context["cursor"], "cursor", None)) is psycopg.Cursor
        statements.append((sql, list(params or ()), bound_on_server))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        run()
    return statements


def plan_of(sql: str, params: list, *, bound_on_server: bool) -> dict:
    """The plan of one statement on the data as it is now.

    A statement bound on the server (registry.db.server_binding_cursor) is prepared after a few
    executions, and PostgreSQL may then run it by its generic plan, made without the values:
    that is the plan returned for it (plan_cache_mode force_generic_plan), so a condition that
    only the values would let the planner prove (a partial index's) shows here."""
    with connection.cursor() as cursor:
        if not bound_on_server:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            return cursor.fetchone()[0][0]["Plan"]
        numbered = sql
        for number in range(1, len(params) + 1):
            numbered = numbered.replace("%s", f"${number}", 1)
        cursor.execute(f"PREPARE plan_probe AS {numbered}")
        try:
            cursor.execute("SET plan_cache_mode = force_generic_plan")
            arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE plan_probe{arguments}", params)
            return cursor.fetchone()[0][0]["Plan"]
        finally:
            cursor.execute("RESET plan_cache_mode")
            cursor.execute("DEALLOCATE plan_probe")


def nodes(plan: dict):
    """Every node of a plan, the plan first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)
