"""Fixed-window request counters shared by all web processes through the cache.

Two counters (cro-rules §2): one per client address, counted before the signature check, so
that forged envelopes only ever count against the address they come from; and one per
verified sender (domain, role), counted after it. The cache is a guard, not a store: when it
cannot be reached the request is let through (fail open) and the outage is logged, because a
valid message must still be stored and answered 200.
"""

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60


def client_address_rate_limit_exceeded(*, client_address: str) -> bool:
    """Count one request from the address; True when it is over its per-minute limit."""
    return _counter_exceeded(key=f"ip/{client_address}", limit=settings.CRO_RATE_LIMIT_PER_ADDRESS_PER_MINUTE)


def sender_rate_limit_exceeded(*, sender_domain: str, sender_role: str) -> bool:
    """Count one verified request of the sender; True when it is over CRO_RATE_LIMIT_PER_MINUTE."""
    return _counter_exceeded(
        key=f"sender/{sender_domain}/{sender_role}", limit=settings.CRO_RATE_LIMIT_PER_MINUTE
    )


def _counter_exceeded(*, key: str, limit: int) -> bool:
    if limit <= 0:
        return False
    window = int(time.time() // WINDOW_SECONDS)
    # A digest keeps every cache key short, whatever the input it is made of.
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    cache_key = f"cro:rate:{digest}:{window}"
    try:
        count = _count(cache_key)
    except Exception as exc:  # noqa: BLE001 - any cache failure: let the request through
        logger.warning("rate limit not counted, cache unreachable: %s: %s", type(exc).__name__, exc)
        return False
    return count > limit


# One round trip on Redis: the increment, and the expiry of a counter that has just begun.
_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_increment_script = None


def _count(cache_key: str) -> int:
    """Add one to the counter and return it. With Django's Redis cache one script call (an
    INCR as Django stores integers, so cache.get reads it back); otherwise add + incr, two
    round trips each time."""
    global _increment_script
    backend = getattr(cache, "_cache", None)
    if isinstance(backend, RedisCacheClient):
        key = cache.make_and_validate_key(cache_key)
        client = backend.get_client(key, write=True)
        if _increment_script is None:
            _increment_script = client.register_script(_INCREMENT)
        return int(_increment_script(keys=[key], args=[2 * WINDOW_SECONDS], client=client))
    cache.add(cache_key, 0, timeout=2 * WINDOW_SECONDS)
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=2 * WINDOW_SECONDS)
        return 1
