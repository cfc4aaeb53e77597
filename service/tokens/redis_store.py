"""RedisTokenStore: the TokenStore shared by gunicorn workers and hosts
(docs/sessions-and-tokens.md#the-token-cache).

Layout (names and sealed values: token_names.py):

    gts:tok:{s}:<hmac(session, user, org)>   string: the sealed entry, PX = time left to
                                             serve_until
    gts:sess:{s}                             hash: field = token key name, value = hmac(org);
                                             expires with its longest-lived member
    gts:lock:{s}:<hmac(session, user, org)>  the single-flight lock (redis-py Lock)

{s} puts a session's keys in one cluster slot, so `_PUT` (token and index) and the eviction
transaction stay single-slot. serve_until is wall time on the host that minted; other hosts
compare it with their own clock, so they rely on NTP-sized skew (far below the margin).
Redis expires the value with a relative PX, so Redis's own clock does not matter.

Single flight across processes: the broker holds `lock(key)` around re-read, mint and put.
The lock expires after `lock_timeout` (a mint that outlives it may be repeated elsewhere). A
caller that waits more than `lock_wait` for it mints without it rather than fail: an
occasional second WorkOS call beats a stalled request.

In-process layers (both `MemoryTokenStore`s, bounded by maxsize):
    local      the L1 in front of Redis: a copy served for at most `local_ttl` seconds after
               it was read or written here, and never past the shared entry's serve_until.
               `local_ttl` is also the bound on how late an eviction made on another host
               (logout, switch) takes effect here. 0 turns the L1 off.
    fallback   every entry this process has read or written, for its full life: it answers
               only while Redis is unreachable. A Redis miss drops the copy, so it never
               outlives an eviction this process has seen.

Outage (the RedisLink decides when Redis is down and when it is back, and logs it): while it
is down, get/put/evict/lock use process memory and an in-process lock (the broker's own single
flight); when it comes back, the evictions made meanwhile are replayed. What may remain: a
token another host evicted, which this process had not read again before the outage, is
served from the fallback until Redis returns or its own serve_until passes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import TypedDict, TypeVar, Unpack, cast

from redis.exceptions import LockError

from service.core.redis_link import Client, RedisDown, RedisLink, ping_every_node
from service.tokens.names import TokenNames
from service.tokens.store import CachedToken, MemoryTokenStore, TokenKey, TokenStore

log = logging.getLogger(__name__)
T = TypeVar("T")

# Store the value, index it under its session, and keep the index alive as long as its
# longest member (PTTL is -1 on a fresh hash). One round trip, atomic; both keys carry the
# session's hash tag, so a cluster runs it on one node.
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], KEYS[1], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""

_Pending = tuple[str, str | None]  # an eviction to replay: (token_session, audience or all)


class StoreOptions(TypedDict, total=False):
    """RedisTokenStore's tuning knobs that make_token_store passes on."""

    local_ttl: float
    lock_timeout: float
    lock_wait: float
    lock_poll: float


@dataclass(frozen=True)
class _LocalCopy(CachedToken):
    """An L1 entry: expires (serve_until) before the shared entry it carries."""

    shared: CachedToken | None = field(default=None, repr=False)


class RedisTokenStore:
    """TokenStore on Redis, with an in-process L1 and an in-process fallback for outages."""

    def __init__(
        self,
        link: RedisLink,
        secret_key: str,
        *,
        maxsize: int = 10000,
        clock: Callable[[], float] = time.time,
        local_ttl: float = 1.0,
        lock_timeout: float = 15.0,
        lock_wait: float = 12.0,
        lock_poll: float = 0.02,
        key_prefix: str = "gts",
        fallbacks: Sequence[str] = (),
    ):
        if local_ttl < 0 or lock_timeout <= 0 or lock_wait < 0:
            raise ValueError("local_ttl, lock_wait >= 0; lock_timeout > 0")
        self._link = link
        self._clock = clock
        self._local_ttl = local_ttl
        self._lock_timeout = lock_timeout
        self._lock_wait = lock_wait
        self._lock_poll = lock_poll
        self._prefix = key_prefix
        self._names = TokenNames(secret_key, fallbacks, key_prefix)
        self._local = MemoryTokenStore(maxsize, clock) if local_ttl > 0 else None
        self._fallback = MemoryTokenStore(maxsize, clock)
        self._maxsize = maxsize
        self._pending_lock = threading.Lock()
        self._pending: dict[_Pending, None] = {}  # insertion-ordered set
        link.subscribe(self._link_changed)

    # -- TokenStore ------------------------------------------------------------------------

    def get(self, key: TokenKey) -> CachedToken | None:
        """L1, else Redis (filling L1 and fallback), else, while Redis is down, the fallback."""
        if self._local is not None:
            copy = self._local.get(key)
            if isinstance(copy, _LocalCopy) and copy.shared is not None:
                return copy.shared
        ok, entry = self._attempt(lambda r: self._redis_get(r, key))
        if not ok:
            return self._fallback.get(key)
        if entry is None:
            self._fallback.delete(key)  # Redis is the truth: evicted or expired elsewhere
            return None
        self._keep(key, entry)
        return entry

    def put(self, key: TokenKey, entry: CachedToken) -> None:
        """Store entry in Redis until its serve_until, and in process memory."""
        self._keep(key, entry)
        self._attempt(lambda r: self._redis_put(r, key, entry))

    def delete(self, key: TokenKey) -> bool:
        """Drop key everywhere; True when a live entry was removed."""
        held = self._forget(lambda s: s.delete(key)) > 0
        ok, removed = self._attempt(lambda r: self._redis_evict(r, key[0], key[2], only=key))
        if not ok:
            self._defer((key[0], key[2]))
            return held
        assert removed is not None  # ok: _redis_evict's count
        return removed > 0

    def evict_session(self, token_session: str) -> int:
        """Drop every entry of a session everywhere (logout); how many."""
        return self._evict(token_session, None)

    def evict(self, token_session: str, audience: str) -> int:
        """Drop a session's entries for one organization everywhere (switch); how many."""
        return self._evict(token_session, audience)

    def lock(self, key: TokenKey) -> AbstractContextManager[object]:
        """A Redis lock for key (cross-process single flight); none while Redis is down."""
        try:
            client = self._link.run(lambda r: r, skip_while_down=True)
        except RedisDown:
            return nullcontext()
        return self._redis_lock(client, key)

    def __len__(self) -> int:
        """Entries this process holds (counting Redis would cost a scan)."""
        return len(self._fallback)

    # -- operations ------------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        """For /readyz: ok (tokens are served, from memory if need be) and whether degraded."""
        ok, _ = self._attempt(ping_every_node)
        return {"backend": "redis", "ok": True, "degraded": not ok}

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and process memory answers."""
        return self._link.down

    def close(self) -> None:
        """Close this process's connections (tests; a worker simply exits)."""
        self._link.close()

    # -- Redis operations (each runs through _attempt) -------------------------------------

    def _redis_get(self, r: Client, key: TokenKey) -> CachedToken | None:
        for keys in self._names.keysets:
            name = self._names.token(key, keys)
            # The link's client does not decode responses: a value is bytes.
            value = cast("bytes | None", r.get(name))
            entry = self._names.unseal(name, value) if value is not None else None
            if entry is not None and entry.serve_until > self._clock():
                return entry
        return None

    def _redis_put(self, r: Client, key: TokenKey, entry: CachedToken) -> None:
        ttl_ms = math.ceil((entry.serve_until - self._clock()) * 1000)
        if ttl_ms <= 0:
            return
        name = self._names.token(key)
        self._link.script(_PUT)(
            keys=[name, self._names.session(key[0])],
            args=[self._names.seal(name, entry), ttl_ms, self._names.org(key[2])],
            client=r,
        )

    def _redis_evict(
        self,
        r: Client,
        token_session: str,
        audience: str | None,
        only: TokenKey | None = None,
    ) -> int:
        return sum(
            self._redis_evict_under(r, keys, token_session, audience, only)
            for keys in self._names.keysets
        )

    def _redis_evict_under(
        self,
        r: Client,
        keys: tuple[bytes, bytes],
        token_session: str,
        audience: str | None,
        only: TokenKey | None,
    ) -> int:
        index = self._names.session(token_session, keys)
        members = r.hgetall(index)  # {token key name: org tag}
        tag = None if audience is None else self._names.org(audience, keys).encode()
        wanted = None if only is None else self._names.token(only, keys).encode()
        doomed = [
            name
            for name, org in members.items()
            if (tag is None or org == tag) and (wanted is None or name == wanted)
        ]
        if not doomed:
            return 0
        pipe = r.pipeline(transaction=True)
        pipe.delete(*doomed)
        if len(doomed) == len(members):
            pipe.delete(index)
        else:
            pipe.hdel(index, *doomed)
        return pipe.execute()[0]

    @contextmanager
    def _redis_lock(self, r: Client, key: TokenKey) -> Iterator[None]:
        lock = r.lock(
            self._names.lock(key),
            timeout=self._lock_timeout,
            sleep=self._lock_poll,
            blocking_timeout=self._lock_wait,
        )
        ok, acquired = self._attempt(lambda _r: lock.acquire())
        if ok and not acquired:
            log.warning(
                "token store: waited %gs for another process's mint; minting without the lock",
                self._lock_wait,
            )
        try:
            yield
        finally:
            if ok and acquired:
                try:
                    self._attempt(lambda _r: lock.release())
                except LockError:
                    pass  # expired meanwhile (lock_timeout): nothing of ours to release

    # -- in-process layers -----------------------------------------------------------------

    def _keep(self, key: TokenKey, entry: CachedToken) -> None:
        self._fallback.put(key, entry)
        if self._local is not None:
            until = min(entry.serve_until, self._clock() + self._local_ttl)
            self._local.put(key, _LocalCopy(entry.token, entry.expires_at, until, entry))

    def _forget(self, drop: Callable[[MemoryTokenStore], int | bool]) -> int:
        removed = int(drop(self._fallback))
        if self._local is not None:
            drop(self._local)
        return removed

    def _evict(self, token_session: str, audience: str | None) -> int:
        if audience is None:
            held = self._forget(lambda s: s.evict_session(token_session))
        else:
            held = self._forget(lambda s: s.evict(token_session, audience))
        ok, removed = self._attempt(lambda r: self._redis_evict(r, token_session, audience))
        if not ok:
            self._defer((token_session, audience))
            return held
        assert removed is not None  # ok: _redis_evict's count
        return removed

    def _defer(self, pending: _Pending) -> None:
        """Remember an eviction Redis missed, to replay when it answers again."""
        with self._pending_lock:
            self._pending[pending] = None
            while len(self._pending) > self._maxsize:
                del self._pending[next(iter(self._pending))]

    def _replay(self) -> None:
        while True:
            with self._pending_lock:
                if not self._pending or self._link.down:
                    return
                pending = next(iter(self._pending))
                del self._pending[pending]
            token_session, audience = pending
            ok, _ = self._attempt(
                partial(self._redis_evict, token_session=token_session, audience=audience)
            )
            if not ok:
                self._defer(pending)
                return

    # -- the link -------------------------------------------------------------------------

    def _attempt(self, op: Callable[[Client], T]) -> tuple[bool, T | None]:
        """(True, op's result), or (False, None) when Redis is down or fails now."""
        try:
            return True, self._link.run(op, skip_while_down=True)
        except RedisDown:
            return False, None

    def _link_changed(self, down: bool) -> None:
        if not down:
            self._replay()


def make_token_store(
    link: RedisLink | None,
    secret_key: str,
    maxsize: int,
    clock: Callable[[], float] = time.time,
    fallbacks: Sequence[str] = (),
    **options: Unpack[StoreOptions],
) -> TokenStore:
    """RedisTokenStore on the link when Redis is configured, else the in-process store."""
    if link is None:
        return MemoryTokenStore(maxsize, clock)
    return RedisTokenStore(
        link, secret_key, maxsize=maxsize, clock=clock, fallbacks=fallbacks, **options
    )
