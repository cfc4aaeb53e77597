"""SqliteFile: the one SQLite file of a host, shared by its session records
(`sqlite_store.py`) and the values beside them (`sqlite_values.py`).

Schema (names are keyed HMACs, `keys.mac`; bodies are Fernet-sealed):

    sessions(k, u, x, expires_at, g, b)   the records: k = mac(session id), u = mac(user id),
                                          x = mac(WorkOS sid), g = gen, b = sealed record
    session_orgs(o, k)                    the organization index: o = mac(organization id)
    kv(name, value, expires_at)           event ids applied, the Events API cursor,
                                          pending sign-ins and organization choices,
                                          leases; every name a keyed HMAC too

`CREATE ... IF NOT EXISTS` at every open: a file made by an earlier version opens as it is.
WAL mode lets readers go on while one worker writes; every write is one short transaction
(BEGIN IMMEDIATE), so two workers changing one row serialise. sqlite3 errors raise
SessionStoreUnavailable (fail closed).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from service.sessions.records import SessionStoreUnavailable

# Expired rows are deleted by a writer that finds its last purge older than this.
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


class SqliteFile:
    """One SQLite file (WAL): its schema, a connection per thread and process, transactions."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._local = threading.local()
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # gunicorn boots its workers together, and each one's first connection turns the file
        # to WAL: SQLite answers "database is locked" at once to all but one of them (its busy
        # timeout does not cover a change of journal mode), and that worker fails to boot. So
        # processes open the file for the first time one at a time; WAL then stays set in it.
        with open(self.path + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            with self.read() as db:
                db.executescript(_SCHEMA)  # its own transaction: executescript commits first

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection, outside a transaction."""
        try:
            yield self._connection()
        except sqlite3.Error as exc:
            raise SessionStoreUnavailable(f"session store: {type(exc).__name__}") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection in one write transaction (committed unless it raises)."""
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

    def health(self, now: float) -> dict[str, object]:
        """For /readyz: whether the file answers, to a write as large as a record too."""
        try:
            with self.read() as db:
                db.execute("SELECT 1").fetchone()
            # A full disk (or a read-only file) still answers reads while every sign-in and
            # sign-out fails: readiness must see what they see.
            # A new row before the last one goes: replacing it in place would reuse its pages.
            probe = "health:" + os.urandom(8).hex()
            with self.write() as db:
                db.execute(
                    "INSERT INTO kv (name, value, expires_at) VALUES (?, ?, ?)",
                    (probe, os.urandom(PROBE_BYTES // 2).hex(), now + 60),
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

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: sqlite3 objects must not cross a fork.
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db, self._local.pid = db, os.getpid()
        return db
