"""Sign-out: POST /logout for a form (302 to WorkOS) or a script (200 {logout_url})."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import jsonify, redirect, request
from flask.typing import ResponseReturnValue

from service.components import current
from service.sessions.records import SessionStoreUnavailable
from service.web import errors
from service.web.auth import home_url, public_origin, signed_in_user
from service.web.cookie_session import browser_session
from service.web.csrf import require_csrf
from service.web.errors import ApiError
from service.web.redirects import safe_next

log = logging.getLogger(__name__)


def _return_to(value: str | None) -> str:
    """Where WorkOS sends the browser after sign-out: a path here or an allowed origin's URL."""
    if not value:
        # ?signed_out=1: the sign-in page then confirms the sign-out instead of looking like a
        # first visit (?ended=1 is the other case: a session that ended without being asked to).
        return public_origin() + home_url(signed_out=True)
    if len(value) <= 2048 and safe_next(value, "") == value:
        return public_origin() + value
    parts = urlsplit(value)
    origin = f"{parts.scheme}://{parts.netloc}"
    allowed = current().settings.cors_allowed_origins
    if (
        len(value) <= 2048
        and origin in allowed
        and "\\" not in value
        and not any(ord(c) < 0x21 or ord(c) == 0x7F for c in value)
    ):
        return value
    raise ApiError(
        400,
        "invalid_request",
        "return_to must be a path on this origin or a URL on an origin in CORS_ALLOWED_ORIGINS.",
    )


def logout() -> ResponseReturnValue:
    """Delete the session record and its cached tokens, then end the WorkOS session.

    A form gets a 302 to WorkOS's logout URL; a script (Accept: application/json) gets 200
    {logout_url} to navigate to, since fetch cannot follow a cross-origin redirect usefully.
    """
    wants_json = errors.wants_json()
    return_to = _return_to(request.values.get("return_to"))
    cookie = browser_session()
    session_id = cookie.get("session_id")
    try:
        user = signed_in_user()
        signed_in: bool | None = user is not None
    except SessionStoreUnavailable:
        user, signed_in = None, None  # unknown: the cookie names a session the store cannot read
    if signed_in and user is not None:
        require_csrf(message="Sign-out needs a valid CSRF token.")
        record = user.record
        sid = record.sid
        try:
            current().sessions.end(record.id)
        except SessionStoreUnavailable:
            current().sessions.end_later(record.id)
    elif signed_in is None and isinstance(session_id, str):
        # A sign-out is never refused for an outage: the cookie goes now, WorkOS's session
        # ends by the logout URL (its id kept in the cookie for this), and the record is
        # deleted when the store answers again.
        require_csrf(message="Sign-out needs a valid CSRF token.")
        current().sessions.end_later(session_id)
        kept = cookie.get("sid")
        sid = kept if isinstance(kept, str) and kept else None
        log.warning("sign-out during a session store outage: the record is deleted later")
    else:
        sid = None  # signed out already (elsewhere, or expired): nothing to end here
    cookie.clear()
    url = return_to
    if sid:
        url = current().workos.logout_url(session_id=sid, return_to=return_to)
    if wants_json:
        response = jsonify(logout_url=url)
        response.headers["Cache-Control"] = "no-store"
        return response
    return redirect(url, 302)
