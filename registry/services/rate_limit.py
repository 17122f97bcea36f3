"""A fixed-window request counter per sender, shared by all web processes through the cache."""

import time

from django.conf import settings
from django.core.cache import cache


def rate_limit_exceeded(*, sender_key: str) -> bool:
    """Count one request for the sender; True when it is over CRO_RATE_LIMIT_PER_MINUTE."""
    limit = settings.CRO_RATE_LIMIT_PER_MINUTE
    if limit <= 0:
        return False
    window = int(time.time() // 60)
    key = f"cro:rate:{sender_key}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    return count > limit
