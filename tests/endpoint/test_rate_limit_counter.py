"""The rate limit's counters on Django's Redis cache: one round trip per request counted."""

import uuid

import pytest
import redis
from django.core.cache import cache

from registry.services import rate_limit

from .support import NEEDS_REDIS, REDIS_URL

pytestmark = NEEDS_REDIS


@pytest.fixture
def redis_cache(settings):
    # A key prefix of its own: parallel runs share the Redis database (nothing is cleared).
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"cro-test-{uuid.uuid4().hex[:8]}",
        }
    }
    return cache


def test_each_count_is_one_round_trip_and_the_counter_expires(redis_cache, settings, monkeypatch):
    settings.CRO_RATE_LIMIT_PER_MINUTE = 2
    domain = f"dso-{uuid.uuid4().hex[:6]}.example.com"
    rate_limit.sender_rate_limit_exceeded(
        sender_domain=f"warm-{domain}", sender_role="DSO"
    )  # loads the script
    commands: list[str] = []
    original = redis.Redis.execute_command

    def counted(self, *args, **options):
        commands.append(str(args[0]))
        return original(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    answers = [
        rate_limit.sender_rate_limit_exceeded(sender_domain=domain, sender_role="DSO") for _ in range(3)
    ]
    monkeypatch.setattr(redis.Redis, "execute_command", original)

    assert answers == [False, False, True]
    assert len(commands) == 3, commands
    # The counter is a cache entry Django reads back, and it expires after two windows.
    client = redis_cache._cache.get_client()
    keys = client.keys(f"{settings.CACHES['default']['KEY_PREFIX']}:*")
    assert sorted(int(client.get(key)) for key in keys) == [1, 3]
    for key in keys:
        assert 0 < client.ttl(key) <= 2 * rate_limit.WINDOW_SECONDS
        client.delete(key)
