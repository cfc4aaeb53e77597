"""CORS for a front end on another origin: only CORS_ALLOWED_ORIGINS, only the JSON routes.

Without CORS_ALLOWED_ORIGINS no answer carries a CORS header, so the X-CSRF header (which
forces a preflight) keeps every other origin out. With it, the listed origins may call the
/api/* routes and POST /logout with the browser's cookie (credentials), and nobody else may.
"""

from __future__ import annotations

from flask import Flask, Response, request

from service.web.headers import add_vary
from service.web.hooks import after, before

ALLOWED_HEADERS = "X-CSRF, Content-Type, X-Request-ID"
EXPOSED_HEADERS = "X-Request-ID, Retry-After"
MAX_AGE = "600"  # seconds a browser may keep a granted preflight


COVERED_BLUEPRINTS = ("api", "auth")


def _covered() -> bool:
    return request.blueprint == "api" or request.endpoint == "auth.logout"


def init_cors(app: Flask, origins: tuple[str, ...], bearer: bool = False) -> None:
    """Answer preflights and add CORS headers for the allowed origins on the covered routes
    (with `bearer`, the Authorization header of AuthKit access tokens among the allowed)."""
    if not origins:
        return  # no origin is ever granted: nothing to answer, nothing to vary on
    allowed = frozenset(origins)
    allowed_headers = f"{ALLOWED_HEADERS}, Authorization" if bearer else ALLOWED_HEADERS

    def granted() -> str | None:
        origin = request.headers.get("Origin")
        return origin if origin in allowed else None

    def _preflight() -> Response | None:
        if request.method != "OPTIONS" or not _covered():
            return None
        if not request.headers.get("Access-Control-Request-Method"):
            return None
        response = Response(status=204)
        origin = granted()
        if origin:
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = allowed_headers
            response.headers["Access-Control-Max-Age"] = MAX_AGE
        return response

    def _headers(response: Response) -> Response:
        if not _covered():
            return response
        # Caches must not hand one origin's answer (with its CORS headers) to another.
        add_vary(response, "Origin")
        origin = granted()
        if origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            if request.method != "OPTIONS":
                response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        return response

    # Only the api and auth blueprints hold covered routes (_covered picks them out).
    before(app, COVERED_BLUEPRINTS, _preflight)
    after(app, COVERED_BLUEPRINTS, _headers)
