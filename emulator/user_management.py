"""AuthKit and directory routes: authorize, authenticate, memberships, users, logout, JWKS.

Hosted AuthKit asks a user with several organizations to choose one before it issues a code.
This emulator issues the code anyway and answers the exchange with 403
`organization_selection_required` (as the official emulator snapshot does), so a client must
handle that path and finish with the organization-selection grant.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, jsonify, redirect, request
from markupsafe import escape
from werkzeug.wrappers import Response as WerkzeugResponse

from emulator import operations, sessions
from emulator.api import (
    bearer,
    error,
    get_state,
    is_api_key,
    is_http_url,
    issuer,
    params,
    require_api_key,
)
from emulator.state import MEMBERSHIP_STATUSES

bp = Blueprint("user_management", __name__)

GRANT_CODE = "authorization_code"
GRANT_REFRESH = "refresh_token"
GRANT_ORG_SELECTION = "urn:workos:oauth:grant-type:organization-selection"
GRANT_PARAMS = {  # parameters each grant requires
    GRANT_CODE: ("code",),
    GRANT_REFRESH: ("refresh_token",),
    GRANT_ORG_SELECTION: ("pending_authentication_token", "organization_id"),
}


@bp.get("/user_management/authorize")
def authorize():
    """Redirect back with a code for the user named by login_hint, or list users to pick."""
    state, args = get_state(), request.args
    if args.get("client_id") != state.settings.client_id:
        return error(
            400,
            error="invalid_client",
            error_description=f"Unknown client_id: '{args.get('client_id')}'.",
        )
    redirect_uri = args.get("redirect_uri")
    if not is_http_url(redirect_uri):
        return error(
            400,
            error="invalid_request",
            error_description="redirect_uri must be an absolute http(s) URL.",
        )
    registered = state.settings.redirect_uris
    if registered and redirect_uri not in registered:
        # Never redirected to: an unregistered URI is where a code must not go (WorkOS shows
        # an error page for it).
        return error(
            400,
            error="invalid_request",
            error_description="redirect_uri is not a registered redirect URI of this client.",
        )
    if args.get("response_type") != "code":
        return _back(
            redirect_uri,
            error="unsupported_response_type",
            error_description="response_type must be 'code'.",
        )
    challenge = args.get("code_challenge") or None
    if challenge is not None and args.get("code_challenge_method") != "S256":
        return _back(
            redirect_uri,
            error="invalid_request",
            error_description="code_challenge_method must be 'S256'.",
        )
    hint = args.get("login_hint")
    if not hint:
        return _picker()
    with state.lock:
        user = state.user_by_email(hint)
    if user is None:
        return _back(
            redirect_uri, error="access_denied", error_description=f"No user with email '{hint}'."
        )
    return _back(redirect_uri, code=sessions.issue_code(state, user, challenge))


@bp.post("/user_management/authenticate")
def authenticate():
    """Exchange a code, a pending selection or a refresh token for a session."""
    state, body = get_state(), params()
    client_id = body.get("client_id")
    if not client_id:
        return error(400, error="invalid_request", error_description="client_id is required.")
    if client_id != state.settings.client_id:
        return error(
            400, error="invalid_client", error_description=f"Unknown client_id: '{client_id}'."
        )
    secret = body.get("client_secret")
    if not is_api_key(secret if secret is not None else bearer()):
        return error(
            401, error="invalid_client", error_description="client_secret must be a valid API key."
        )
    grant = body.get("grant_type")
    if not isinstance(grant, str) or grant not in GRANT_PARAMS:
        return error(
            400, error="invalid_request", error_description=f"Unsupported grant_type: '{grant}'."
        )
    missing = [name for name in GRANT_PARAMS[grant] if not body.get(name)]
    if missing:
        return error(
            400,
            error="invalid_request",
            error_description=f"Missing parameter(s): {', '.join(missing)}.",
        )
    read = (*GRANT_PARAMS[grant], "code_verifier", "organization_id")
    not_text = [k for k in read if body.get(k) is not None and not isinstance(body[k], str)]
    if not_text:
        return error(
            400,
            error="invalid_request",
            error_description=f"Parameter(s) must be strings: {', '.join(sorted(not_text))}.",
        )
    # Recorded on the session (the widgets' UserSessions shows them), as WorkOS does.
    client = {k: body[k] for k in ("ip_address", "user_agent") if isinstance(body.get(k), str)}
    try:
        if grant == GRANT_CODE:
            result = sessions.redeem_code(
                state, body["code"], body.get("code_verifier"), issuer(), client
            )
        elif grant == GRANT_ORG_SELECTION:
            result = sessions.select_organization(
                state,
                body["pending_authentication_token"],
                body["organization_id"],
                issuer(),
                client,
            )
        else:
            result = sessions.refresh(
                state, body["refresh_token"], body.get("organization_id") or None, issuer()
            )
    except sessions.GrantError as exc:
        return jsonify(exc.body), exc.status
    return jsonify(result)


@bp.get("/user_management/organization_memberships")
@require_api_key
def list_memberships():
    """List memberships by user and/or organization, with WorkOS cursor pagination."""
    state, args = get_state(), request.args
    user_id, org_id = args.get("user_id"), args.get("organization_id")
    if not user_id and not org_id:
        return error(
            400,
            code="missing_user_id_or_organization_id",
            message="Either user_id or organization_id is required.",
        )
    statuses = {s for value in args.getlist("statuses") for s in value.split(",") if s}
    statuses = statuses or {"active"}
    limit, order = args.get("limit", "10"), args.get("order", "desc")
    problem = _list_problem(statuses, limit, order)
    if problem:
        return error(422, code="invalid_request_parameters", message=problem)
    with state.lock:
        items = sorted(
            (
                m
                for m in state.memberships.values()
                if m.status in statuses
                and (not user_id or m.user_id == user_id)
                and (not org_id or m.organization_id == org_id)
            ),
            key=lambda m: m.seq,
            reverse=order != "asc",
        )
        ids = [m.id for m in items]
        size = int(limit)
        if args.get("after") in ids:
            start = ids.index(args["after"]) + 1
            end = start + size
        elif args.get("before") in ids:
            end = ids.index(args["before"])
            start = max(0, end - size)
        else:
            start, end = 0, size
        page = items[start:end]
        data = [state.membership_json(m) for m in page]
    return jsonify(
        {
            "object": "list",
            "data": data,
            "list_metadata": {
                "before": page[0].id if page and start > 0 else None,
                "after": page[-1].id if page and end < len(items) else None,
            },
        }
    )


@bp.get("/user_management/users/<id>")
@require_api_key
def get_user(id):
    """One user."""
    state = get_state()
    with state.lock:
        user = state.users.get(id)
        if user is None:
            return error(
                404, message=f"User not found: '{id}'.", code="entity_not_found", entity_id=id
            )
        return jsonify(user.to_json())


@bp.get("/organizations/<id>")
@require_api_key
def get_organization(id):
    """One organization."""
    state = get_state()
    with state.lock:
        org = state.organizations.get(id)
        if org is None:
            return error(
                404,
                message=f"Organization not found: '{id}'.",
                code="entity_not_found",
                entity_id=id,
            )
        return jsonify(org.to_json())


@bp.get("/user_management/sessions/logout")
def logout():
    """End the session, then send the browser to return_to."""
    session_id, return_to = request.args.get("session_id"), request.args.get("return_to")
    if not session_id:
        return error(422, message="session_id is required.")
    if return_to is not None and not is_http_url(return_to):
        return error(422, message="return_to must be an absolute http(s) URL.")
    if operations.revoke_session(get_state(), session_id) is None:
        return error(422, message=f"Session not found: '{session_id}'.")
    if return_to is None:
        return "Signed out.\n", 200, {"Content-Type": "text/plain; charset=utf-8"}
    return redirect(return_to, 302)


@bp.get("/sso/jwks/<client_id>")
def jwks(client_id):
    """The public keys that verify every token the emulator signs; 404 for another client."""
    state = get_state()
    if client_id != state.settings.client_id:
        # So a client id of another environment shows (the service's `check` asks here).
        return error(404, message=f"Client not found: '{client_id}'.")
    return jsonify(state.signing_key.jwks())


def _back(redirect_uri: str, **extra: str) -> WerkzeugResponse:
    """302 to redirect_uri with extra query parameters (and the caller's state)."""
    if request.args.get("state") is not None:
        extra["state"] = request.args["state"]
    parts = urlsplit(redirect_uri)
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True) + list(extra.items()))
    return redirect(urlunsplit(parts._replace(query=query)), 302)


def _picker():
    """An HTML page listing the seeded users; each link completes the authorize as that user."""
    state = get_state()
    with state.lock:
        users = sorted(state.users.values(), key=lambda u: u.email)
    rows = []
    for user in users:
        href = "?" + urlencode({**request.args.to_dict(), "login_hint": user.email})
        name = " ".join(filter(None, (user.first_name, user.last_name)))
        rows.append(
            f'<li><a href="{escape(href)}" data-testid="login-{escape(user.email)}">'
            f"{escape(user.email)}</a> <span>{escape(name)}</span></li>"
        )
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Sign in - WorkOS emulator</title></head><body>"
        "<h1>Sign in</h1><p>WorkOS emulator: choose a user.</p>"
        f'<ul data-testid="user-list">{"".join(rows)}</ul></body></html>'
    )
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


def _list_problem(statuses: set[str], limit: str, order: str) -> str | None:
    """What is wrong with the list parameters, if anything."""
    unknown = statuses - set(MEMBERSHIP_STATUSES)
    if unknown:
        return f"Unknown status(es): {sorted(unknown)}."
    if not (limit.isdigit() and 1 <= int(limit) <= 100):
        return "limit must be an integer from 1 to 100."
    if order not in ("asc", "desc", "normal"):
        return "order must be asc, desc or normal."
    return None
