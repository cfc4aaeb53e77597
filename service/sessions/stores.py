"""Which session stores a deployment gets: Redis when REDIS_URL is set, else SQLite.

Both halves on one backend: the records (a SessionStore) and the values beside them (a
ValueStore: applied event ids, named values, leases) share the SQLite file or the Redis link.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from service.config.settings import Settings
from service.core.redis_link import RedisLink
from service.sessions.records import SessionStore
from service.sessions.redis_store import RedisSessionStore
from service.sessions.redis_values import RedisValueStore
from service.sessions.sqlite_file import SqliteFile
from service.sessions.sqlite_store import SqliteSessionStore
from service.sessions.sqlite_values import SqliteValueStore
from service.sessions.values import ValueStore


@dataclass(frozen=True, slots=True)
class SessionStores:
    """The session records and the short-lived values of one deployment, on one backend."""

    records: SessionStore
    values: ValueStore


# The session file when SESSION_DB_PATH is unset, in the app's instance folder.
DEFAULT_DB = "sessions.sqlite3"


def make_session_stores(
    settings: Settings, instance_path: str, link: RedisLink | None = None
) -> SessionStores:
    """The Redis stores with REDIS_URL (on link, if given), else the SQLite ones."""
    fallbacks = settings.secret_key_fallbacks
    if settings.redis_url:
        link = link or RedisLink(settings.redis_url)
        return SessionStores(
            RedisSessionStore(link, settings.secret_key, fallbacks=fallbacks),
            RedisValueStore(link, settings.secret_key, fallbacks=fallbacks),
        )
    # Flask's instance folder (git-ignored) unless SESSION_DB_PATH names another file.
    file = SqliteFile(settings.session_db_path or os.path.join(instance_path, DEFAULT_DB))
    return SessionStores(
        SqliteSessionStore(file, settings.secret_key, fallbacks=fallbacks),
        SqliteValueStore(file, settings.secret_key, fallbacks=fallbacks),
    )
