"""What a backend's two stores (session records, values) share: names under SECRET_KEY and its
former values, the SQLite file, and the one guarded way to call Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from service.core.keys import derive
from service.core.redis_link import Client, RedisDown, RedisLink, ping_every_node
from service.sessions.records import SessionStoreUnavailable
from service.sessions.sqlite_file import SqliteFile

P = ParamSpec("P")
T = TypeVar("T")

# One purpose for both stores: a record's and a value's names are made with the same key.
NAMES = "session-store-names"


class KeyedNames:
    """Names made under SECRET_KEY; those under a former key are still read, so a rotation
    signs nobody out and loses no value."""

    def __init__(self, secret_key: str, fallbacks: Sequence[str] = ()):
        self._names = derive(secret_key, NAMES)
        self._old_names = [derive(key, NAMES) for key in fallbacks]


class SqliteBacked(KeyedNames):
    """A store in the host's SQLite file (one connection per thread, shared by both stores)."""

    def __init__(
        self,
        file: SqliteFile | str | Path,
        secret_key: str,
        clock: Callable[[], float] = time.time,
        fallbacks: Sequence[str] = (),
    ):
        super().__init__(secret_key, fallbacks)
        self._file = file if isinstance(file, SqliteFile) else SqliteFile(file)
        self._clock = clock
        self._purged_at = 0.0


class RedisBacked(KeyedNames):
    """A store in Redis through the process's one link; a failed call is the store's outage."""

    def __init__(
        self,
        link: RedisLink,
        secret_key: str,
        *,
        prefix: str = "gts",
        fallbacks: Sequence[str] = (),
    ):
        super().__init__(secret_key, fallbacks)
        self._link = link
        self._prefix = prefix

    def health(self) -> dict[str, object]:
        """For /readyz: whether Redis answers (every node; both stores are on this link)."""
        try:
            self._run(ping_every_node)
        except SessionStoreUnavailable:
            return {"backend": "redis", "ok": False}
        return {"backend": "redis", "ok": True}

    def _run(self, op: Callable[Concatenate[Client, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """op(client, *args, **kwargs); SessionStoreUnavailable when Redis fails. Loops pass
        their variables as args (bound per call) rather than as lambda defaults."""
        try:
            return self._link.run(lambda r: op(r, *args, **kwargs))
        except RedisDown as exc:
            raise SessionStoreUnavailable(str(exc)) from exc
