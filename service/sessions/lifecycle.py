"""Sessions: the session store behind a short in-process copy, and each session's life."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable

from cachetools import LRUCache

from service.sessions.records import (
    Change,
    SessionRecord,
    SessionStore,
    SessionStoreUnavailable,
    organization_ids,
)
from service.tokens.broker import TokenBroker

log = logging.getLogger(__name__)

# A record read from the store is trusted this long in the process that read it: the bound on
# how late a sign-out or an event made elsewhere takes effect here (the token L1 has the same).
COPY_SECONDS = 1.0
# How often sign-outs taken while the store did not answer are tried again.
END_RETRY_SECONDS = 1.0


class Sessions:
    """Start, read, change and end session records; ending one drops its cached tokens."""

    def __init__(
        self,
        store: SessionStore,
        tokens: TokenBroker,
        lifetime: float,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        copy_seconds: float = COPY_SECONDS,
        maxsize: int = 10000,
    ):
        self.store = store
        self._tokens = tokens
        self._lifetime = lifetime
        self._clock = clock
        self._monotonic = monotonic
        self._copy_seconds = copy_seconds
        self._lock = threading.Lock()
        # (record, monotonic time until which it is served) by id. An LRUCache and a time
        # check of ours: a TTLCache lookup costs twice as much, and this is read on every
        # request. A copy past its time is never served; it waits to be replaced or evicted.
        self._copies: LRUCache | None = LRUCache(maxsize) if copy_seconds > 0 else None
        # Sign-outs the store has not taken yet (insertion order: the oldest goes first when
        # full), and whether a thread is retrying them.
        self._pending_ends: dict[str, None] = {}
        self._maxsize = maxsize
        self._retrying = False
        self.end_retry_seconds = END_RETRY_SECONDS

    def start(
        self,
        user: dict,
        sid: str | None,
        organization: dict | None,
        organizations: list[dict],
        picking: str | None = None,
    ) -> SessionRecord:
        """A new record with a fresh random id (128 bits), signed in now."""
        now = self._clock()
        record = SessionRecord(
            id=secrets.token_hex(16),
            user=user,
            sid=sid,
            organization=organization,
            organizations=organizations,
            signed_in_at=now,
            expires_at=now + self._lifetime,
            picking=picking,
        )
        self.store.create(record)
        self._keep(record)
        return record

    def get(self, session_id: str) -> SessionRecord | None:
        """The record, from this process's copy when it is at most copy_seconds old."""
        if self._pending_ends and session_id in self._pending_ends:
            return None  # signed out here while the store was down
        if self._copies is not None:
            try:
                with self._lock:
                    copy = self._copies[session_id]  # one lookup; get() asks __contains__ too
            except KeyError:
                copy = None
            if copy is not None and copy[1] > self._monotonic():
                record = copy[0]
                return record if record.expires_at > self._clock() else None
        record = self.store.get(session_id)
        if record is not None:
            self._keep(record)
        return record

    def update(self, session_id: str, change: Change, bump: bool = False) -> SessionRecord | None:
        """Change the stored record; None when it is gone (it is never made again)."""
        record = self.store.update(session_id, change, bump)
        if record is None:
            self._drop(session_id)
        else:
            self._keep(record)
        return record

    def end(self, session_id: str) -> SessionRecord | None:
        """Sign a session out: delete its record and drop its cached tokens."""
        record = self.store.delete(session_id)
        self._drop(session_id)
        if record is not None:
            self._tokens.evict_session(record.token_session)
        return record

    def end_later(self, session_id: str) -> None:
        """Sign a session out while the store does not answer: refused in this process at
        once, its record deleted (and tokens dropped) by a retry once the store answers."""
        self._drop(session_id)
        with self._lock:
            self._pending_ends[session_id] = None
            while len(self._pending_ends) > self._maxsize:
                del self._pending_ends[next(iter(self._pending_ends))]
            start, self._retrying = not self._retrying, True
        if start:
            threading.Thread(target=self._retry_ends, name="gts-end-retry", daemon=True).start()

    def pending_ends(self) -> int:
        """How many sign-outs wait for the store."""
        return len(self._pending_ends)

    def _retry_ends(self) -> None:
        while True:
            time.sleep(self.end_retry_seconds)
            with self._lock:
                waiting = list(self._pending_ends)
                if not waiting:
                    self._retrying = False
                    return
            for session_id in waiting:
                try:
                    self.end(session_id)
                except SessionStoreUnavailable:
                    break  # still down: all of them wait for the next round
                except Exception:  # a thread that dies would leave them signed in for good
                    log.exception("a pending sign-out failed; it is tried again")
                    break
                with self._lock:
                    self._pending_ends.pop(session_id, None)
                log.info("a sign-out taken during a store outage is done")

    def end_where(self, *, user_id: str | None = None, sid: str | None = None) -> int:
        """Sign out every session of a user, or made from one WorkOS session; how many."""
        ended = 0
        for record in self.store.find(user_id=user_id, sid=sid):
            ended += self.end(record.id) is not None
        return ended

    def narrow(self, organization_id: str, user_id: str | None = None) -> int:
        """Take an organization out of sessions (of one user, or all of its members): their
        cached tokens are never served again, and the next mint asks WorkOS; how many."""
        if user_id is not None:
            found = [
                r
                for r in self.store.find(user_id=user_id)
                if organization_id in organization_ids(r)
            ]
        else:
            found = self.store.find(organization_id=organization_id)
        for record in found:
            self.update(record.id, lambda r: r.without(organization_id), bump=True)
            self._tokens.evict_session(record.token_session)
        return len(found)

    def _keep(self, record: SessionRecord) -> None:
        if self._copies is not None:
            until = self._monotonic() + self._copy_seconds
            with self._lock:
                self._copies[record.id] = (record, until)

    def _drop(self, session_id: str) -> None:
        if self._copies is not None:
            with self._lock:
                self._copies.pop(session_id, None)
