"""RedisTokenStore: the TokenStore shared by gunicorn workers and hosts (design.md §5).

Layout (every name carries an HMAC-SHA256 under a key derived from SECRET_KEY, so names are
the same on every host that shares SECRET_KEY and say nothing about sessions, users or orgs):

    gts:tok:<hmac(session, user, org)>   string: the sealed entry, PX = time left to serve_until
    gts:sess:<hmac(session)>             hash: field = token key name, value = hmac(org);
                                         expires with its longest-lived member
    gts:lock:<hmac(session, user, org)>  the single-flight lock (redis-py Lock)

Values are Fernet-sealed (`Sealer(SECRET_KEY, "redis-token-values")`) JSON of the token, its
expiry, its serve_until and the key name it belongs to; a value that does not open, or was
moved to another key, is a miss. serve_until is wall time on the host that minted; other hosts
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

Outage: any redis-py error marks the store degraded (WARNING at once, then at most one per
`retry_interval`, `on_state_change(True)`); get/put/evict/lock then use process memory and an
in-process lock (the broker's own single flight), and Redis is tried again by one call every
`retry_interval`. The first call that succeeds marks it healthy (logged,
`on_state_change(False)`) and replays the evictions made meanwhile. What may
remain: a token another host evicted, which this process had not read again before the
outage, is served from the fallback until Redis returns or its own serve_until passes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.exceptions import LockError, RedisError
from redis.retry import Retry

from service.keys import derive, mac
from service.sealing import Sealer
from service.tokens import CachedToken, MemoryTokenStore, TokenKey, TokenStore

log = logging.getLogger(__name__)

# Store the value, index it under its session, and keep the index alive as long as its
# longest member (PTTL is -1 on a fresh hash). One round trip, atomic. It touches two keys,
# so this store wants a standalone Redis (a primary, with replicas or Sentinel), not Cluster.
_PUT = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], KEYS[1], ARGV[3])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return 1
"""

_Pending = tuple[str, str | None]  # an eviction to replay: (session_id, organization_id or all)


@dataclass(frozen=True)
class _LocalCopy(CachedToken):
    """An L1 entry: expires (serve_until) before the shared entry it carries."""

    shared: CachedToken | None = field(default=None, repr=False)


class RedisTokenStore:
    """TokenStore on Redis, with an in-process L1 and an in-process fallback for outages."""

    def __init__(
        self,
        redis_url: str,
        secret_key: str,
        *,
        maxsize: int = 10000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        local_ttl: float = 1.0,
        lock_timeout: float = 15.0,
        lock_wait: float = 12.0,
        lock_poll: float = 0.02,
        socket_timeout: float = 0.25,
        retry_interval: float = 5.0,
        key_prefix: str = "gts",
        on_state_change: Callable[[bool], object] | None = None,
        fallbacks: Sequence[str] = (),
    ):
        if local_ttl < 0 or lock_timeout <= 0 or lock_wait < 0 or retry_interval <= 0:
            raise ValueError("local_ttl, lock_wait >= 0; lock_timeout, retry_interval > 0")
        self._url = redis_url
        self._clock = clock
        self._monotonic = monotonic
        self._local_ttl = local_ttl
        self._lock_timeout = lock_timeout
        self._lock_wait = lock_wait
        self._lock_poll = lock_poll
        self._socket_timeout = socket_timeout
        self._retry_interval = retry_interval
        self._prefix = key_prefix
        self._on_state_change = on_state_change
        self._names_key = derive(secret_key, "redis-keys")
        # Entries written under a former SECRET_KEY's names are read (and evicted) until they
        # expire, so a rotation costs no new mints.
        self._old_names_keys = [derive(key, "redis-keys") for key in fallbacks]
        self._sealer = Sealer(secret_key, "redis-token-values", fallbacks)
        self._local = MemoryTokenStore(maxsize, clock) if local_ttl > 0 else None
        self._fallback = MemoryTokenStore(maxsize, clock)
        self._maxsize = maxsize
        # Guards the client (one per process) and the outage state below.
        self._state = threading.Lock()
        self._pid: int | None = None
        self._client: redis.Redis | None = None
        self._put_script = None
        self._down_since: float | None = None  # monotonic; None while Redis answers
        self._retry_at = 0.0
        self._warned_at = 0.0
        self._pending: dict[_Pending, None] = {}  # insertion-ordered set

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
        return removed > 0

    def evict_session(self, session_id: str) -> int:
        """Drop every entry of a session everywhere (logout); how many."""
        return self._evict(session_id, None)

    def evict(self, session_id: str, organization_id: str) -> int:
        """Drop a session's entries for one organization everywhere (switch); how many."""
        return self._evict(session_id, organization_id)

    def lock(self, key: TokenKey) -> AbstractContextManager[object]:
        """A Redis lock for key (cross-process single flight); none while Redis is down."""
        client = self._usable_client()
        if client is None:
            return nullcontext()
        return self._redis_lock(client, key)

    def __len__(self) -> int:
        """Entries this process holds (counting Redis would cost a scan)."""
        return len(self._fallback)

    # -- operations ------------------------------------------------------------------------

    def health(self) -> dict[str, object]:
        """For /readyz: ok (tokens are served, from memory if need be) and whether degraded."""
        ok, _ = self._attempt(lambda r: r.ping())
        return {"backend": "redis", "ok": True, "degraded": not ok}

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and process memory answers."""
        return self._down_since is not None

    def close(self) -> None:
        """Close this process's connections (tests; a worker simply exits)."""
        with self._state:
            client, self._client, self._pid = self._client, None, None
        if client is not None:
            client.close()

    # -- names and values ------------------------------------------------------------------

    def _mac(self, *parts: str, names: bytes | None = None) -> str:
        return mac(names or self._names_key, *parts)

    def _token_name(self, key: TokenKey, names: bytes | None = None) -> str:
        return f"{self._prefix}:tok:{self._mac('tok', *key, names=names)}"

    def _session_name(self, session_id: str, names: bytes | None = None) -> str:
        return f"{self._prefix}:sess:{self._mac('sess', session_id, names=names)}"

    def _org_tag(self, organization_id: str, names: bytes | None = None) -> str:
        return self._mac("org", organization_id, names=names)

    def _seal(self, name: str, entry: CachedToken) -> str:
        body = {
            "k": name,
            "token": entry.token,
            "expires_at": entry.expires_at,
            "serve_until": entry.serve_until,
        }
        return self._sealer.seal(json.dumps(body, separators=(",", ":")))

    def _unseal(self, name: str, value: bytes) -> CachedToken | None:
        try:
            opened = self._sealer.unseal(value.decode("ascii"))
            body = json.loads(opened) if opened is not None else None
            # Bound to its key name: a value copied under another session's key is refused.
            if not isinstance(body, dict) or body.get("k") != name:
                return None
            token = body["token"]
            if not isinstance(token, str) or not token:
                return None
            entry = CachedToken(token, float(body["expires_at"]), float(body["serve_until"]))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None
        return entry

    # -- Redis operations (each runs through _attempt) -------------------------------------

    def _redis_get(self, r: redis.Redis, key: TokenKey) -> CachedToken | None:
        for names in (self._names_key, *self._old_names_keys):
            name = self._token_name(key, names)
            value = r.get(name)
            entry = self._unseal(name, value) if value is not None else None
            if entry is not None and entry.serve_until > self._clock():
                return entry
        return None

    def _redis_put(self, r: redis.Redis, key: TokenKey, entry: CachedToken) -> None:
        ttl_ms = math.ceil((entry.serve_until - self._clock()) * 1000)
        if ttl_ms <= 0:
            return
        name = self._token_name(key)
        self._put_script(
            keys=[name, self._session_name(key[0])],
            args=[self._seal(name, entry), ttl_ms, self._org_tag(key[2])],
            client=r,
        )

    def _redis_evict(
        self,
        r: redis.Redis,
        session_id: str,
        organization_id: str | None,
        only: TokenKey | None = None,
    ) -> int:
        return sum(
            self._redis_evict_under(r, names, session_id, organization_id, only)
            for names in (self._names_key, *self._old_names_keys)
        )

    def _redis_evict_under(
        self,
        r: redis.Redis,
        names: bytes,
        session_id: str,
        organization_id: str | None,
        only: TokenKey | None,
    ) -> int:
        index = self._session_name(session_id, names)
        members = r.hgetall(index)  # {token key name: org tag}
        tag = None if organization_id is None else self._org_tag(organization_id, names).encode()
        wanted = None if only is None else self._token_name(only, names).encode()
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
    def _redis_lock(self, r: redis.Redis, key: TokenKey) -> Iterator[None]:
        name = f"{self._prefix}:lock:{self._mac('tok', *key)}"
        lock = r.lock(
            name,
            timeout=self._lock_timeout,
            sleep=self._lock_poll,
            blocking_timeout=self._lock_wait,
        )
        ok, acquired = self._attempt(lambda _r: lock.acquire(), client=r)
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
                    self._attempt(lambda _r: lock.release(), client=r)
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

    def _evict(self, session_id: str, organization_id: str | None) -> int:
        if organization_id is None:
            held = self._forget(lambda s: s.evict_session(session_id))
        else:
            held = self._forget(lambda s: s.evict(session_id, organization_id))
        ok, removed = self._attempt(lambda r: self._redis_evict(r, session_id, organization_id))
        if not ok:
            self._defer((session_id, organization_id))
            return held
        return removed

    def _defer(self, pending: _Pending) -> None:
        """Remember an eviction Redis missed, to replay when it answers again."""
        with self._state:
            self._pending[pending] = None
            while len(self._pending) > self._maxsize:
                del self._pending[next(iter(self._pending))]

    def _replay(self) -> None:
        while True:
            with self._state:
                if not self._pending or self._down_since is not None:
                    return
                pending = next(iter(self._pending))
                del self._pending[pending]
            ok, _ = self._attempt(lambda r, p=pending: self._redis_evict(r, *p))
            if not ok:
                self._defer(pending)
                return

    # -- connection and outage state -------------------------------------------------------

    def _usable_client(self) -> redis.Redis | None:
        """This process's client, or None while Redis is down and no retry is due."""
        with self._state:
            if self._down_since is not None:
                now = self._monotonic()
                if now < self._retry_at:
                    return None
                self._retry_at = now + self._retry_interval  # this call is the retry
            if self._pid != os.getpid():
                # First use in this process (gunicorn forks workers): a pool of its own.
                self._client = redis.Redis.from_url(
                    self._url,
                    socket_timeout=self._socket_timeout,
                    socket_connect_timeout=self._socket_timeout,
                    health_check_interval=15,
                    # One immediate retry replaces a connection Redis closed (restart); more
                    # would only stretch an outage's first requests.
                    retry=Retry(NoBackoff(), 1),
                )
                self._put_script = self._client.register_script(_PUT)
                self._pid = os.getpid()
            return self._client

    def _attempt(self, op: Callable[[redis.Redis], object], client: redis.Redis | None = None):
        """(True, op's result), or (False, None) when Redis is down or fails now."""
        if client is None:
            client = self._usable_client()
            if client is None:
                return False, None
        try:
            result = op(client)
        except LockError:
            raise
        except RedisError as exc:
            self._went_down(exc)
            return False, None
        if self._down_since is not None:
            self._came_back()
        return True, result

    def _went_down(self, error: RedisError) -> None:
        with self._state:
            now = self._monotonic()
            first = self._down_since is None
            if first:
                self._down_since = now
            self._retry_at = now + self._retry_interval
            warn = first or now - self._warned_at >= self._retry_interval
            if warn:
                self._warned_at = now
        if warn:
            log.warning(
                "token store: Redis unreachable (%s: %s); serving from process memory, "
                "retrying every %gs",
                type(error).__name__,
                error,
                self._retry_interval,
            )
        if first:
            self._notify(True)

    def _came_back(self) -> None:
        with self._state:
            if self._down_since is None:
                return
            seconds = self._monotonic() - self._down_since
            self._down_since = None
        log.warning("token store: Redis reachable again after %.1fs; shared again", seconds)
        self._notify(False)
        self._replay()

    def _notify(self, degraded: bool) -> None:
        if self._on_state_change is None:
            return
        try:
            self._on_state_change(degraded)
        except Exception:
            log.exception("token store: on_state_change(%s) failed", degraded)


def make_token_store(
    redis_url: str | None,
    secret_key: str,
    maxsize: int,
    clock: Callable[[], float] = time.time,
    on_state_change: Callable[[bool], object] | None = None,
    fallbacks: Sequence[str] = (),
    **options: float,
) -> TokenStore:
    """RedisTokenStore when redis_url is set, else the in-process MemoryTokenStore."""
    if not redis_url:
        return MemoryTokenStore(maxsize, clock)
    return RedisTokenStore(
        redis_url,
        secret_key,
        maxsize=maxsize,
        clock=clock,
        on_state_change=on_state_change,
        fallbacks=fallbacks,
        **options,
    )
