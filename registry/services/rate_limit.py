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
        cache.add(cache_key, 0, timeout=2 * WINDOW_SECONDS)
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            cache.set(cache_key, 1, timeout=2 * WINDOW_SECONDS)
            count = 1
    except Exception as exc:  # noqa: BLE001 - any cache failure: let the request through
        logger.warning("rate limit not counted, cache unreachable: %s: %s", type(exc).__name__, exc)
        return False
    return count > limit
