"""Who a Widgets REST request (`/_widgets/*`) speaks for, what it may do, and its CORS.

WorkOS's React widgets send `Authorization: Bearer <token>` on every call and treat a 403 as
"fetch a new token and try once more" (`widgets-api-client.js`), then as missing permission.
So every refusal here is a 403 `{message}`: no token, a bad, foreign or expired one, a user
no longer a member, a user-only token on an organization route, or a missing permission.

Every kind of token the emulator mints is accepted: widget tokens (`POST /widgets/token`),
Client API tokens (`POST /client/token`) and AuthKit access tokens. What a token may do is its
`permissions` claim narrowed to what the user's role grants now, so a role change applies to
tokens already issued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

import jwt
from flask import Blueprint, Response, abort, g, jsonify, request

from emulator.api import bearer, get_state
from emulator.graphql_auth import MANAGE_MEMBERS, permissions_of

CORS_MAX_AGE = "600"
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = (
    "Authorization, Content-Type, WorkOS-Widgets-Version, WorkOS-Widgets-Type, "
    "X-Elevated-Access-Token"
)


@dataclass(frozen=True)
class WidgetCaller:
    """Who a verified token speaks for, and what it may do now."""

    user_id: str
    organization_id: str | None
    permissions: frozenset[str]
    # The AuthKit session an access token belongs to; None for widget and Client API tokens.
    session_id: str | None


def widgets_blueprint(name: str) -> Blueprint:
    """A blueprint under `/_widgets` whose routes need a token and answer with CORS."""
    bp = Blueprint(name, __name__, url_prefix="/_widgets")
    bp.before_request(_authenticate)
    bp.after_request(_cors)
    return bp


def caller() -> WidgetCaller:
    """The request's caller (set before every route of a widgets blueprint)."""
    return g.widget_caller


def organization() -> str:
    """The token's organization; a user-only token is refused organization routes."""
    org_id = caller().organization_id
    if org_id is None:
        refuse("This widget needs a token for an organization; this token is user-only.")
    return org_id


def require_manage_members() -> str:
    """The token's organization, if the token may manage its members."""
    org_id = organization()
    if MANAGE_MEMBERS not in caller().permissions:
        refuse(f"This needs the {MANAGE_MEMBERS} permission, which the token does not carry.")
    return org_id


def require_elevated() -> None:
    """403 unless the request carries the caller's live elevated-access token."""
    state = get_state()
    token = request.headers.get("X-Elevated-Access-Token")
    with state.lock:
        elevated = state.widgets.is_elevated(caller().user_id, token, state.clock())
    if not elevated:
        fail(403, "This change needs a recent identity verification (elevated access).")


def refuse(message: str, status: int = 403) -> NoReturn:
    """Stop the request with `{message}` (403 unless told otherwise)."""
    abort(_json(status, message))


def fail(status: int, message: str) -> NoReturn:
    """Stop the request with a WorkOS-style `{message}` error of the given status."""
    abort(_json(status, message))


def json_body() -> dict:
    """The request's JSON object body, or {} (the routes then name what is missing)."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def code_and_challenge() -> tuple[str, str]:
    """The body's `code` and `authenticationChallengeId` (400 unless both are strings)."""
    body = json_body()
    code, challenge = body.get("code"), body.get("authenticationChallengeId")
    if not isinstance(code, str) or not isinstance(challenge, str):
        fail(400, "code and authenticationChallengeId are required.")
    return code, challenge


def _json(status: int, message: str) -> Response:
    response = jsonify(message=message)
    response.status_code = status
    return response


def _authenticate() -> None:
    if request.method == "OPTIONS":
        if not _origin_allowed():
            abort(Response(status=403))
        return None
    found = _caller_from_token(bearer())
    if found is None:
        refuse("Unauthorized: the token is missing, invalid or expired.")
    g.widget_caller = found
    return None


def _caller_from_token(token: str | None) -> WidgetCaller | None:
    if token is None:
        return None
    state = get_state()
    try:
        claims = state.signing_key.verify(token)
    except jwt.InvalidTokenError:
        return None
    user_id, org_id, exp = claims.get("sub"), claims.get("org_id"), claims.get("exp")
    asked = claims.get("permissions")
    with state.lock:
        if not isinstance(exp, int | float) or exp <= state.clock():
            return None
        if not isinstance(user_id, str) or user_id not in state.users:
            return None
        if org_id is not None and state.active_membership(user_id, org_id) is None:
            return None
        granted = set(permissions_of(state, user_id, org_id)) if org_id else set()
        session = state.sessions.get(claims.get("sid") or "")
        live = session is not None and session.user_id == user_id and session.status == "active"
        if session is not None and not live:
            return None  # an access token of a revoked session
        session_id = session.id if session is not None and live else None
    held = frozenset(p for p in asked if isinstance(p, str)) if isinstance(asked, list) else ()
    return WidgetCaller(user_id, org_id, frozenset(held) & granted, session_id)


def _origin_allowed() -> bool:
    origin = request.headers.get("Origin")
    allowed = get_state().settings.allowed_origins
    return bool(origin) and (origin in allowed or "*" in allowed)


def _cors(response: Response) -> Response:
    response.vary.add("Origin")
    if _origin_allowed():
        response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = CORS_MAX_AGE
    return response
