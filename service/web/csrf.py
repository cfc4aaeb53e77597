"""CSRF: the session's form token, and the one check every state-changing route makes."""

from __future__ import annotations

import hmac
import secrets

from flask import request

from service.web.context import unproxied
from service.web.cookie_session import browser_session
from service.web.errors import ApiError

CSRF_SESSION_KEY = "csrf_token"


def csrf_token() -> str:
    """This session's CSRF token for forms, made on first use."""
    token = browser_session().get(CSRF_SESSION_KEY)
    if not token:
        token = browser_session()[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def require_csrf(
    *,
    header: bool = True,
    form: bool = True,
    status: int = 403,
    message: str = "This request needs a valid CSRF token.",
) -> None:
    """The one CSRF check: the X-CSRF: 1 header (when `header`) or this session's form token
    (when `form`); else `status` csrf_required."""
    # A custom header forces a CORS preflight, granted only to CORS_ALLOWED_ORIGINS. Read
    # from the environ: request.headers would build its view of it on every API request.
    if header and unproxied(request).environ.get("HTTP_X_CSRF") == "1":
        return
    if form:
        expected = browser_session().get(CSRF_SESSION_KEY)
        given = request.form.get("csrf_token", "")
        if expected and hmac.compare_digest(expected, given):
            return
    raise ApiError(status, "csrf_required", message)
