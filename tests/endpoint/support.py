"""What several endpoint tests need: a Redis server to talk to, and a sender held by another drain."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
import redis
from django.db import connection

from registry.services import processing

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


# pytestmark of a module whose tests talk to REDIS_URL: skipped when nothing answers there.
NEEDS_REDIS = [
    pytest.mark.redis,
    pytest.mark.skipif(not _redis_answers(), reason=f"needs a Redis server answering PING at {REDIS_URL}"),
]


@contextmanager
def sender_held_elsewhere(*, domain: str, role: str):
    """Another drain's transaction, on a connection of its own, holds the sender's lock until
    the block ends (PostgreSQL)."""
    import psycopg

    settings_dict = connection.settings_dict
    with (
        psycopg.connect(
            host=settings_dict["HOST"] or "127.0.0.1",
            port=settings_dict["PORT"] or 5432,
            user=settings_dict["USER"],
            dbname=settings_dict["NAME"],
        ) as other,
        other.transaction(),
    ):
        other.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", processing._sender_lock_key(domain=domain, role=role)
        )
        yield
