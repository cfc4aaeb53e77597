"""Which session store a deployment gets: Redis when REDIS_URL is set, else SQLite."""

from __future__ import annotations

import os

from service.config.settings import Settings
from service.core.redis_link import RedisLink
from service.sessions.records import SessionStore
from service.sessions.redis_store import RedisSessionStore
from service.sessions.sqlite_store import SqliteSessionStore


def make_session_store(
    settings: Settings, instance_path: str, link: RedisLink | None = None
) -> SessionStore:
    """RedisSessionStore with REDIS_URL (on link, if given), else SqliteSessionStore."""
    if settings.redis_url:
        return RedisSessionStore(
            link or RedisLink(settings.redis_url),
            settings.secret_key,
            fallbacks=settings.secret_key_fallbacks,
        )
    # Flask's instance folder (git-ignored) unless SESSION_DB_PATH names another file.
    path = settings.session_db_path or os.path.join(instance_path, "sessions.sqlite3")
    return SqliteSessionStore(path, settings.secret_key, fallbacks=settings.secret_key_fallbacks)
