"""The session cookie: a signed, untimed dict holding the session id and what CSRF needs.

Flask's own cookie is timed by the signing host's clock, and a host whose clock runs behind
refuses it as "from the future"; the sign-in's age is the record's business here
(`SessionRecord.expires_at`), so the signature carries no time. What the cookie holds:

    session_id   the random id of the server-side record (absent: signed out)
    expires      when that record expires (epoch seconds): the cookie's Expires
    csrf_token   the form CSRF token
    sid          the WorkOS session id, for a sign-out while the session store is down
    flows        pending sign-ins: {state: [next path, started at]}
    pick         the id of a pending organization choice kept in the session store

Its name, domain, Secure and SameSite are the service's settings, never the app's
SESSION_COOKIE_* (in an app that mounts the extension, those are the app's own session's).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from cachetools import LRUCache
from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeSerializer

from service.core.keys import derive
from service.web.headers import add_vary

SALT = "gts-session-cookie"
# Cookie headers whose session cookie verified, kept with its decoded value: a browser sends
# the same header on every request until the session changes, so its signature is checked
# once. Only a header whose cookie verified is kept, and only a short one: at most
# VERIFIED_MAX * VERIFIED_HEADER_MAX bytes (ours is under 1 KB; other cookies share the header).
VERIFIED_MAX = 4096
VERIFIED_HEADER_MAX = 4096


class CookieSessionInterface(SecureCookieSessionInterface):
    """SecureCookieSessionInterface without the timestamp, expiring with the record.

    Read on every request, so it is built once: plain JSON (the cookie holds only strings,
    numbers and a dict of flows) and a key derived once from SECRET_KEY rather than per
    request, which halves the cost of reading the cookie.
    """

    def __init__(
        self,
        secret_key: str,
        fallbacks: Sequence[str] = (),
        *,
        name: str = "gts",
        domain: str | None = None,
        secure: bool = True,
        samesite: str = "Lax",
        path: str | None = None,
    ):
        self._name, self._domain, self._secure, self._samesite = name, domain, secure, samesite
        self._path = path
        # itsdangerous signs with the last key and accepts any: cookies signed under a key in
        # SECRET_KEY_FALLBACKS keep working after a rotation.
        keys = [derive(key, "session-cookie") for key in (*fallbacks, secret_key)]
        self._serializer = URLSafeSerializer(
            keys,
            salt=SALT,
            serializer=json,
            signer_kwargs={"key_derivation": "none", "digest_method": hashlib.sha256},
        )
        self._verified: LRUCache = LRUCache(VERIFIED_MAX)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe

    # Flask declares a URLSafeTimedSerializer here; ours is untimed on purpose (see above).
    # Only Flask's open_session uses the timed API (loads max_age=), and it is replaced below.
    def get_signing_serializer(self, app: Flask) -> URLSafeSerializer | None:  # type: ignore[override]
        return self._serializer

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Keyed by the whole Cookie header: a browser sends the same one on every request until
        # something changes, so it is parsed (a regex over every cookie) and verified once.
        header = request.environ.get("HTTP_COOKIE")
        if not header:
            return self.session_class()
        try:
            with self._lock:
                data = self._verified[header]  # one lookup; get() asks __contains__ first
        except KeyError:
            value = request.cookies.get(self.get_cookie_name(app))
            if not value:
                return self.session_class()
            try:
                data = self._serializer.loads(value)
            except BadSignature:
                return self.session_class()
            if not isinstance(data, dict):
                return self.session_class()
            if len(header) <= VERIFIED_HEADER_MAX:
                with self._lock:
                    self._verified[header] = data
        # A copy: the request may change its session; the cached value must not change.
        return self.session_class(json.loads(json.dumps(data)) if "flows" in data else data.copy())

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Flask's save_session, skipped when nothing changed (the common case: a read)."""
        if not session.modified:
            if session.accessed:
                add_vary(response, "Cookie")
            return
        super().save_session(app, session, response)

    def get_cookie_name(self, app: Flask) -> str:
        return self._name

    def get_cookie_domain(self, app: Flask) -> str | None:
        return self._domain

    def get_cookie_secure(self, app: Flask) -> bool:
        return self._secure

    def get_cookie_samesite(self, app: Flask) -> str:
        return self._samesite

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True  # never readable by a page's script, whatever the app says

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return False

    def should_set_cookie(self, app: Flask, session: SessionMixin) -> bool:
        # Written when it changes only: the sign-in's age is the record's, not the cookie's.
        return session.modified

    def get_cookie_path(self, app: Flask) -> str:
        # Under a path prefix (X-Forwarded-Prefix behind a trusted proxy, and the extension's
        # url_prefix) the cookie is scoped to it; a __Host- cookie must have Path=/ or the
        # browser drops it.
        if self._name.startswith("__Host-"):
            return "/"
        root = request.script_root if has_request_context() else ""
        return (root + (self._path or "")) or "/"

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        expires = session.get("expires")
        if isinstance(expires, int | float):
            return datetime.fromtimestamp(expires, UTC)
        return None  # no record yet (a sign-in under way): a browser-session cookie
