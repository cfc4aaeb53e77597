"""Errors the service answers with, and the one place they become JSON or HTML responses.

    ApiError                      an answer of docs/reference/http-api.md: status, code, message
    ├── (raised directly by routes: unauthenticated, csrf_required, invalid_request, ...)
    └── upstream_error_for(exc)   a WorkOS failure, mapped once (its table: #workos-failures)
    SessionStoreUnavailable       503 session_store_unavailable (fail closed)

Every failure path ends in error_response(); nothing else renders an error, and no response
ever carries a traceback, an API key or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, current_app, g, jsonify, make_response, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException

from service.sessions.records import SessionStoreUnavailable
from service.web.hooks import WHOLE_APP, Scopes, error_handler
from service.workos.client import (
    WorkOSError,
    WorkOSRefused,
    WorkOSResponseError,
    WorkOSStatusError,
    WorkOSTransportError,
)

log = logging.getLogger(__name__)

# Longest Retry-After we pass on from WorkOS: a browser should not be told to wait for hours.
MAX_RETRY_AFTER = 60
# Longest Retry-After of a refusal by our own budget: its window (60 s plus transit) and the
# jitter on top; budgets counted over longer windows are told to come back within this.
MAX_BUDGET_RETRY_AFTER = 120
# Retry-After we suggest when WorkOS is down and named no wait of its own.
DEFAULT_RETRY_AFTER = 2
# Retry-After while the session store does not answer.
SESSION_STORE_RETRY_AFTER = 2

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    431: "headers_too_large",
}


class ApiError(Exception):
    """An error answer: HTTP status, stable code, human message, optional Retry-After."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry_after: int | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.headers = headers


def upstream_error_for(exc: WorkOSError, retry_after: float | None = None) -> ApiError:
    """Map a WorkOS failure to the answer docs/reference/http-api.md gives for it."""
    wait = retry_after if retry_after is not None else exc.retry_after
    if isinstance(exc, WorkOSTransportError | WorkOSRefused):
        # Refused here: the budget is spent or WorkOS asked this kind of call to pause.
        budget = isinstance(exc, WorkOSRefused) and exc.budget
        return _unavailable(wait, MAX_BUDGET_RETRY_AFTER if budget else MAX_RETRY_AFTER)
    if isinstance(exc, WorkOSResponseError):
        return ApiError(502, "upstream_error", "WorkOS answered with an unexpected response.")
    if isinstance(exc, WorkOSStatusError):
        status = exc.status or 0
        if status in (401, 403):
            log.error(
                "WorkOS rejected our credentials",
                extra={"route": exc.route, "status": status, "workos_request_id": exc.request_id},
            )
            return ApiError(
                502, "upstream_misconfigured", "The service's WorkOS credentials were rejected."
            )
        if status in (400, 404, 422):
            return ApiError(403, "not_a_member", "You are no longer a member of this organization.")
        if status == 429 or status >= 500:
            return _unavailable(wait)
    return ApiError(502, "upstream_error", "WorkOS answered with an unexpected response.")


def _unavailable(wait: float | None, cap: int = MAX_RETRY_AFTER) -> ApiError:
    seconds = DEFAULT_RETRY_AFTER if wait is None else wait
    seconds = max(1, min(cap, int(seconds + 0.999)))
    return ApiError(
        503, "upstream_unavailable", "WorkOS is unavailable; try again shortly.", seconds
    )


# Blueprints whose every answer is JSON, errors included.
JSON_BLUEPRINTS = frozenset({"api", "webhooks", "ops"})


def wants_json() -> bool:
    """JSON for the api, webhooks and ops blueprints, and for clients that prefer it."""
    blueprint = request.blueprint
    if blueprint in JSON_BLUEPRINTS:
        return True
    if blueprint is None and request.path.startswith(("/api/", "/webhooks/", "/metrics")):
        # No route matched (only the standalone service answers these): a 404 or 405 under
        # the JSON routes' paths is JSON too.
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int,
    code: str,
    message: str,
    retry_after: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Render one error as JSON ({error, message, request_id}) or as the HTML error page."""
    request_id = getattr(g, "request_id", None)
    g.error_code = code  # for the token route's outcome metric
    # No URL adapter (a Host outside ALLOWED_HOSTS): the page's links cannot be built.
    if wants_json() or request_ctx.url_adapter is None:
        response = jsonify(error=code, message=message, request_id=request_id)
        response.status_code = status
    else:
        # Straight from the template, without context processors (a host app's, mounted, or
        # any that loads the user would ask the session store again: a store outage then
        # became a bare 500 from inside this handler). The error page shows no user.
        html = current_app.jinja_env.get_template("token_service/error.html").render(
            status=status, code=code, message=message, request_id=request_id
        )
        response = make_response(html, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    response.headers["Cache-Control"] = "no-store"
    if headers:
        response.headers.update(headers)
    return response


def register_error_handlers(app: Flask, scopes: Scopes = WHOLE_APP) -> None:
    """Turn ApiError, HTTP errors and anything unexpected into documented answers, within the
    scopes (an app that mounts the extension keeps its own handlers for its own routes)."""

    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.retry_after, exc.headers)

    def _workos_error(exc: WorkOSError) -> Response:
        api = upstream_error_for(exc)
        return error_response(api.status, api.code, api.message, api.retry_after)

    def _store_down(exc: SessionStoreUnavailable) -> Response:
        # Fail closed: nobody is served, signed in or signed out on a guess.
        log.warning("session store unavailable: %s", exc)
        return error_response(
            503,
            "session_store_unavailable",
            "Sessions cannot be read just now; try again.",
            SESSION_STORE_RETRY_AFTER,
        )

    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
        return error_response(status, code, exc.description or exc.name)

    def _unexpected(exc: Exception) -> Response:
        # The traceback goes to the log (which never holds secrets), never to the client.
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal_error", "Something went wrong on our side.")

    for exception, handler in (
        (ApiError, _api_error),
        (WorkOSError, _workos_error),
        (SessionStoreUnavailable, _store_down),
        (HTTPException, _http_error),
        (Exception, _unexpected),
    ):
        error_handler(app, scopes, exception, handler)
