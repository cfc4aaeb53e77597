"""Per-user rate limit on the token route: fixed-window counters, on Redis when configured.

Flask-Limiter cost about 140 us per request on the cache-hit path (a before_request pass on
every route plus its decorator machinery), and the in-memory storage of `limits`, the
library beneath it, starts a timer thread every 10 ms under load. So: Redis counters through
`limits` (one INCR and EXPIRE per request), and in process a cachetools TTLCache of window
counters. While Redis is unreachable the counters fall back to process memory, and Redis is
tried again after RETRY_INTERVAL seconds, like the token store.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from cachetools import TTLCache
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from service.errors import ApiError
from service.keys import derive, mac

log = logging.getLogger(__name__)

RETRY_INTERVAL = 5.0  # seconds between attempts to go back to Redis after it failed
KEY_PREFIX = "gts-limit"
MAX_LOCAL_KEYS = 100_000  # callers tracked in memory; the least recent go first


class MemoryWindows:
    """Fixed-window counters in process memory; old windows expire with the cache."""

    def __init__(self, items: list[RateLimitItem], clock=time.time):
        longest = max(item.get_expiry() for item in items)
        self._counts: TTLCache = TTLCache(MAX_LOCAL_KEYS, ttl=longest, timer=clock)
        self._clock = clock
        self._lock = threading.Lock()

    def hit(self, item: RateLimitItem, key: str) -> float | None:
        """Count one hit; None while within the limit, else when the window ends (epoch)."""
        length = item.get_expiry()
        window = math.floor(self._clock() / length)
        slot = (item.key_for(key), window)
        with self._lock:
            count = self._counts[slot] = self._counts.get(slot, 0) + 1
        return None if count <= item.amount else (window + 1) * length


class RateLimit:
    """`limit` (e.g. "120/minute") per caller, counted in Redis or in process memory."""

    def __init__(
        self,
        limit: str,
        redis_url: str | None,
        clock=time.monotonic,
        *,
        secret_key: str = "",
        message: str = "Too many token requests; slow down.",
    ):
        self._items = parse_many(limit)
        self._names = derive(secret_key, "rate-limit-names")
        self._message = message
        self._local = MemoryWindows(self._items)
        self._shared = None
        if redis_url:
            # Short timeouts: a Redis that does not answer must not hold up the token route.
            storage = storage_from_string(
                redis_url,
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=0.25,
                socket_connect_timeout=0.25,
            )
            self._shared = FixedWindowRateLimiter(storage)
            self._redis = storage.storage  # the redis-py client, closed by close()
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0

    def check(self, who: str) -> None:
        """Count one request of `who`; raise 429 rate_limited with Retry-After when over."""
        # A keyed HMAC, so that counters kept in Redis name no user or address.
        key = mac(self._names, who)[:32]
        resets = None
        if self._shared is not None and self._clock() >= self._down_until:
            try:
                resets = self._shared_resets(key)
            except (StorageError, RedisError, OSError):
                self._fell_back()
        if resets is None:
            resets = [self._local.hit(item, key) for item in self._items]
        over = [reset for reset in resets if reset is not None]
        if over:
            retry_after = max(1, math.ceil(max(over) - time.time()))
            raise ApiError(429, "rate_limited", self._message, retry_after)

    def close(self) -> None:
        """Close the Redis connections, if any."""
        if self._shared is not None:
            self._redis.close()

    def _shared_resets(self, key: str) -> list[float | None]:
        resets = []
        for item in self._items:
            if self._shared.hit(item, key):
                resets.append(None)
            else:
                resets.append(self._shared.get_window_stats(item, key).reset_time)
        return resets

    def _fell_back(self) -> None:
        with self._lock:
            first = self._down_until == 0.0 or self._clock() >= self._down_until + RETRY_INTERVAL
            self._down_until = self._clock() + RETRY_INTERVAL
        if first:
            log.warning("rate-limit counters fall back to process memory: Redis unreachable")
