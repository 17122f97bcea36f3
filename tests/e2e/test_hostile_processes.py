"""Hostile clients and failing infrastructure against real processes (issue 15).

Each test runs a gunicorn of its own on a private redis-server (cache and broker), so that
stopping that Redis leaves the session's processes, and the shared Redis, alone.
"""

import socket
import time
import uuid

import pytest

from registry.models import Message
from registry.services.participants import participant_upsert
from registry.uftp import keys
from tests import factories

from .conftest import start_proc, stop_proc
from .peers import post
from .processes import CroWeb, RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def own_cro(e2e_env, e2e_log_dir):
    """A gunicorn whose cache and broker are a redis-server the test may stop."""
    redis = start_proc(RedisServer(log_dir=e2e_log_dir, name="redis-hostile"))
    env = dict(e2e_env, CACHE_URL=redis.url(1), CELERY_BROKER_URL=redis.url(0))
    # The limits are on (the test settings switch them off in effect), so the cache is used.
    env.update(CRO_RATE_LIMIT_PER_MINUTE="600", CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE="600")
    web = start_proc(CroWeb(env=env, log_dir=e2e_log_dir, workers=1, name="web-hostile"))
    yield web, redis
    stop_proc(web)
    stop_proc(redis)


@pytest.fixture
def sender(transactional_db):
    """A registered DSO: (domain, private key)."""
    domain = f"hostile{uuid.uuid4().hex[:8]}.example.com"
    private_key, public_key = keys.generate_keypair()
    participant_upsert(
        domain=domain,
        role="DSO",
        public_keys=[public_key],
        endpoint_url=f"http://127.0.0.1:9/{domain}/shapeshifter/api/v3/message",
    )
    return domain, private_key


def signed_test_message(domain: str, private_key: str) -> tuple[str, bytes]:
    payload = factories.test_message(sender=domain)
    return payload.message_id, factories.signed(payload, role="DSO", private_key=private_key)


def test_cache_and_broker_down_a_valid_message_is_stored_and_answered_200(own_cro, sender):
    web, redis = own_cro
    _, healthy = signed_test_message(*sender)
    assert post(web.url, healthy).status_code == 200

    stop_proc(redis)
    message_id, data = signed_test_message(*sender)
    started = time.monotonic()
    response = post(web.url, data)
    assert response.status_code == 200, response.text[:300]
    assert time.monotonic() - started < 15
    row = Message.objects.get(direction="in", message_id=message_id)
    assert row.status == Message.Status.RECEIVED  # the sweep dispatches it once Redis is back
    log = web.log_text()
    assert "rate limit not counted, cache unreachable" in log
    assert "Internal Server Error" not in log


def _raw_post(port: int, head_length: int, body: bytes) -> bytes:
    """POST `body` announcing `head_length` bytes, then give up (half-close); the raw answer."""
    head = (
        "POST /shapeshifter/api/v3/message HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: text/xml; charset=utf-8\r\n"
        f"Content-Length: {head_length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_body_shorter_than_its_content_length_is_400_and_not_stored(own_cro, sender):
    web, _ = own_cro
    message_id, data = signed_test_message(*sender)
    answer = _raw_post(web.port, len(data) + 100, data)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"Content-Length" in answer
    assert not Message.objects.filter(message_id=message_id).exists()
    # The same message, whole, is accepted: the refusal was about the missing bytes only.
    assert _raw_post(web.port, len(data), data).startswith(b"HTTP/1.1 200")
    assert Message.objects.filter(message_id=message_id).exists()
