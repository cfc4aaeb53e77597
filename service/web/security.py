"""CSRF tokens, the `next` sanitizer, and the security headers every response carries."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import unquote

from flask import Flask, Response, request

from service.web.context import unproxied
from service.web.cookie_session import browser_session
from service.web.errors import ApiError
from service.web.hooks import WHOLE_APP, Scopes, after, before

CSRF_SESSION_KEY = "csrf_token"
# Headers of answers that hold a session's data: no cache keeps them (Pragma for HTTP/1.0
# caches), and they differ by cookie.
SESSION_ANSWER_HEADERS = (("Cache-Control", "no-store"), ("Pragma", "no-cache"), ("Vary", "Cookie"))
# The same for answers to an AuthKit access token (service/web/bearer.py).
BEARER_ANSWER_HEADERS = (
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Vary", "Authorization"),
)


def safe_next(value: str | None, default: str = "/") -> str:
    """Return value when it is a path on this origin, default otherwise."""
    if not value or len(value) > 2048:
        return default
    # Decode once so that encoded forms (%2F%2Fhost, %5Chost) are judged as browsers read them.
    decoded = unquote(value)
    for candidate in (value, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return default
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return default
    return value


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


def content_security_policy(graphql_origin: str, workos_origin: str) -> str:
    """CSP of every HTML page: scripts and styles from this origin only."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {graphql_origin}",
            # Sign-out posts here and is redirected to WorkOS; Chromium checks redirects too.
            f"form-action 'self' {workos_origin}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


def add_vary(response: Response, name: str) -> None:
    """Name a request header in the answer's one Vary header (werkzeug's vary set parses it
    each time, which costs more than this on every answer)."""
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = name
    elif name not in (part.strip() for part in vary.split(",")):
        response.headers["Vary"] = f"{vary}, {name}"


def init_body_limit(app: Flask, scopes: Scopes = WHOLE_APP, limit: int | None = None) -> None:
    """Refuse bodies beyond MAX_CONTENT_LENGTH (or `limit`, for these requests only) with 413,
    chunked ones included."""

    def _refuse_long_chunked_bodies() -> None:
        if limit is not None:
            # The app's MAX_CONTENT_LENGTH is its own; the service's routes keep theirs.
            request.max_content_length = limit
            request.max_form_memory_size = limit
        # A chunked body has no Content-Length, and werkzeug stops reading it at the limit
        # without an error, so forms and JSON would be parsed from a cut body. Read it once
        # (parsing reuses the cached bytes); one byte more raises 413 when it went on.
        if request.content_length is None and request.method in ("POST", "PUT", "PATCH"):
            request.get_data()
            request.stream.read(1)

    before(app, scopes, _refuse_long_chunked_bodies)


def init_security_headers(app: Flask, csp: str, hsts: bool, scopes: Scopes = WHOLE_APP) -> None:
    """Add CSP and the other security headers to every response of the scopes."""
    always = [
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if hsts:
        always.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))

    def _headers(response: Response) -> Response:
        headers = response.headers
        # No route sets these itself, so they are added in one step (this runs on every answer).
        headers.extend(always)
        if response.mimetype == "text/html":
            headers.setdefault("Content-Security-Policy", csp)
        return response

    after(app, scopes, _headers)
