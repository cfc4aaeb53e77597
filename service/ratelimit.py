"""Per-user rate limit on the token route: `limits` counters, on Redis when configured.

Flask-Limiter (built on the same `limits` library) cost about 140 us per request on the
cache-hit path, a fifth of a hit, for a before_request pass on every route and its decorator
machinery; the token route needs one counter, checked in the view. While Redis is
unreachable the counters fall back to this process's memory and Redis is tried again after
RETRY_INTERVAL seconds, like the token store.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time

from limits import parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from service.errors import ApiError

log = logging.getLogger(__name__)

RETRY_INTERVAL = 5.0  # seconds between attempts to go back to Redis after it failed
KEY_PREFIX = "gts-limit"


class RateLimit:
    """`limit` (e.g. "120/minute") per caller, counted in Redis or in process memory."""

    def __init__(self, limit: str, redis_url: str | None, clock=time.monotonic):
        self._items = parse_many(limit)
        self._local = FixedWindowRateLimiter(MemoryStorage())
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
        self._clock = clock
        self._lock = threading.Lock()
        self._down_until = 0.0

    def check(self, who: str) -> None:
        """Count one request of `who`; raise 429 rate_limited with Retry-After when over."""
        # Hashed, so that counters kept in Redis name no user.
        key = hashlib.sha256(who.encode()).hexdigest()[:32]
        limiter = self._limiter()
        try:
            over = [item for item in self._items if not limiter.hit(item, key)]
        except (StorageError, RedisError, OSError):
            self._fell_back()
            limiter = self._local
            over = [item for item in self._items if not limiter.hit(item, key)]
        if over:
            reset = max(limiter.get_window_stats(item, key).reset_time for item in over)
            retry_after = max(1, math.ceil(reset - time.time()))
            raise ApiError(429, "rate_limited", "Too many token requests; slow down.", retry_after)

    def _limiter(self) -> FixedWindowRateLimiter:
        if self._shared is None or self._clock() < self._down_until:
            return self._local
        return self._shared

    def _fell_back(self) -> None:
        with self._lock:
            first = self._down_until == 0.0 or self._clock() >= self._down_until + RETRY_INTERVAL
            self._down_until = self._clock() + RETRY_INTERVAL
        if first:
            log.warning("rate-limit counters fall back to process memory: Redis unreachable")
