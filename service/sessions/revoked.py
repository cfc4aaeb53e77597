"""WorkOS sessions revoked (session.revoked events), for AuthKit access tokens presented here.

A bearer caller has no session record to delete, so a revocation is remembered instead: a
named value in the value store (values.py; shared by every worker and host) for as long as an
access token may live (access_tokens.MAX_LIFETIME), named by a keyed HMAC of the sid. Each
process trusts what it read for `copy_seconds` (the bound a cookie session's record has too),
and what it was told itself at once.

The same HMAC names the sid's part of the token cache key (`bearer:<hmac>`), so a revocation
drops the tokens minted for that session, as a sign-out does for a cookie session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from cachetools import LRUCache

from service.core.keys import derive, mac
from service.sessions.values import ValueStore
from service.tokens.broker import TokenBroker
from service.workos.access_tokens import MAX_LIFETIME

COPY_SECONDS = 1.0
NEVER = float("inf")


class RevokedSessions:
    """Remembers revoked WorkOS session ids; names a sid's token cache session."""

    def __init__(
        self,
        values: ValueStore,
        tokens: TokenBroker,
        secret_key: str,
        *,
        copy_seconds: float = COPY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        maxsize: int = 10000,
    ):
        self._values = values
        self._tokens = tokens
        self._key = derive(secret_key, "bearer-sessions")
        self._copy_seconds = copy_seconds
        self._monotonic = monotonic
        # sid -> (its name, revoked?, monotonic time until which this process trusts it)
        self._known: LRUCache = LRUCache(maxsize)
        self._lock = threading.Lock()

    def token_session(self, sid: str) -> str:
        """The token cache's session part for sid; raises Revoked when WorkOS revoked it."""
        with self._lock:
            known = self._known.get(sid)
        if known is not None and known[2] > self._monotonic():
            if known[1]:
                raise Revoked(sid)
            return known[0]
        name = known[0] if known is not None else self._name(sid)
        revoked = self._values.get_value(_value(name)) is not None
        until = NEVER if revoked else self._monotonic() + self._copy_seconds
        with self._lock:
            self._known[sid] = (name, revoked, until)
        if revoked:
            raise Revoked(sid)
        return name

    def revoke(self, sid: str) -> int:
        """Remember sid as revoked everywhere and drop its cached tokens; how many."""
        name = self._name(sid)
        self._values.set_value(_value(name), "1", MAX_LIFETIME)
        with self._lock:
            self._known[sid] = (name, True, NEVER)
        return self._tokens.evict_session(name)

    def _name(self, sid: str) -> str:
        return "bearer:" + mac(self._key, "sid", sid)[:32]


class Revoked(Exception):
    """The access token's WorkOS session was revoked."""


def _value(name: str) -> str:
    return f"revoked-sid:{name.removeprefix('bearer:')}"
