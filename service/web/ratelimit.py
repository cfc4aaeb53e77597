"""Per-user rate limit on the token route: fixed-window counters, in Redis through the link.

Flask-Limiter cost about 140 us per request on the cache-hit path (a before_request pass on
every route plus its decorator machinery), and the in-memory storage of `limits` starts a timer
thread every 10 ms under load; `limits` still parses the limit ("120/minute;5/second"). In
Redis, one script call per request counts every window of a caller (INCR, PEXPIRE on the first
hit, PTTL for Retry-After). Its keys carry the caller's hash tag, so a cluster runs it on one
node, and different callers spread over the nodes:

    gts:rl:{<hmac(caller)>}:<amount>-<multiples>-<granularity>   one window's count

In process, a cachetools LRUCache of each caller's window counters. While the RedisLink says
Redis is down, counting falls back to process memory (the link logs the outage and tries again
every 5 s).
A later counter (a sliding-window budget, say) is another class beside RedisWindows on the
same link.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable

from cachetools import LRUCache
from limits import RateLimitItem, parse_many

from service.core.keys import derive, mac
from service.core.redis_link import RedisDown, RedisLink
from service.web.errors import ApiError

MAX_LOCAL_KEYS = 100_000  # callers tracked in memory; the least recent go first

# Count a hit in every window of KEYS (ARGV: their lengths in ms); answer count, ms left, ...
_HIT = """
local out = {}
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    local left = redis.call('PTTL', key)
    if left < 0 then
        redis.call('PEXPIRE', key, ARGV[i])
        left = tonumber(ARGV[i])
    end
    out[2 * i - 1] = count
    out[2 * i] = left
end
return out
"""


class MemoryWindows:
    """Fixed-window counters in process memory: one [window, count] pair per limit and caller,
    the least recently counted callers dropped beyond MAX_LOCAL_KEYS."""

    def __init__(self, items: list[RateLimitItem], clock: Callable[[], float] = time.time):
        # (window length, amount) per item, worked out once: hit() is on the hot path.
        self._windows = [(item.get_expiry(), item.amount) for item in items]
        # One LRU entry per caller, its pairs changed in place: a hit is one cache lookup (a
        # TTLCache of (caller, window) counters cost two lookups and a store per limit).
        self._counts: LRUCache = LRUCache(MAX_LOCAL_KEYS)
        self._clock = clock
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one hit in every window; the end (epoch) of the last window over its limit,
        or None when every window is within its limit."""
        over = None
        now = self._clock()
        with self._lock:
            try:
                pairs = self._counts[key]  # one lookup; get() asks __contains__ first
            except KeyError:
                pairs = self._counts[key] = [[-1.0, 0] for _ in self._windows]
            for pair, (length, amount) in zip(pairs, self._windows, strict=True):
                window = now // length
                if pair[0] == window:
                    pair[1] += 1
                else:  # a new window starts from zero
                    pair[0], pair[1] = window, 1
                if pair[1] > amount:
                    end = (window + 1) * length
                    over = end if over is None else max(over, end)
        return over


class RedisWindows:
    """Fixed-window counters in Redis, shared by every worker and host; a window starts at
    its first hit."""

    def __init__(self, items: list[RateLimitItem], link: RedisLink, prefix: str = "gts"):
        self._items = items
        self._link = link
        self._prefix = prefix
        self._lengths = [item.get_expiry() * 1000 for item in items]

    def hit(self, key: str) -> float | None:
        """Like MemoryWindows.hit; RedisDown while Redis is down."""
        names = [
            f"{self._prefix}:rl:{{{key}}}:{i.amount}-{i.multiples}-{i.GRANULARITY.name}"
            for i in self._items
        ]
        script = self._link.script(_HIT)
        out = self._link.run(
            lambda r: script(keys=names, args=self._lengths, client=r), skip_while_down=True
        )
        now = time.time()
        ends = [
            now + out[2 * n + 1] / 1000
            for n, item in enumerate(self._items)
            if out[2 * n] > item.amount
        ]
        return max(ends, default=None)


class RateLimit:
    """`limit` (e.g. "120/minute") per caller, counted in Redis or in process memory."""

    def __init__(
        self,
        limit: str,
        link: RedisLink | None,
        secret_key: str,
        clock: Callable[[], float] = time.time,
        *,
        message: str = "Too many token requests; slow down.",
    ):
        items = parse_many(limit)
        self._message = message
        self._local = MemoryWindows(items, clock)
        self._shared = RedisWindows(items, link) if link is not None else None
        names = derive(secret_key, "rate-limit-names")
        # Keyed, so that counters kept in Redis name no user, and the name is a hash tag; kept
        # per caller, since the same caller is counted on every request.
        self._key = functools.lru_cache(maxsize=MAX_LOCAL_KEYS)(
            lambda who: mac(names, "rl", who)[:32]
        )

    def check(self, who: str) -> None:
        """Count one request of `who`; raise 429 rate_limited with Retry-After when over."""
        key = self._key(who)
        if self._shared is None:
            over = self._local.hit(key)
        else:
            try:
                over = self._shared.hit(key)
            except RedisDown:  # the link logged it; count in memory until it is back
                over = self._local.hit(key)
        if over is not None:
            retry_after = max(1, math.ceil(over - time.time()))
            raise ApiError(429, "rate_limited", self._message, retry_after)
