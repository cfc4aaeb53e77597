"""Who a Widgets API request speaks for and what it may do, answered with WorkOS's error codes.

- no token, a bad, foreign or expired one, or a user no longer a member: `Unauthorized`,
  `extensions.code: "UNAUTHENTICATED"` (the message WorkOS has always sent, which the browser
  client matches; WorkOS's own widgets read the code);
- an organization-scoped field asked with a token that has no organization, or a field that
  needs an AuthKit session token asked with a widget token: refused the same way;
- inside the token's organization but not allowed (the caller's role lacks the permission, or
  the id is outside the organization): `extensions.code: "FORBIDDEN"`.

Permissions come from the caller's current role in the emulator's seed (`roles`), so a role
change applies to tokens already issued.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from graphql import GraphQLError

from emulator.state import EmulatorState

UNAUTHORIZED = "Unauthorized"
# The permission WorkOS's Users Management widget checks; it guards member management.
MANAGE_MEMBERS = "widgets:users-table:manage"


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for."""

    user_id: str
    organization_id: str | None
    # The AuthKit session a session token belongs to; None for a widget token.
    session_id: str | None = None


def unauthenticated() -> GraphQLError:
    """The error for a missing, bad or expired token (or the wrong kind of token)."""
    return GraphQLError(UNAUTHORIZED, extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str) -> GraphQLError:
    """The error for a valid token that is not allowed to do this."""
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def bad_input(message: str) -> GraphQLError:
    """The error for argument values the schema accepts but the operation does not."""
    return GraphQLError(message, extensions={"code": "BAD_USER_INPUT"})


def caller_from_token(state: EmulatorState, token: str | None) -> Caller | None:
    """Who the Bearer token speaks for, if it is ours, unexpired and still a member."""
    if token is None:
        return None
    try:
        claims = state.signing_key.verify(token)
    except jwt.InvalidTokenError:
        return None
    user_id, org_id, exp = claims.get("sub"), claims.get("org_id"), claims.get("exp")
    with state.lock:
        if not isinstance(exp, int | float) or exp <= state.clock():
            return None
        if user_id not in state.users:
            return None
        if org_id is not None and state.active_membership(user_id, org_id) is None:
            return None
        # An AuthKit access token names its session; a widget token's sid names none.
        session = state.sessions.get(claims.get("sid") or "")
        session_id = session.id if session is not None and session.user_id == user_id else None
    return Caller(user_id, org_id, session_id)


def organization_of(caller: Caller) -> str:
    """The token's organization; a token without one cannot ask organization fields."""
    if caller.organization_id is None:
        raise unauthenticated()
    return caller.organization_id


def require_session_token(caller: Caller) -> None:
    """Refuse widget tokens for fields that WorkOS serves to session tokens only."""
    if caller.session_id is None:
        raise unauthenticated()


def permissions_of(state: EmulatorState, user_id: str, organization_id: str) -> list[str]:
    """The permissions the user's current role grants in the organization (call under lock)."""
    membership = state.active_membership(user_id, organization_id)
    return list(state.roles.get(membership.role, [])) if membership else []


def require_permission(state: EmulatorState, caller: Caller, permission: str) -> str:
    """The token's organization, if the caller's role there grants permission; else FORBIDDEN."""
    org_id = organization_of(caller)
    with state.lock:
        membership = state.active_membership(caller.user_id, org_id)
        granted = permissions_of(state, caller.user_id, org_id)
    if permission not in granted:
        role = membership.role if membership else "none"
        raise forbidden(
            f"Forbidden: this needs the {permission} permission, "
            f"which the role '{role}' does not grant."
        )
    return org_id
