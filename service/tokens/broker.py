"""TokenBroker: one Client API token per (session, user, organization), cached until near expiry.

The broker (docs/sessions-and-tokens.md#the-token-cache) does the lifetime arithmetic
(token_lifetime.py), the refresh margin, single flight and the cool-down; a `TokenStore`
(token_store.py) only keeps entries.

Lifetime: `exp - iat` read from the unverified payload, counted on this host's clock from the
moment the mint call started (no later than WorkOS issued the token, so neither clock skew nor
upstream latency can make us serve past expiry). A cached token is served only while more
than the margin is left. Expiry and cool-downs count on the monotonic clock; wall time only
stamps the `expires_at` shown to the browser.

Errors from `get`: every failure is a `TokenUnavailable` carrying its `cause` (what `mint`
raised: this call's own mint, the mint it waited for, or the one whose cool-down refuses it;
None when the wait for another call's mint timed out), the `reason` ("mint", "shared",
"cooldown", "timeout") and `retry_after`: seconds until this key calls `mint` again (None
when no cool-down applies).

Observer events, sent outside every lock as `observer(event, **fields)`; each `get` sends one
of "hit", "miss", "wait" or a "cooldown" error, then an "error" too if it goes on to fail:
    "hit"    served from the store
    "miss"   about to call `mint` (so: one per WorkOS call)
    "wait"   joined another call's in-flight mint (sent before blocking)
    "error"  raising: fields `error` (the TokenUnavailable) and `reason`
An observer that raises is logged and ignored.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from cachetools import TLRUCache

from service.tokens.lifetime import refresh_margin, token_lifetime
from service.tokens.store import CachedToken, MemoryTokenStore, TokenKey, TokenStore, monotonic_for

log = logging.getLogger(__name__)


class IssuedToken(NamedTuple):
    """A token handed to a caller, with its expiry on this host's clock.

    A NamedTuple: one is made on every cache hit, and a frozen dataclass is slower to make.
    """

    token: str
    expires_at: float
    audience: str
    cached: bool  # True unless this very call minted it (metrics: hit or miss)

    def __repr__(self) -> str:
        # Without the token: a repr may end up in a log line.
        return (
            f"IssuedToken(expires_at={self.expires_at!r}, "
            f"audience={self.audience!r}, cached={self.cached!r})"
        )

    def expires_in(self, now: float) -> int:
        """Whole seconds left at `now` (rounded down, never negative)."""
        return max(0, math.floor(self.expires_at - now))


class TokenUnavailable(Exception):
    """No token for this key now: why (`cause`, `reason`) and when to ask again."""

    def __init__(self, cause: Exception | None, reason: str, retry_after: float | None):
        what = type(cause).__name__ if cause is not None else "no answer in time"
        super().__init__(f"no token ({reason}: {what})")
        self.cause = cause
        self.reason = reason
        self.retry_after = retry_after


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
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


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
        self._monotonic = monotonic_for(clock, monotonic)
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

    def get(self, token_session: str, user_id: str, audience: str) -> IssuedToken:
        """The token for this key: cached while more than the margin is left, else minted."""
        key = (token_session, user_id, audience)
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
                raise self._failed(cooling.error, "cooldown", left) from cooling.error
            assert flight is not None
            if leader:
                return self._lead(key, flight)
            self._emit("wait")
            if not flight.done.wait(self._wait_timeout):
                raise self._failed(None, "timeout", max(1, math.ceil(self._cooldown)))
            if flight.result is not None:
                # Served without a WorkOS call of its own: a hit, as far as this caller goes.
                return flight.result._replace(cached=True)
            if flight.error is not None:
                with self._lock:
                    left = self._left(self._cooling.get(key))
                raise self._failed(flight.error, "shared", left) from flight.error
            # The minting call died of a BaseException and left no outcome: try again.

    def evict_session(self, token_session: str) -> int:
        """Drop every cached token of a session (logout); how many were removed."""
        return self._store.evict_session(token_session)

    def evict(self, token_session: str, audience: str) -> int:
        """Drop a session's cached tokens for one organization (switch); how many."""
        return self._store.evict(token_session, audience)

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
            left = self._finish(key, flight, error=exc)
            raise self._failed(exc, "mint", left) from exc
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
    ) -> float | None:
        """Publish a flight's outcome; after an error, start the key's cool-down (its length)."""
        seconds = None
        with self._lock:
            if error is not None:
                seconds = self._cooldown_for(error) or None
                if seconds is not None:
                    self._cooling[key] = _Cooling(self._monotonic() + seconds, error)
            flight.result, flight.error = result, error
            del self._flights[key]
            # Set under the lock: a caller arriving now sees the cool-down, not a new flight.
            flight.done.set()
        return seconds

    def _cooldown_for(self, error: Exception) -> float:
        upstream = _retry_after_of(error)
        if upstream is None:
            return self._cooldown
        # A refusal by our own budget names when its drawn slot frees (past a minute after a
        # burst): the key waits that long, and its callers are told so, not a cut-off 60.
        cap = max(self._max_cooldown, upstream) if getattr(error, "budget", False) else None
        return min(max(upstream, self._cooldown), cap or self._max_cooldown)

    def _failed(
        self, cause: Exception | None, reason: str, retry_after: float | None = None
    ) -> TokenUnavailable:
        """The TokenUnavailable to raise for cause, reported to the observer."""
        error = TokenUnavailable(cause, reason, retry_after)
        self._emit("error", error=error, reason=reason)
        return error

    def _emit(self, event: str, **fields: object) -> None:
        if self._observer is None:
            return
        try:
            self._observer(event, **fields)
        except Exception:
            log.exception("token broker observer failed on %r", event)
