"""`POST /widgets/token`: a widget token for WorkOS's React widgets, scoped like WorkOS's.

WorkOS's reference: every field optional; `scopes` need an `organization_id`; with a
`user_id` the scopes are narrowed to what the user's role grants in that organization; without
an organization the token is user-only (UserProfile, UserSecurity, UserSessions). 201
`{token}`; validation failures are 400 with `message` as a list (the form WorkOS's validation
answers take); unknown user or organization 404; a user who is not an active member 422.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from emulator.api import error, get_state, issuer, require_api_key

bp = Blueprint("widgets_token", __name__)

# The scope strings of WorkOS's API description (SPEC v0.61 and the Python SDK's enum).
SCOPES = (
    "widgets:users-table:manage",
    "widgets:domain-verification:manage",
    "widgets:sso:manage",
    "widgets:api-keys:manage",
    "widgets:dsync:manage",
    "widgets:audit-log-streaming:manage",
    "widgets:pipes:manage",
    "widgets:user-api-keys:manage-self",
    "widgets:user-api-keys:manage-all",
)


@bp.post("/widgets/token")
@require_api_key
def create_widget_token():
    """Mint an RS256 widget token; its `permissions` claim is what the widgets may do."""
    state = get_state()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _invalid(["The request body must be a JSON object."])
    org_id, user_id, scopes = body.get("organization_id"), body.get("user_id"), body.get("scopes")
    problems = [
        f"{name} must be a non-empty string"
        for name, value in (("organization_id", org_id), ("user_id", user_id))
        if value is not None and (not isinstance(value, str) or not value)
    ]
    if scopes is not None and (
        not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)
    ):
        problems.append("scopes must be an array of strings")
    elif scopes:
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            problems.append(f"unknown scopes {unknown}: each must be one of {list(SCOPES)}")
        if org_id is None:
            problems.append("organization_id is required when scopes are provided")
    if user_id is None:
        # WorkOS allows it; a token for nobody can do nothing in the widgets, so say so here.
        problems.append("user_id must be a non-empty string")
    if problems:
        return _invalid(problems)
    with state.lock:
        if org_id is not None and org_id not in state.organizations:
            return error(
                404,
                message=f"Organization not found: '{org_id}'",
                code="entity_not_found",
                entity_id=org_id,
            )
        if user_id not in state.users:
            return error(
                404,
                message=f"User not found '{user_id}'",
                code="entity_not_found",
                entity_id=user_id,
            )
        now = state.now()
        claims: dict = {"iss": issuer(), "sub": user_id}
        if org_id is not None:
            membership = state.active_membership(user_id, org_id)
            if membership is None:
                return error(
                    422,
                    message=f"User '{user_id}' is not an active member of organization '{org_id}'.",
                    code="organization_membership_not_found",
                )
            granted = state.roles.get(membership.role, [])
            claims["org_id"] = org_id
            # Narrowed to the role's permissions there, in the order asked.
            claims["permissions"] = [s for s in dict.fromkeys(scopes or []) if s in granted]
        else:
            claims["permissions"] = []
        # No `sid`: WorkOS does not say which session, if any, a widget token names
        # (docs/widgets.md).
        claims.update(jti=secrets.token_hex(16), iat=now, exp=now + state.settings.widget_token_ttl)
    return jsonify(token=state.signing_key.sign(claims)), 201


def _invalid(messages: list[str]) -> ResponseReturnValue:
    return error(400, message=messages, error="Bad Request")
