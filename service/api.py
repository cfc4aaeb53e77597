"""JSON routes: the token, who am I, and the organization switch (design.md §3)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import wraps
from typing import ParamSpec

from flask import Blueprint, Response, current_app, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from service.auth import current_record, sessions
from service.errors import ApiError, upstream_error_for
from service.openapi import openapi_document
from service.organizations import switch_organization_to
from service.security import add_vary, csrf_token, require_csrf
from service.tokens import TokenUnavailable
from service.workos import WorkOSError

bp = Blueprint("api", __name__, url_prefix="/api")
P = ParamSpec("P")


def session_route(view: Callable[P, ResponseReturnValue]) -> Callable[P, Response]:
    """Signed in (else 401) and X-CSRF: 1 (else 403); answers are never cached."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        if not current_user.is_authenticated:
            raise ApiError(401, "unauthenticated", "Sign in first.")
        require_csrf(form=False, message="Send the header X-CSRF: 1.")
        response = current_app.make_response(view(*args, **kwargs))
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        add_vary(response, "Cookie")
        return response

    return wrapper


@bp.get("/graphql-token")
@session_route
def graphql_token() -> Response:
    """A Client API token for the signed-in user and their current organization."""
    # Per user across all their sessions, counted before any cache or WorkOS work.
    current_app.extensions["rate_limit"].check(f"user:{current_user.id}")
    record = current_record()
    organization = record.organization
    if not organization:
        raise ApiError(403, "no_organization", "You are not acting for any organization.")
    broker = current_app.extensions["tokens"]
    try:
        issued = broker.get(record.token_session, record.user_id, organization["id"])
    except TokenUnavailable as exc:
        if exc.cause is None:  # waited too long for another request's mint
            retry_after = math.ceil(exc.retry_after or 1)
            raise ApiError(
                503, "upstream_unavailable", "WorkOS is slow; try again shortly.", retry_after
            ) from None
        if not isinstance(exc.cause, WorkOSError):
            raise  # not WorkOS's answer: a fault of ours, for the 500 handler and the log
        error = upstream_error_for(exc.cause, exc.retry_after)
        if error.code == "not_a_member":
            # The membership is gone: stop acting for that organization.
            sessions().update(
                record.id,
                lambda r: replace(r.without(organization["id"]), organization=None),
            )
        raise error from None
    g.token_outcome = "hit" if issued.cached else "miss"
    if not issued.cached:
        current_app.extensions["metrics"].cache_entries.set(len(broker))
    body = {
        "token": issued.token,
        "expires_at": datetime.fromtimestamp(issued.expires_at, UTC)
        .isoformat()
        .replace("+00:00", "Z"),
        "expires_in": issued.expires_in(time.time()),
        "organization_id": organization["id"],
    }
    # json.dumps straight into the response: jsonify's provider machinery costs more than the
    # rest of a cache hit's view, and this body needs none of it.
    return current_app.response_class(json.dumps(body), mimetype="application/json")


@bp.get("/session")
@session_route
def who_am_i() -> Response:
    """The signed-in user, their organization and the ones they may switch to."""
    record = current_record()
    return jsonify(
        user=record.user,
        organization=record.organization,
        organizations=record.organizations,
        expires_in=max(0, int(record.expires_at - time.time())),
        # What a page needs to sign out: POST here with csrf_token (a form) or X-CSRF: 1.
        logout={"url": url_for("auth.logout"), "method": "POST", "csrf_token": csrf_token()},
    )


@bp.post("/organization")
@session_route
def switch_organization() -> Response:
    """Act for another organization the user is an active member of (checked with WorkOS)."""
    body = request.get_json(silent=True)
    organization_id = body.get("organization_id") if isinstance(body, dict) else None
    if not isinstance(organization_id, str) or not 0 < len(organization_id) <= 200:
        raise ApiError(400, "invalid_request", 'Send JSON {"organization_id": "org_..."}.')
    chosen = switch_organization_to(organization_id)
    return jsonify(organization_id=chosen["id"])


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())
