"""TokenBroker: one Client API token per (session, user, organization), cached until near expiry.

The broker (design.md §5) does the lifetime arithmetic, the refresh margin, single flight and
the cool-down; a `TokenStore` only keeps entries. `MemoryTokenStore` is the in-process store; a
shared store plugs in behind the same protocol (its `lock` gives cross-process single flight).

Lifetime: `exp - iat` read from the unverified payload, counted on this host's clock from the
moment the mint call started (no later than WorkOS issued the token, so neither clock skew nor
upstream latency can make us serve past expiry). A cached token is served only while more
than the margin is left.

Errors from `get`:
    * The call that ran `mint` raises exactly what `mint` raised.
    * Every call that waited for that mint, and every call refused during the cool-down that
      follows, raises its own shallow copy of it: same class, same attributes (`status`,
      `retry_after`, ...), `__cause__` set to the original. A class that cannot be copied this
      way is raised as the original object itself.
    * When a cool-down applies, the raised exception carries `cooldown_left`: float seconds
      until this key will call `mint` again (a Retry-After for the browser). No cool-down: no
      such attribute.
    * `WaitTimeout` when the mint being waited for takes longer than `wait_timeout`.

Observer events, sent outside every lock as `observer(event, **fields)`; each `get` sends one
of "hit", "miss", "wait" or a "cooldown" error, then an "error" too if it goes on to fail:
    "hit"    served from the store
    "miss"   about to call `mint` (so: one per WorkOS call)
    "wait"   joined another call's in-flight mint (sent before blocking)
    "error"  raising: fields `error` (what is raised) and `reason`: "mint" (this call's mint or
             store access failed), "shared" (the mint it waited for failed), "cooldown"
             (refused without calling mint), "timeout" (see WaitTimeout)
An observer that raises is logged and ignored.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachetools import Cache, TLRUCache

log = logging.getLogger(__name__)

TokenKey = tuple[str, str, str]  # (session_id, user_id, organization_id)

# A token claiming to live longer than a day is garbled or hostile; never cache that long.
MAX_LIFETIME = 86400.0
DEFAULT_MARGIN = 60.0
SHORT_TOKEN_MARGIN = 30.0
SHORT_TOKEN_LIFETIME = 300.0
# Opaque tokens longer than this are not worth parsing (and bound the JSON we decode).
_MAX_PARSED_TOKEN = 16384


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token handed to a caller, with its expiry on this host's clock."""

    token: str = field(repr=False)
    expires_at: float
    organization_id: str
    cached: bool  # True unless this very call minted it (metrics: hit or miss)

    def expires_in(self, now: float) -> int:
        """Whole seconds left at `now` (rounded down, never negative)."""
        return max(0, math.floor(self.expires_at - now))


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A stored entry: the token, its expiry and the time after which it is not served."""

    token: str = field(repr=False)
    expires_at: float
    serve_until: float


class TokenStore(Protocol):
    """Where a broker keeps tokens; entries vanish by themselves at `serve_until`."""

    def get(self, key: TokenKey) -> CachedToken | None:
        """The entry for key while its serve_until is in the future, else None."""

    def put(self, key: TokenKey, entry: CachedToken) -> None:
        """Store entry under key until entry.serve_until."""

    def delete(self, key: TokenKey) -> bool:
        """Drop key; True when a live entry was removed."""

    def evict_session(self, session_id: str) -> int:
        """Drop every entry of a session; how many were removed."""

    def evict(self, session_id: str, organization_id: str) -> int:
        """Drop a session's entries for one organization; how many were removed."""

    def lock(self, key: TokenKey) -> AbstractContextManager[object]:
        """Held by the minting call around re-read, mint and put (cross-process stores lock)."""

    def __len__(self) -> int:
        """Number of entries held."""


def _monotonic_for(clock: Callable[[], float], monotonic: Callable[[], float] | None):
    """The clock that decides expiry: time.monotonic, unless a test injected one clock only."""
    if monotonic is not None:
        return monotonic
    return time.monotonic if clock is time.time else clock


class _IndexedTLRUCache(TLRUCache):
    """A TLRUCache that reports each key it drops: deleted, LRU-evicted or expired."""

    def __init__(
        self,
        maxsize: int,
        timer: Callable[[], float],
        ttu: Callable[[Any, Any, float], float],
        on_drop: Callable[[Any], None],
    ):
        super().__init__(maxsize, ttu, timer=timer)
        self._on_drop = on_drop

    def __delitem__(self, key: Any) -> None:
        # popitem() (LRU eviction) and pop() both end here.
        try:
            super().__delitem__(key)
        finally:
            self._on_drop(key)

    def expire(self, now: float | None = None) -> list[tuple[Any, Any]]:
        expired = super().expire(now)
        for key, _ in expired:
            self._on_drop(key)
        return expired

    def holds(self, key: Any) -> bool:
        """Whether key is in the underlying storage, expired or not."""
        return Cache.__contains__(self, key)


class MemoryTokenStore:
    """In-process TokenStore: a locked TLRUCache plus a session index for eviction."""

    def __init__(
        self,
        maxsize: int = 10000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
    ):
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._clock = clock
        # cachetools caches are not thread-safe; every access below holds this lock.
        self._lock = threading.Lock()
        self._index: dict[str, set[TokenKey]] = {}
        # Entries expire on the monotonic clock: a wall clock stepped back must not make an
        # expired token look fresh. serve_until (wall time, shared with other hosts) is turned
        # into a duration when the entry is stored.
        self._cache = _IndexedTLRUCache(
            maxsize, _monotonic_for(clock, monotonic), self._time_to_use, self._unindex
        )

    def _time_to_use(self, _key: TokenKey, entry: CachedToken, now: float) -> float:
        return now + (entry.serve_until - self._clock())

    def _unindex(self, key: TokenKey) -> None:
        keys = self._index.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._index[key[0]]

    def _remove(self, key: TokenKey) -> bool:
        missing = object()
        return self._cache.pop(key, missing) is not missing

    def get(self, key: TokenKey) -> CachedToken | None:
        """The live entry for key, or None."""
        with self._lock:
            return self._cache.get(key)

    def put(self, key: TokenKey, entry: CachedToken) -> None:
        """Store entry under key until entry.serve_until."""
        with self._lock:
            self._cache[key] = entry
            # TLRUCache silently drops an entry that is already past its time-to-use.
            if self._cache.holds(key):
                self._index.setdefault(key[0], set()).add(key)
            else:
                self._unindex(key)

    def delete(self, key: TokenKey) -> bool:
        """Drop key; True when a live entry was removed."""
        with self._lock:
            return self._remove(key)

    def evict_session(self, session_id: str) -> int:
        """Drop every entry of a session; how many were removed."""
        with self._lock:
            keys = list(self._index.get(session_id, ()))
            return sum(self._remove(key) for key in keys)

    def evict(self, session_id: str, organization_id: str) -> int:
        """Drop a session's entries for one organization; how many were removed."""
        with self._lock:
            keys = [k for k in self._index.get(session_id, ()) if k[2] == organization_id]
            return sum(self._remove(key) for key in keys)

    def lock(self, key: TokenKey) -> AbstractContextManager[object]:
        """No lock: the broker's in-process single flight already serialises mints."""
        return nullcontext()

    def __len__(self) -> int:
        """Number of live entries."""
        with self._lock:
            return len(self._cache)


def _claim_number(value: object) -> float | None:
    """A positive finite number from a JSON claim, else None (bools and strings are garbled)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _unverified_claims(token: str) -> dict[str, object]:
    """The JWT payload without any verification; {} for anything that is not a JWT."""
    parts = token.split(".") if len(token) <= _MAX_PARSED_TOKEN else []
    if len(parts) != 3:
        return {}
    segment = parts[1]
    try:
        payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError):
        return {}
    return payload if isinstance(payload, dict) else {}


def token_lifetime(token: str, fallback_ttl: float, now: float | None = None) -> float:
    """Seconds the token lives: exp - iat, else fallback_ttl; within [0, MAX_LIFETIME]."""
    # exp without iat gives no duration; exp - now would trust WorkOS's clock, so it may only
    # shorten the fallback (a short-lived token must not be cached for the fallback's length).
    claims = _unverified_claims(token)
    exp = _claim_number(claims.get("exp"))
    iat = _claim_number(claims.get("iat"))
    if exp is None:
        lifetime = fallback_ttl
    elif iat is not None:
        lifetime = exp - iat
    elif now is not None:
        lifetime = min(fallback_ttl, exp - now)
    else:
        lifetime = fallback_ttl
    return min(max(lifetime, 0.0), MAX_LIFETIME)


def refresh_margin(lifetime: float, configured: float | None) -> float:
    """The configured margin when set, else 30 s for tokens of 5 minutes or less, else 60 s."""
    if configured is not None:
        return configured
    return SHORT_TOKEN_MARGIN if lifetime <= SHORT_TOKEN_LIFETIME else DEFAULT_MARGIN


class TokenBrokerError(Exception):
    """An error of the broker itself (not of mint); carries a Retry-After in seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class WaitTimeout(TokenBrokerError, TimeoutError):
    """Waited longer than wait_timeout for another call's mint of the same key."""


class _Flight:
    """One in-flight mint that concurrent callers of a key wait for."""

    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: IssuedToken | None = None
        self.error: Exception | None = None


@dataclass(frozen=True)
class _Cooling:
    until: float
    error: Exception


def _cooling_until(_key: TokenKey, cooling: _Cooling, _now: float) -> float:
    return cooling.until


def _retry_after_of(error: Exception) -> float | None:
    """The upstream's Retry-After carried by error, in seconds, if it is usable."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _twin(error: Exception) -> Exception:
    """A shallow copy of error (same class and attributes, caused by it), or error itself."""
    # Each caller gets its own object, so concurrent raises neither race on `cooldown_left`
    # nor grow one shared traceback. __init__ is bypassed: its signature is the class's own.
    cls = type(error)
    try:
        twin = cls.__new__(cls, *error.args)
        twin.__dict__.update(vars(error))
        twin.args = error.args
    except Exception:
        return error
    if hasattr(error, "__notes__"):
        twin.__notes__ = list(error.__notes__)  # add_note() on a copy must not reach the original
    twin.__cause__ = error
    return twin


class TokenBroker:
    """Mints Client API tokens once per key and serves them from a store until near expiry."""

    def __init__(
        self,
        mint: Callable[[str, str], str],
        *,
        store: TokenStore | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        refresh_margin: float | None = None,
        fallback_ttl: float = 300,
        maxsize: int = 10000,
        cooldown: float = 1.0,
        max_cooldown: float = 30.0,
        wait_timeout: float = 30.0,
        observer: Callable[..., object] | None = None,
    ):
        if refresh_margin is not None and refresh_margin < 0:
            raise ValueError("refresh_margin must not be negative")
        if fallback_ttl < 0 or cooldown < 0 or wait_timeout <= 0 or maxsize < 1:
            raise ValueError("fallback_ttl, cooldown >= 0; wait_timeout > 0; maxsize >= 1")
        if max_cooldown < cooldown:
            raise ValueError("max_cooldown must be at least cooldown")
        self._mint = mint
        # Wall time, not monotonic: expires_at is shown to the browser as a UTC timestamp.
        self._clock = clock
        # Cool-downs and the in-process cache count on the monotonic clock.
        self._monotonic = _monotonic_for(clock, monotonic)
        self._store: TokenStore = (
            store if store is not None else MemoryTokenStore(maxsize, clock, self._monotonic)
        )
        self._margin = refresh_margin
        self._fallback_ttl = fallback_ttl
        self._cooldown = cooldown
        self._max_cooldown = max_cooldown
        self._wait_timeout = wait_timeout
        self._observer = observer
        self._lock = threading.Lock()
        self._flights: dict[TokenKey, _Flight] = {}
        self._cooling = TLRUCache(maxsize, _cooling_until, timer=self._monotonic)

    def get(self, session_id: str, user_id: str, organization_id: str) -> IssuedToken:
        """The token for this key: cached while more than the margin is left, else minted."""
        key = (session_id, user_id, organization_id)
        while True:
            issued = self._lookup(key)
            if issued is not None:
                self._emit("hit")
                return issued
            with self._lock:
                cooling = self._cooling.get(key)
                flight = None if cooling is not None else self._flights.get(key)
                leader = cooling is None and flight is None
                if leader:
                    flight = self._flights[key] = _Flight()
                left = self._left(cooling)
            if cooling is not None:
                raise self._failed(_twin(cooling.error), "cooldown", left)
            assert flight is not None
            if leader:
                return self._lead(key, flight)
            self._emit("wait")
            if not flight.done.wait(self._wait_timeout):
                error = WaitTimeout(
                    f"no token after waiting {self._wait_timeout:g}s for another request's mint",
                    retry_after=max(1, math.ceil(self._cooldown)),
                )
                raise self._failed(error, "timeout")
            if flight.result is not None:
                # Served without a WorkOS call of its own: a hit, as far as this caller goes.
                return dataclasses.replace(flight.result, cached=True)
            if flight.error is not None:
                with self._lock:
                    left = self._left(self._cooling.get(key))
                raise self._failed(_twin(flight.error), "shared", left)
            # The minting call died of a BaseException and left no outcome: try again.

    def evict_session(self, session_id: str) -> int:
        """Drop every cached token of a session (logout); how many were removed."""
        return self._store.evict_session(session_id)

    def evict(self, session_id: str, organization_id: str) -> int:
        """Drop a session's cached tokens for one organization (switch); how many."""
        return self._store.evict(session_id, organization_id)

    def __len__(self) -> int:
        """Number of tokens the store holds."""
        return len(self._store)

    def health(self) -> dict[str, object]:
        """The store's health for /readyz; an in-process store is always ok."""
        health = getattr(self._store, "health", None)
        return health() if health is not None else {"backend": "memory", "ok": True}

    def _left(self, cooling: _Cooling | None) -> float | None:
        """Seconds of cool-down left (None: no cool-down); call with self._lock held."""
        return None if cooling is None else max(0.0, cooling.until - self._monotonic())

    def _lookup(self, key: TokenKey) -> IssuedToken | None:
        entry = self._store.get(key)
        # Checked again here: a shared store may expire with a coarser clock than ours.
        if entry is None or entry.serve_until <= self._clock():
            return None
        return IssuedToken(entry.token, entry.expires_at, key[2], cached=True)

    def _lead(self, key: TokenKey, flight: _Flight) -> IssuedToken:
        event = "hit"
        try:
            with self._store.lock(key):
                # Re-read: another call (or process) may have stored the token meanwhile.
                issued = self._lookup(key)
                if issued is None:
                    event = "miss"
                    self._emit("miss")
                    issued = self._mint_and_store(key)
        except Exception as exc:
            self._finish(key, flight, error=exc)
            self._emit("error", error=exc, reason="mint")
            raise
        except BaseException:
            self._finish(key, flight)
            raise
        self._finish(key, flight, result=issued)
        if event == "hit":
            self._emit("hit")
        return issued

    def _mint_and_store(self, key: TokenKey) -> IssuedToken:
        # Counted from before the call: WorkOS stamps iat no earlier than this instant.
        started = self._clock()
        token = self._mint(key[1], key[2])
        if not isinstance(token, str) or not token:
            raise ValueError("mint returned no token")
        lifetime = token_lifetime(token, self._fallback_ttl, now=started)
        expires_at = started + lifetime
        serve_until = expires_at - refresh_margin(lifetime, self._margin)
        if serve_until > self._clock():
            self._store.put(key, CachedToken(token, expires_at, serve_until))
        return IssuedToken(token, expires_at, key[2], cached=False)

    def _finish(
        self,
        key: TokenKey,
        flight: _Flight,
        *,
        result: IssuedToken | None = None,
        error: Exception | None = None,
    ) -> None:
        """Publish a flight's outcome and, after an error, start the key's cool-down."""
        with self._lock:
            if error is not None:
                seconds = self._cooldown_for(error)
                if seconds > 0:
                    # Marked before any waiter can copy it, so the copies inherit the mark.
                    error.cooldown_left = seconds  # type: ignore[attr-defined]
                    self._cooling[key] = _Cooling(self._monotonic() + seconds, error)
            flight.result, flight.error = result, error
            del self._flights[key]
            # Set under the lock: a caller arriving now sees the cool-down, not a new flight.
            flight.done.set()

    def _cooldown_for(self, error: Exception) -> float:
        upstream = _retry_after_of(error)
        if upstream is None:
            return self._cooldown
        return min(max(upstream, self._cooldown), self._max_cooldown)

    def _failed(
        self, error: Exception, reason: str, cooldown_left: float | None = None
    ) -> Exception:
        """Mark error with the cool-down left, report it, and hand it back for raising."""
        if cooldown_left is not None:
            error.cooldown_left = cooldown_left  # type: ignore[attr-defined]
        self._emit("error", error=error, reason=reason)
        return error

    def _emit(self, event: str, **fields: object) -> None:
        if self._observer is None:
            return
        try:
            self._observer(event, **fields)
        except Exception:
            log.exception("token broker observer failed on %r", event)
