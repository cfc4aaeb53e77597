"""JSON routes: the token, who am I, and the organization switch (docs/reference/http-api.md)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import wraps
from json.encoder import encode_basestring_ascii
from typing import Concatenate, ParamSpec

from flask import Blueprint, Response, g, jsonify, request, url_for

from service.components import Components, current
from service.sessions.records import SessionRecord
from service.tokens.broker import IssuedToken, TokenUnavailable
from service.tokens.widgets import widget_audience
from service.web.auth import signed_in_user
from service.web.bearer import Caller, bearer_token
from service.web.context import unproxied
from service.web.csrf import csrf_token, require_csrf
from service.web.errors import ApiError, upstream_error_for
from service.web.headers import BEARER_ANSWER_HEADERS, SESSION_ANSWER_HEADERS
from service.web.openapi import openapi_document
from service.web.switch import switch_organization_to
from service.workos import timing as workos_timing
from service.workos.client import WorkOSError

bp = Blueprint("api", __name__, url_prefix="/api")
P = ParamSpec("P")


def session_route(view: Callable[Concatenate[SessionRecord, P], Response]) -> Callable[P, Response]:
    """Signed in (else 401) and X-CSRF: 1 (else 403); the view is given the session record,
    and its answer is never cached."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        user = signed_in_user()
        if user is None:
            raise ApiError(401, "unauthenticated", "Sign in first.")
        require_csrf(form=False, message="Send the header X-CSRF: 1.")
        response = view(user.record, *args, **kwargs)
        # Added in one step, Vary included: the views never set these themselves (CORS adds
        # Origin to this Vary later), and this runs on every token request.
        response.headers.extend(SESSION_ANSWER_HEADERS)
        return response

    return wrapper


def token_route(view: Callable[Concatenate[Caller, P], Response]) -> Callable[P, Response]:
    """A session route that also takes an AuthKit access token (AUTHKIT_BEARER): the view is
    given the Caller, and its answer is never cached."""

    def with_record(record: SessionRecord, *args: P.args, **kwargs: P.kwargs) -> Response:
        return view(Caller.of_record(record), *args, **kwargs)

    session_view = session_route(with_record)

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        bearer = current().bearer
        if bearer is None:
            return session_view(*args, **kwargs)
        token = bearer_token(unproxied(request).environ)
        if token is None:
            return session_view(*args, **kwargs)
        response = view(bearer.caller(token), *args, **kwargs)
        response.headers.extend(BEARER_ANSWER_HEADERS)
        return response

    return wrapper


@bp.get("/graphql-token")
@token_route
def graphql_token(caller: Caller) -> Response:
    """A Client API token for the caller's user and current organization."""
    parts = current()
    # Per user across all their sessions, counted before any cache or WorkOS work.
    parts.limits.token.check(f"user:{caller.user_id}")
    organization_id = caller.organization_id
    if not organization_id:
        raise ApiError(403, "no_organization", "You are not acting for any organization.")
    issued = _issue(parts, caller, organization_id, organization_id)
    # Bytes straight into the response: jsonify's provider machinery costs more than the rest
    # of a cache hit's view, and a str body is encoded again by the response.
    return Response(token_body(issued, organization_id), content_type="application/json")


@bp.get("/widget-token")
@token_route
def widget_token(caller: Caller) -> Response:
    """A widget token for WorkOS's React widgets, with the scopes the page asks for."""
    parts = current()
    parts.limits.token.check(f"user:{caller.user_id}")
    scopes = _asked_scopes(parts.settings.widget_token_scopes)
    organization_id = caller.organization_id
    if scopes and not organization_id:
        raise ApiError(
            403, "no_organization", "Widget scopes need an organization; ask without scopes."
        )
    issued = _issue(parts, caller, widget_audience(organization_id, scopes), organization_id)
    return jsonify(
        token=issued.token,
        expires_at=utc_iso(issued.expires_at),
        expires_in=issued.expires_in(time.time()),
        organization_id=organization_id,
        scopes=scopes,
    )


def _asked_scopes(allowed: tuple[str, ...]) -> list[str]:
    """The `scopes` query parameter (comma- or space-separated), each one allowed here."""
    asked = sorted(set(request.args.get("scopes", "").replace(",", " ").split()))
    refused = [scope for scope in asked if scope not in allowed]
    if refused:
        offered = ", ".join(allowed) or "none"
        raise ApiError(
            400,
            "invalid_scope",
            f"Scope {refused[0][:100]!r} is not offered here (WIDGET_TOKEN_SCOPES: {offered}).",
        )
    return asked


def _issue(
    parts: Components, caller: Caller, audience: str, organization_id: str | None
) -> IssuedToken:
    """The broker's token for this session and audience, WorkOS's failures mapped
    (docs/reference/http-api.md#workos-failures)."""
    broker, metrics = parts.tokens, parts.metrics
    record = caller.record
    spent, measuring = workos_timing.start()
    try:
        issued = broker.get(caller.token_session, caller.user_id, audience)
    except TokenUnavailable as exc:
        if exc.cause is None:  # waited too long for another request's mint
            retry_after = math.ceil(exc.retry_after or 1)
            raise ApiError(
                503, "upstream_unavailable", "WorkOS is slow; try again shortly.", retry_after
            ) from None
        if not isinstance(exc.cause, WorkOSError):
            raise  # not WorkOS's answer: a fault of ours, for the 500 handler and the log
        error = upstream_error_for(exc.cause, exc.retry_after)
        if error.code == "not_a_member" and organization_id is not None and record is not None:
            # The membership is gone: stop acting for that organization (a bearer caller's
            # organization is its access token's, until AuthKit refreshes it).
            current().sessions.update(
                record.id,
                lambda r: replace(r.without(organization_id), organization=None),
            )
        raise error from None
    finally:
        workos_timing.stop(measuring)
        if spent[1]:
            # The WorkOS time of this answer, for browsers' developer tools and `make bench`
            # (what a miss costs beyond WorkOS's own time).
            unproxied(g).server_timing = f"workos;dur={spent[0] * 1000:.3f}"
    # Counted with the answer's other outcomes by the request hooks (ops/request_hooks.py).
    unproxied(g).token_outcome = "hit" if issued.cached else "miss"
    if not issued.cached:
        metrics.cache_entries.set(len(broker))
    return issued


def token_body(issued: IssuedToken, organization_id: str) -> bytes:
    """The token route's JSON answer: {token, expires_at, expires_in, organization_id}.

    Written out rather than by json.dumps, which costs more than the rest of a cache hit's
    view: the time is ISO 8601 and the seconds an int, so neither needs escaping; the strings
    are escaped by json's own encoder (a token only when it holds more than JWT characters).
    """
    return (
        f'{{"token": {json_token(issued.token)}, "expires_at": "{utc_iso(issued.expires_at)}", '
        f'"expires_in": {issued.expires_in(time.time())}, '
        f'"organization_id": {encode_basestring_ascii(organization_id)}}}'
    ).encode()


# The characters of a JWT: base64url and the dots between its parts.
_JWT_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


def json_token(token: str) -> str:
    """A token as a JSON string: quoted as it is when it is made of JWT characters only, which
    need no escaping (json's encoder scans its kilobyte character by character on every hit)."""
    if token.isascii() and not token.encode().translate(None, _JWT_CHARACTERS):
        return f'"{token}"'
    return encode_basestring_ascii(token)


@functools.lru_cache(maxsize=4096)
def utc_iso(epoch: float) -> str:
    """An epoch time as ISO 8601 in UTC ("...Z"); a cached token shows the same one each hit."""
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@bp.get("/session")
@session_route
def who_am_i(record: SessionRecord) -> Response:
    """The signed-in user, their organization and the ones they may switch to."""
    return jsonify(
        user=record.user,
        organization=record.organization,
        organizations=record.organizations,
        expires_in=max(0, int(record.expires_at - time.time())),
        # The WorkOS session of this sign-in: UserSessions' currentSessionId (docs/widgets.md).
        session_id=record.sid,
        # What a page needs to sign out: POST here with csrf_token (a form) or X-CSRF: 1.
        logout={"url": url_for("auth.logout"), "method": "POST", "csrf_token": csrf_token()},
    )


@bp.post("/organization")
@session_route
def switch_organization(record: SessionRecord) -> Response:
    """Act for another organization the user is an active member of (checked with WorkOS)."""
    body = request.get_json(silent=True)
    organization_id = body.get("organization_id") if isinstance(body, dict) else None
    if not isinstance(organization_id, str) or not 0 < len(organization_id) <= 200:
        raise ApiError(400, "invalid_request", 'Send JSON {"organization_id": "org_..."}.')
    chosen = switch_organization_to(record, organization_id)
    return jsonify(organization_id=chosen["id"])


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API."""
    return jsonify(openapi_document())
