"""What several endpoint tests need: a Redis server to talk to, and a sender held by another drain."""

from __future__ import annotations

import io
import os
import sys
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


def wsgi_environ(body: bytes, **overrides) -> dict:
    """A WSGI environ of a UFTP POST of `body` (an override of None leaves the key out)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/shapeshifter/api/v3/message",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "CONTENT_TYPE": "text/xml; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    environ.update(overrides)
    return {name: value for name, value in environ.items() if value is not None}


def wsgi_call(app, environ: dict) -> tuple[str, dict, bytes]:
    """(status, headers, body) of `app`'s answer; no header may come twice."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers

    result = app(environ, start_response)
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    headers = dict(answer["headers"])
    assert len(headers) == len(answer["headers"]), answer["headers"]  # no header twice
    return answer["status"], headers, body
