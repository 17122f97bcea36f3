"""The database connection as the hot paths use it: services and selectors share these helpers."""

from __future__ import annotations

import functools

from django.db import DEFAULT_DB_ALIAS, connections


def server_binding_cursor():
    """A cursor of the default database connection (Django's error mapping, query log and
    execute wrappers) that, on psycopg 3, binds parameters on the server instead of quoting
    them into the text, so psycopg prepares a statement it sees often (its prepare_threshold)
    and then sends only the values. (The connection is looked up once: each attribute read
    through `django.db.connection` is a thread-local lookup.)"""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql" or not _psycopg3():
        return db.cursor()
    import psycopg

    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    raw = psycopg.Cursor(db.connection)
    # (the stubs say these take Django's wrapper; they take the driver's cursor and wrap it)
    if db.queries_logged:
        return db.make_debug_cursor(raw)  # type: ignore[arg-type]
    return db.make_cursor(raw)  # type: ignore[arg-type]


@functools.cache
def _psycopg3() -> bool:
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return is_psycopg3
