"""The headers answers carry: security headers on every one, no-store on a session's, Vary."""

from __future__ import annotations

from flask import Flask, Response

from service.web.hooks import WHOLE_APP, Scopes, after

# Headers of answers that hold a session's data: no cache keeps them (Pragma for HTTP/1.0
# caches), and they differ by cookie.
SESSION_ANSWER_HEADERS = (("Cache-Control", "no-store"), ("Pragma", "no-cache"), ("Vary", "Cookie"))
# The same for answers to an AuthKit access token (service/web/bearer.py).
BEARER_ANSWER_HEADERS = (
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Vary", "Authorization"),
)


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
