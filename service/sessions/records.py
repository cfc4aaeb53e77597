"""Server-side session records and the store protocol they live behind
(docs/sessions-and-tokens.md).

The cookie carries only a random session id; everything else is a `SessionRecord` in a store:
SQLite on one host (`sqlite_store.py`), Redis across hosts (`redis_store.py`), or process
memory for unit tests (`MemorySessionStore`, never a default). No record means signed out: a
store that fails raises `SessionStoreUnavailable` and never answers with a guess.

Every store keeps, beside the records, indexes by user id, WorkOS session id (`sid`) and
organization id (the events of `events.py` find sessions through them); index entries expire
with their records. The short-lived values kept on the same backend (applied event ids, named
values, leases) are a `ValueStore` of their own (values.py).

`gen` counts the events that narrowed a session (a membership or organization removed). It is
part of the token cache key (`token_session`), so a bump makes every cached token of the
session unreachable in every worker at once, without a message between them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol


class SessionStoreUnavailable(Exception):
    """The store did not answer: nobody is signed in or out until it does (fail closed)."""


@dataclass(frozen=True)
class SessionRecord:
    """One signed-in browser: who, for which organization, since when, until when."""

    id: str = field(repr=False)
    user: dict
    sid: str | None
    organization: dict | None
    organizations: list[dict]
    signed_in_at: float
    expires_at: float
    picking: str | None = None  # where to go once a pending organization choice is made
    gen: int = 0

    @property
    def user_id(self) -> str:
        """The WorkOS user id."""
        return self.user["id"]

    @property
    def token_session(self) -> str:
        """The session part of the token cache key: changes when an event narrows the session."""
        return f"{self.id}.{self.gen}"

    def to_json(self) -> str:
        """The record as JSON (gen is kept apart by the stores, so it can be bumped alone)."""
        body = asdict(self)
        del body["gen"]
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, gen: int) -> SessionRecord:
        """The record from to_json() and its gen."""
        return cls(**json.loads(text), gen=gen)

    def without(self, organization_id: str) -> SessionRecord:
        """The record with organization_id gone from the list (the current one stays: WorkOS
        decides at the next mint, and answers not_a_member when the membership is gone)."""
        kept = [o for o in self.organizations if o["id"] != organization_id]
        return replace(self, organizations=kept)


Change = Callable[[SessionRecord], SessionRecord]


class SessionStore(Protocol):
    """Where session records live; every method raises SessionStoreUnavailable on failure."""

    def create(self, record: SessionRecord) -> None:
        """Store a new record and index it, until record.expires_at."""

    def get(self, session_id: str) -> SessionRecord | None:
        """The live record of a session, or None."""

    def update(self, session_id: str, change: Change, bump: bool = False) -> SessionRecord | None:
        """Apply change to the stored record (atomically; bump adds 1 to gen); None if gone."""

    def delete(self, session_id: str) -> SessionRecord | None:
        """Remove a record; what it held, or None."""

    def find(
        self,
        *,
        user_id: str | None = None,
        sid: str | None = None,
        organization_id: str | None = None,
    ) -> list[SessionRecord]:
        """Live records by exactly one index: user id, WorkOS sid or organization id."""

    def every(self) -> list[SessionRecord]:
        """Every live record: a scan for the operator's commands, never for a request."""

    def health(self) -> dict[str, object]:
        """For /readyz: the backend's name and whether it answers (the values kept beside the
        records are on the same backend: this answers for them too)."""


class MemorySessionStore:
    """SessionStore in this process's memory: unit tests only (workers would not share it)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, SessionRecord] = {}

    def create(self, record: SessionRecord) -> None:
        with self._lock:
            self._records[record.id] = record

    def get(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            return self._live(session_id)

    def update(self, session_id: str, change: Change, bump: bool = False) -> SessionRecord | None:
        with self._lock:
            record = self._live(session_id)
            if record is None:
                return None
            record = change(record)
            if bump:
                record = replace(record, gen=record.gen + 1)
            self._records[session_id] = record
            return record

    def delete(self, session_id: str) -> SessionRecord | None:
        with self._lock:
            record = self._live(session_id)
            self._records.pop(session_id, None)
            return record

    def find(
        self,
        *,
        user_id: str | None = None,
        sid: str | None = None,
        organization_id: str | None = None,
    ) -> list[SessionRecord]:
        with self._lock:
            live = [r for r in map(self._live, list(self._records)) if r is not None]
        if user_id is not None:
            return [r for r in live if r.user_id == user_id]
        if sid is not None:
            return [r for r in live if r.sid == sid]
        return [r for r in live if any(o["id"] == organization_id for o in _orgs_of(r))]

    def every(self) -> list[SessionRecord]:
        with self._lock:
            return [r for r in map(self._live, list(self._records)) if r is not None]

    def health(self) -> dict[str, object]:
        return {"backend": "memory", "ok": True}

    def _live(self, session_id: str) -> SessionRecord | None:
        record = self._records.get(session_id)
        if record is not None and record.expires_at <= self._clock():
            del self._records[session_id]
            return None
        return record


def _orgs_of(record: SessionRecord) -> list[dict]:
    """Every organization a record is indexed under: its list and its current one."""
    current = [record.organization] if record.organization else []
    return current + record.organizations


def organization_ids(record: SessionRecord) -> set[str]:
    """The organization ids a store indexes a record under."""
    return {o["id"] for o in _orgs_of(record)}
