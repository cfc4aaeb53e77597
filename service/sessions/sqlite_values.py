"""SqliteValueStore: event ids applied, named values and leases in the `kv` table of the
host's SQLite file (sqlite_file.py), beside the records of SqliteSessionStore.

    kv(name, value, expires_at)   "event:" + mac(event id)      an event applied
                                  "v:" + mac(name)              a named value
                                  "v:" + mac("lease:" + name)   a lease (value: its owner)

Names are keyed HMACs under the same key as the records' (`session-store-names`), so the
file names no user or organization. Expired rows are deleted by the writer that finds the
last purge more than PURGE_INTERVAL seconds old.
"""

from __future__ import annotations

import sqlite3

from service.core.keys import mac
from service.sessions.backends import SqliteBacked
from service.sessions.sqlite_file import PURGE_INTERVAL
from service.sessions.values import EVENT_MEMORY_SECONDS

_LIVE = "SELECT value FROM kv WHERE name = ? AND expires_at > ?"


class SqliteValueStore(SqliteBacked):
    """ValueStore in the host's SQLite file, shared by its processes."""

    def event_applied(self, event_id: str) -> bool:
        """True when this event id was marked applied (under this key or a former one)."""
        with self._file.read() as db:
            return any(
                db.execute(_LIVE, (self._event_name(event_id, key), self._clock())).fetchone()
                for key in self._keys()
            )

    def claim_event(self, event_id: str) -> bool:
        """Mark this event id applied; True the first time."""
        name = self._event_name(event_id)
        with self._file.write() as db:
            self._purge(db)
            for key in self._old_names:  # claimed before a rotation: claimed
                if db.execute(_LIVE, (self._event_name(event_id, key), self._clock())).fetchone():
                    return False
            db.execute("DELETE FROM kv WHERE name = ? AND expires_at <= ?", (name, self._clock()))
            cursor = db.execute(
                "INSERT OR IGNORE INTO kv (name, value, expires_at) VALUES (?, '1', ?)",
                (name, self._clock() + EVENT_MEMORY_SECONDS),
            )
            return cursor.rowcount == 1

    def release_event(self, event_id: str) -> None:
        """Forget a claim, so that a redelivery applies the event."""
        with self._file.write() as db:
            db.execute("DELETE FROM kv WHERE name = ?", (self._event_name(event_id),))

    def get_value(self, name: str) -> str | None:
        """A named value, or None."""
        with self._file.read() as db:
            for stored in self._value_names(name):
                row = db.execute(_LIVE, (stored, self._clock())).fetchone()
                if row is not None:
                    return row[0]
        return None

    def set_value(self, name: str, value: str, seconds: float = EVENT_MEMORY_SECONDS) -> None:
        """Keep a named value for `seconds`."""
        with self._file.write() as db:
            self._purge(db)
            db.execute(
                "INSERT OR REPLACE INTO kv (name, value, expires_at) VALUES (?, ?, ?)",
                (self._value_name(name), value, self._clock() + seconds),
            )

    def pop_value(self, name: str) -> str | None:
        """Remove a named value and return it."""
        with self._file.write() as db:
            for stored in self._value_names(name):
                row = db.execute(_LIVE, (stored, self._clock())).fetchone()
                db.execute("DELETE FROM kv WHERE name = ?", (stored,))
                if row is not None:
                    return row[0]
        return None

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew a lease; False while another owner holds it."""
        key, now = self._value_name("lease:" + name), self._clock()
        with self._file.write() as db:
            row = db.execute("SELECT value, expires_at FROM kv WHERE name = ?", (key,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            db.execute(
                "INSERT OR REPLACE INTO kv (name, value, expires_at) VALUES (?, ?, ?)",
                (key, owner, now + seconds),
            )
            return True

    def health(self) -> dict[str, object]:
        """For /readyz: the file's health (the records' store answers the same)."""
        return self._file.health(self._clock())

    def close(self) -> None:
        """Close this thread's connection to the file (tests)."""
        self._file.close()

    # -- helpers ---------------------------------------------------------------------------

    def _keys(self) -> list[bytes]:
        return [self._names, *self._old_names]

    def _event_name(self, event_id: str, key: bytes | None = None) -> str:
        return "event:" + mac(key or self._names, "e", event_id)

    def _value_name(self, name: str, key: bytes | None = None) -> str:
        # Keyed like the records: "organizations:user_..." must not name a user in the file.
        return "v:" + mac(key or self._names, "v", name)

    def _value_names(self, name: str) -> list[str]:
        # Current key, former keys, then the name in clear as versions before this one wrote
        # it (the Events API cursor must survive the upgrade; the rest expire within minutes).
        return [*(self._value_name(name, key) for key in self._keys()), name]

    def _purge(self, db: sqlite3.Connection) -> None:
        now = self._clock()
        if now - self._purged_at < PURGE_INTERVAL:
            return
        self._purged_at = now
        db.execute("DELETE FROM kv WHERE expires_at <= ?", (now,))
