"""SqliteSessionStore: session records in the SQLite file every worker on the host shares
(sqlite_file.py, which holds the schema and the connections; the values beside the records,
sqlite_values.py, are in its `kv` table).

Layout (names are keyed HMACs, `keys.mac`, so the file names no session, user or
organization; bodies are Fernet-sealed JSON, so it holds no readable email either):

    sessions(k, u, x, expires_at, g, b)   k = mac(session id), u = mac(user id),
                                          x = mac(WorkOS sid), g = gen, b = sealed record
    session_orgs(o, k)                    the organization index: o = mac(organization id)

Every write is one short transaction (BEGIN IMMEDIATE), so two workers changing one record
serialise. Expired records are purged by the writer that finds the last purge more than
PURGE_INTERVAL seconds old.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from service.core.keys import mac
from service.core.sealing import Sealer
from service.sessions.backends import SqliteBacked
from service.sessions.records import Change, SessionRecord, organization_ids
from service.sessions.sqlite_file import PURGE_INTERVAL, SqliteFile


class SqliteSessionStore(SqliteBacked):
    """SessionStore in a SQLite file (WAL), shared by the processes of one host. A record
    found under a former key's name is moved to its current name."""

    def __init__(
        self,
        file: SqliteFile | str | Path,
        secret_key: str,
        clock: Callable[[], float] = time.time,
        fallbacks: Sequence[str] = (),
    ):
        super().__init__(file, secret_key, clock, fallbacks)
        self._sealer = Sealer(secret_key, "session-records", fallbacks)

    # -- records ---------------------------------------------------------------------------

    def create(self, record: SessionRecord) -> None:
        """Store a new record and index it."""
        with self._file.write() as db:
            self._purge(db)
            self._insert(db, record)

    def get(self, session_id: str) -> SessionRecord | None:
        """The live record, or None."""
        with self._file.read() as db:
            row = self._live_row(db, self._name("s", session_id))
        if row is None:
            return self._migrate(session_id)
        return self._open(row, session_id)

    def update(self, session_id: str, change: Change, bump: bool = False) -> SessionRecord | None:
        """Change the record in one transaction; None when it is gone."""
        self._migrate(session_id)
        k = self._name("s", session_id)
        with self._file.write() as db:
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
        with self._file.write() as db:
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
        with self._file.read() as db:
            marks = ",".join("?" * len(names))
            rows = db.execute(query.format(marks), (*names, now)).fetchall()
        return [r for r in (self._open(row) for row in rows) if r is not None]

    def every(self) -> list[SessionRecord]:
        """Every live record (operator commands)."""
        with self._file.read() as db:
            rows = db.execute(
                "SELECT g, b FROM sessions WHERE expires_at > ?", (self._clock(),)
            ).fetchall()
        return [r for r in (self._open(row) for row in rows) if r is not None]

    def health(self) -> dict[str, object]:
        """For /readyz: whether the file answers, to a write as large as a record too (the
        values beside the records are in the same file)."""
        return self._file.health(self._clock())

    def close(self) -> None:
        """Close this thread's connection to the file (tests)."""
        self._file.close()

    # -- helpers ---------------------------------------------------------------------------

    def _name(self, kind: str, value: str, key: bytes | None = None) -> str:
        return mac(key or self._names, kind, value)

    def _keys(self) -> list[bytes]:
        return [self._names, *self._old_names]

    def _migrate(self, session_id: str) -> SessionRecord | None:
        """Move a record kept under a former key's names to the current ones; None if none."""
        for key in self._old_names:
            k = self._name("s", session_id, key)
            with self._file.read() as db:  # a read first: update() and delete() ask on every call
                if self._live_row(db, k) is None:
                    continue
            with self._file.write() as db:
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
