"""Server-side session records and the store protocol they live behind
(docs/sessions-and-tokens.md).

The cookie carries only a random session id; everything else is a `SessionRecord` in a store:
SQLite on one host (`session_sqlite.py`), Redis across hosts (`session_redis.py`), or process
memory for unit tests (`MemorySessionStore`, never a default). No record means signed out: a
store that fails raises `SessionStoreUnavailable` and never answers with a guess.

Every store keeps, beside the records, indexes by user id, WorkOS session id (`sid`) and
organization id (the events of `events.py` find sessions through them), a set of event ids
already applied, small named values (the Events API cursor, pending organization choices)
and leases (one events poller). Index entries expire with their records.

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

# Values kept beside the records (cursor, pending choices) and seen event ids live this long
# at most; a pending organization choice lives as long as a sign-in flow.
EVENT_MEMORY_SECONDS = 3 * 86400


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

    def event_applied(self, event_id: str) -> bool:
        """True when claim_event marked this event id applied (within EVENT_MEMORY_SECONDS)."""

    def claim_event(self, event_id: str) -> bool:
        """Mark an event id applied (for EVENT_MEMORY_SECONDS); True the first time."""

    def release_event(self, event_id: str) -> None:
        """Forget a claim whose event could not be applied, so a redelivery applies it."""

    def get_value(self, name: str) -> str | None:
        """A named value, or None."""

    def set_value(self, name: str, value: str, seconds: float = EVENT_MEMORY_SECONDS) -> None:
        """Keep a named value for `seconds`."""

    def pop_value(self, name: str) -> str | None:
        """Remove a named value and return it (single use)."""

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew the lease `name` for owner; False while someone else holds it."""

    def health(self) -> dict[str, object]:
        """For /readyz: the backend's name and whether it answers."""


class MemorySessionStore:
    """SessionStore in this process's memory: unit tests only (workers would not share it)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, SessionRecord] = {}
        self._values: dict[str, tuple[str, float]] = {}

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

    def event_applied(self, event_id: str) -> bool:
        with self._lock:
            return self._value("event:" + event_id) is not None

    def claim_event(self, event_id: str) -> bool:
        with self._lock:
            if self._value("event:" + event_id) is not None:
                return False
            self._values["event:" + event_id] = ("1", self._clock() + EVENT_MEMORY_SECONDS)
            return True

    def release_event(self, event_id: str) -> None:
        with self._lock:
            self._values.pop("event:" + event_id, None)

    def get_value(self, name: str) -> str | None:
        with self._lock:
            return self._value(name)

    def set_value(self, name: str, value: str, seconds: float = EVENT_MEMORY_SECONDS) -> None:
        with self._lock:
            self._values[name] = (value, self._clock() + seconds)

    def pop_value(self, name: str) -> str | None:
        with self._lock:
            value = self._value(name)
            self._values.pop(name, None)
            return value

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        with self._lock:
            holder = self._value("lease:" + name)
            if holder not in (None, owner):
                return False
            self._values["lease:" + name] = (owner, self._clock() + seconds)
            return True

    def health(self) -> dict[str, object]:
        return {"backend": "memory", "ok": True}

    def _live(self, session_id: str) -> SessionRecord | None:
        record = self._records.get(session_id)
        if record is not None and record.expires_at <= self._clock():
            del self._records[session_id]
            return None
        return record

    def _value(self, name: str) -> str | None:
        held = self._values.get(name)
        if held is None or held[1] <= self._clock():
            self._values.pop(name, None)
            return None
        return held[0]


def _orgs_of(record: SessionRecord) -> list[dict]:
    """Every organization a record is indexed under: its list and its current one."""
    current = [record.organization] if record.organization else []
    return current + record.organizations


def organization_ids(record: SessionRecord) -> set[str]:
    """The organization ids a store indexes a record under."""
    return {o["id"] for o in _orgs_of(record)}
