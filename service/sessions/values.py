"""Short-lived values kept beside the session records: event ids applied, named values and
leases (docs/sessions-and-tokens.md).

A `ValueStore` shares its backend with the `SessionStore` of the deployment (records.py): the
same SQLite file (`sqlite_values.py`) or the same Redis link (`redis_values.py`), or process
memory for unit tests (`MemoryValueStore`). It holds:

    event ids applied     so a redelivered WorkOS event answers `duplicate` (events.py)
    named values          the Events API cursor, pending sign-in states and organization
                          choices, a user's kept organization list, revoked WorkOS sessions
    leases                one events poller at a time

Every value expires; every method raises `SessionStoreUnavailable` when the backend does not
answer (fail closed, as the records do).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

# Named values live this long unless told otherwise, and applied event ids this long.
EVENT_MEMORY_SECONDS = 3 * 86400


class ValueStore(Protocol):
    """Short-lived values beside the records; every method raises SessionStoreUnavailable on
    failure."""

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
        """The backend's name and whether it answers (the records' store says the same)."""


class MemoryValueStore:
    """ValueStore in this process's memory: unit tests only (workers would not share it)."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, tuple[str, float]] = {}

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

    def _value(self, name: str) -> str | None:
        held = self._values.get(name)
        if held is None or held[1] <= self._clock():
            self._values.pop(name, None)
            return None
        return held[0]
