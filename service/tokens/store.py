"""Where cached tokens live in process: the TokenStore protocol and MemoryTokenStore.

A store only keeps entries; the broker (tokens.py) decides lifetimes, margins and single
flight. A shared store (redis_store.py) plugs in behind the same protocol; its `lock` gives
cross-process single flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from cachetools import Cache, TLRUCache

# (token_session, user_id, audience): token_session is the caller's session as the cache knows
# it (a record's `id.gen`, so an event that narrows the session retires its tokens; or a
# bearer's `bearer:<hmac(sid)>`); audience is an organization id (a Client API token) or
# `widget:<organization>:<scopes>` (a widget token).
TokenKey = tuple[str, str, str]


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

    def evict_session(self, token_session: str) -> int:
        """Drop every entry of a session; how many were removed."""

    def evict(self, token_session: str, audience: str) -> int:
        """Drop a session's entries for one organization; how many were removed."""

    def lock(self, key: TokenKey) -> AbstractContextManager[object]:
        """Held by the minting call around re-read, mint and put (cross-process stores lock)."""

    def __len__(self) -> int:
        """Number of entries held."""


def monotonic_for(
    clock: Callable[[], float], monotonic: Callable[[], float] | None
) -> Callable[[], float]:
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
            maxsize, monotonic_for(clock, monotonic), self._time_to_use, self._unindex
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
            try:
                return self._cache[key]  # one lookup; get() asks __contains__ first
            except KeyError:
                return None

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

    def evict_session(self, token_session: str) -> int:
        """Drop every entry of a session; how many were removed."""
        with self._lock:
            keys = list(self._index.get(token_session, ()))
            return sum(self._remove(key) for key in keys)

    def evict(self, token_session: str, audience: str) -> int:
        """Drop a session's entries for one organization; how many were removed."""
        with self._lock:
            keys = [k for k in self._index.get(token_session, ()) if k[2] == audience]
            return sum(self._remove(key) for key in keys)

    def lock(self, key: TokenKey) -> AbstractContextManager[object]:
        """No lock: the broker's in-process single flight already serialises mints."""
        return nullcontext()

    def __len__(self) -> int:
        """Number of live entries."""
        with self._lock:
            return len(self._cache)
