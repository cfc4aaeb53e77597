"""SqliteSessionStore: session records in one SQLite file that every worker on the host shares.

Layout (names are keyed HMACs, `keys.mac`, so the file names no session, user or
organization; bodies are Fernet-sealed JSON, so it holds no readable email either):

    sessions(k, u, x, expires_at, g, b)   k = mac(session id), u = mac(user id),
                                          x = mac(WorkOS sid), g = gen, b = sealed record
    session_orgs(o, k)                    the organization index: o = mac(organization id)
    kv(name, value, expires_at)           event ids applied, the Events API cursor,
                                          pending organization choices, leases; every
                                          name a keyed HMAC too ("v:" + mac(name))

WAL mode lets readers go on while one worker writes; every write is one short transaction
(BEGIN IMMEDIATE), so two workers changing one record serialise. Expired rows are purged by
the writer that finds the last purge more than PURGE_INTERVAL seconds old.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from service.core.keys import derive, mac
from service.core.sealing import Sealer
from service.sessions.records import (
    EVENT_MEMORY_SECONDS,
    Change,
    SessionRecord,
    SessionStoreUnavailable,
    organization_ids,
)

PURGE_INTERVAL = 60.0
# The readiness write: about a sealed record with its indexes, random so it cannot shrink.
PROBE_BYTES = 4096
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    k TEXT PRIMARY KEY, u TEXT NOT NULL, x TEXT, expires_at REAL NOT NULL,
    g INTEGER NOT NULL DEFAULT 0, b TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (u);
CREATE INDEX IF NOT EXISTS sessions_by_sid ON sessions (x);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS session_orgs (o TEXT NOT NULL, k TEXT NOT NULL, PRIMARY KEY (o, k));
CREATE INDEX IF NOT EXISTS session_orgs_by_session ON session_orgs (k);
CREATE TABLE IF NOT EXISTS kv (
    name TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL NOT NULL
);
"""


class SqliteSessionStore:
    """SessionStore in a SQLite file (WAL), shared by the processes of one host."""

    def __init__(
        self,
        path: str | Path,
        secret_key: str,
        clock: Callable[[], float] = time.time,
        fallbacks: Sequence[str] = (),
    ):
        self._path = str(path)
        self._clock = clock
        self._names = derive(secret_key, "session-store-names")
        # Names made under a former SECRET_KEY: looked up on a miss, and a record found there
        # is moved to its current name, so a rotation signs nobody out.
        self._old_names = [derive(key, "session-store-names") for key in fallbacks]
        self._sealer = Sealer(secret_key, "session-records", fallbacks)
        self._local = threading.local()
        self._purged_at = 0.0
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # gunicorn boots its workers together, and each one's first connection turns the file
        # to WAL: SQLite answers "database is locked" at once to all but one of them (its busy
        # timeout does not cover a change of journal mode), and that worker fails to boot. So
        # processes open the file for the first time one at a time; WAL then stays set in it.
        with open(self._path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            with self._read() as db:
                db.executescript(_SCHEMA)  # its own transaction: executescript commits first

    # -- records ---------------------------------------------------------------------------

    def create(self, record: SessionRecord) -> None:
        """Store a new record and index it."""
        with self._write() as db:
            self._purge(db)
            self._insert(db, record)

    def get(self, session_id: str) -> SessionRecord | None:
        """The live record, or None."""
        with self._read() as db:
            row = self._live_row(db, self._name("s", session_id))
        if row is None:
            return self._migrate(session_id)
        return self._open(row, session_id)

    def update(self, session_id: str, change: Change, bump: bool = False) -> SessionRecord | None:
        """Change the record in one transaction; None when it is gone."""
        self._migrate(session_id)
        k = self._name("s", session_id)
        with self._write() as db:
            row = self._live_row(db, k)
            record = None if row is None else self._open(row, session_id)
            if record is None:
                return None
            record = change(record)
            if bump:
                record = replace(record, gen=record.gen + 1)
            db.execute(
                "UPDATE sessions SET g = ?, b = ? WHERE k = ?",
                (record.gen, self._sealer.seal(record.to_json()), k),
            )
            db.execute("DELETE FROM session_orgs WHERE k = ?", (k,))
            self._index_orgs(db, k, record)
            return record

    def delete(self, session_id: str) -> SessionRecord | None:
        """Remove a record and its index entries."""
        self._migrate(session_id)
        k = self._name("s", session_id)
        with self._write() as db:
            row = self._live_row(db, k)
            self._remove(db, k)
        return None if row is None else self._open(row, session_id)

    def find(
        self,
        *,
        user_id: str | None = None,
        sid: str | None = None,
        organization_id: str | None = None,
    ) -> list[SessionRecord]:
        """Live records by user id, WorkOS sid or organization id."""
        now = self._clock()
        # Records not yet moved since a rotation are indexed under a former key's names.
        if user_id is not None:
            query, names = (
                "SELECT g, b FROM sessions WHERE u IN ({}) AND expires_at > ?",
                [self._name("u", user_id, key) for key in self._keys()],
            )
        elif sid is not None:
            query, names = (
                "SELECT g, b FROM sessions WHERE x IN ({}) AND expires_at > ?",
                [self._name("x", sid, key) for key in self._keys()],
            )
        elif organization_id is not None:
            query = (
                "SELECT s.g, s.b FROM session_orgs o JOIN sessions s ON s.k = o.k "
                "WHERE o.o IN ({}) AND s.expires_at > ?"
            )
            names = [self._name("o", organization_id, key) for key in self._keys()]
        else:
            return []  # no index asked for: nothing matches (as in the other stores)
        with self._read() as db:
            marks = ",".join("?" * len(names))
            rows = db.execute(query.format(marks), (*names, now)).fetchall()
        return [r for r in (self._open(row) for row in rows) if r is not None]

    def every(self) -> list[SessionRecord]:
        """Every live record (operator commands)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT g, b FROM sessions WHERE expires_at > ?", (self._clock(),)
            ).fetchall()
        return [r for r in (self._open(row) for row in rows) if r is not None]

    # -- events, values and leases ---------------------------------------------------------

    def event_applied(self, event_id: str) -> bool:
        """True when this event id was marked applied (under this key or a former one)."""
        live = "SELECT 1 FROM kv WHERE name = ? AND expires_at > ?"
        with self._read() as db:
            return any(
                db.execute(
                    live, ("event:" + self._name("e", event_id, key), self._clock())
                ).fetchone()
                for key in self._keys()
            )

    def claim_event(self, event_id: str) -> bool:
        """Mark this event id applied; True the first time."""
        name = "event:" + self._name("e", event_id)
        with self._write() as db:
            for key in self._old_names:  # claimed before a rotation: claimed
                old = "event:" + self._name("e", event_id, key)
                live = "SELECT 1 FROM kv WHERE name = ? AND expires_at > ?"
                if db.execute(live, (old, self._clock())).fetchone():
                    return False
            db.execute("DELETE FROM kv WHERE name = ? AND expires_at <= ?", (name, self._clock()))
            cursor = db.execute(
                "INSERT OR IGNORE INTO kv (name, value, expires_at) VALUES (?, '1', ?)",
                (name, self._clock() + EVENT_MEMORY_SECONDS),
            )
            return cursor.rowcount == 1

    def release_event(self, event_id: str) -> None:
        """Forget a claim, so that a redelivery applies the event."""
        with self._write() as db:
            db.execute("DELETE FROM kv WHERE name = ?", ("event:" + self._name("e", event_id),))

    def get_value(self, name: str) -> str | None:
        """A named value, or None."""
        with self._read() as db:
            for stored in self._value_names(name):
                row = db.execute(
                    "SELECT value FROM kv WHERE name = ? AND expires_at > ?",
                    (stored, self._clock()),
                ).fetchone()
                if row is not None:
                    return row[0]
        return None

    def set_value(self, name: str, value: str, seconds: float = EVENT_MEMORY_SECONDS) -> None:
        """Keep a named value for `seconds`."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO kv (name, value, expires_at) VALUES (?, ?, ?)",
                (self._value_name(name), value, self._clock() + seconds),
            )

    def pop_value(self, name: str) -> str | None:
        """Remove a named value and return it."""
        with self._write() as db:
            for stored in self._value_names(name):
                row = db.execute(
                    "SELECT value FROM kv WHERE name = ? AND expires_at > ?",
                    (stored, self._clock()),
                ).fetchone()
                db.execute("DELETE FROM kv WHERE name = ?", (stored,))
                if row is not None:
                    return row[0]
        return None

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew a lease; False while another owner holds it."""
        key, now = self._value_name("lease:" + name), self._clock()
        with self._write() as db:
            row = db.execute("SELECT value, expires_at FROM kv WHERE name = ?", (key,)).fetchone()
            if row is not None and row[0] != owner and row[1] > now:
                return False
            db.execute(
                "INSERT OR REPLACE INTO kv (name, value, expires_at) VALUES (?, ?, ?)",
                (key, owner, now + seconds),
            )
            return True

    def health(self) -> dict[str, object]:
        """For /readyz: whether the file answers, to a write as large as a record too."""
        try:
            with self._read() as db:
                db.execute("SELECT 1").fetchone()
            # A full disk (or a read-only file) still answers reads while every sign-in and
            # sign-out fails: readiness must see what they see.
            # A new row before the last one goes: replacing it in place would reuse its pages.
            probe = "health:" + os.urandom(8).hex()
            with self._write() as db:
                db.execute(
                    "INSERT INTO kv (name, value, expires_at) VALUES (?, ?, ?)",
                    (probe, os.urandom(PROBE_BYTES // 2).hex(), self._clock() + 60),
                )
                db.execute("DELETE FROM kv WHERE name LIKE 'health:%' AND name != ?", (probe,))
        except SessionStoreUnavailable:
            return {"backend": "sqlite", "ok": False}
        return {"backend": "sqlite", "ok": True}

    def close(self) -> None:
        """Close this thread's connection (tests)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- helpers ---------------------------------------------------------------------------

    def _name(self, kind: str, value: str, key: bytes | None = None) -> str:
        return mac(key or self._names, kind, value)

    def _value_name(self, name: str, key: bytes | None = None) -> str:
        # Keyed like the records: "organizations:user_..." must not name a user in the file.
        return "v:" + self._name("v", name, key)

    def _value_names(self, name: str) -> list[str]:
        # Current key, former keys, then the name in clear as versions before this one wrote
        # it (the Events API cursor must survive the upgrade; the rest expire within minutes).
        return [*(self._value_name(name, key) for key in self._keys()), name]

    def _keys(self) -> list[bytes]:
        return [self._names, *self._old_names]

    def _migrate(self, session_id: str) -> SessionRecord | None:
        """Move a record kept under a former key's names to the current ones; None if none."""
        for key in self._old_names:
            k = self._name("s", session_id, key)
            with self._read() as db:  # a read first: update() and delete() ask on every call
                if self._live_row(db, k) is None:
                    continue
            with self._write() as db:
                row = self._live_row(db, k)
                record = None if row is None else self._open(row, session_id)
                if record is None:
                    continue
                self._remove(db, k)
                self._insert(db, record)
            return record
        return None

    def _live_row(self, db: sqlite3.Connection, k: str) -> tuple | None:
        """(gen, sealed body) of the record named k while it lives, else None."""
        row: tuple | None = db.execute(
            "SELECT g, b FROM sessions WHERE k = ? AND expires_at > ?", (k, self._clock())
        ).fetchone()
        return row

    @staticmethod
    def _remove(db: sqlite3.Connection, k: str) -> None:
        db.execute("DELETE FROM sessions WHERE k = ?", (k,))
        db.execute("DELETE FROM session_orgs WHERE k = ?", (k,))

    def _open(self, row: tuple, session_id: str | None = None) -> SessionRecord | None:
        body = self._sealer.unseal(row[1])
        if body is None:
            return None  # sealed under another SECRET_KEY: nobody is signed in by it
        record = SessionRecord.from_json(body, int(row[0]))
        return record if session_id is None or record.id == session_id else None

    def _insert(self, db: sqlite3.Connection, record: SessionRecord) -> None:
        k = self._name("s", record.id)
        db.execute(
            "INSERT OR REPLACE INTO sessions (k, u, x, expires_at, g, b) VALUES (?,?,?,?,?,?)",
            (
                k,
                self._name("u", record.user_id),
                self._name("x", record.sid) if record.sid else None,
                record.expires_at,
                record.gen,
                self._sealer.seal(record.to_json()),
            ),
        )
        self._index_orgs(db, k, record)

    def _index_orgs(self, db: sqlite3.Connection, k: str, record: SessionRecord) -> None:
        db.executemany(
            "INSERT OR IGNORE INTO session_orgs (o, k) VALUES (?, ?)",
            [(self._name("o", org), k) for org in organization_ids(record)],
        )

    def _purge(self, db: sqlite3.Connection) -> None:
        now = self._clock()
        if now - self._purged_at < PURGE_INTERVAL:
            return
        self._purged_at = now
        db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
        db.execute("DELETE FROM session_orgs WHERE k NOT IN (SELECT k FROM sessions)")
        db.execute("DELETE FROM kv WHERE expires_at <= ?", (now,))

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: sqlite3 objects must not cross a fork.
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = sqlite3.connect(self._path, timeout=5.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        return db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except sqlite3.Error as exc:
            raise SessionStoreUnavailable(f"session store: {type(exc).__name__}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise SessionStoreUnavailable(f"session store: {type(exc).__name__}") from exc
