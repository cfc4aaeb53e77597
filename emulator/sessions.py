"""AuthKit grants: authorization codes, organization selection, sessions and refresh tokens.

Each function takes the state's lock itself, so a code, a pending token or a refresh token is
consumed exactly once even under concurrent requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from emulator.basics import iso, new_id
from emulator.state import EmulatorState, Session, User

CODE_TTL = 600
PENDING_TTL = 600
ACCESS_TOKEN_TTL = 300
SESSION_TTL = 30 * 24 * 3600  # shown as expires_at only; the emulator does not expire sessions


class GrantError(Exception):
    """An authenticate failure, answered with `status` and the JSON `body`."""

    def __init__(self, status: int, **body: object):
        super().__init__(body)
        self.status = status
        self.body = body


def invalid_grant(description: str) -> GrantError:
    """The OAuth-style 400 for bad codes, verifiers and tokens."""
    return GrantError(400, error="invalid_grant", error_description=description)


def membership_not_found(user_id: str, organization_id: str) -> GrantError:
    """The 400 for picking an organization the user is not an active member of."""
    return GrantError(
        400,
        code="organization_membership_not_found",
        message=f"User '{user_id}' is not an active member of organization '{organization_id}'.",
    )


def issue_code(state: EmulatorState, user: User, challenge: str | None) -> str:
    """A single-use authorization code for user, remembering the PKCE challenge."""
    code = secrets.token_urlsafe(24)
    with state.lock:
        state.codes[code] = {"user_id": user.id, "challenge": challenge, "at": state.clock()}
    return code


# Who signed in, as the caller of authenticate reports it (WorkOS's ip_address, user_agent).
Client = dict[str, str]


def redeem_code(
    state: EmulatorState, code: str, verifier: str | None, iss: str, client: Client | None = None
) -> dict:
    """Exchange a code (and PKCE verifier) for a session, or ask for organization selection."""
    with state.lock:
        # Popped before any check: a failed attempt burns the code, like a real server.
        grant = state.codes.pop(code, None)
        if grant is None:
            raise invalid_grant("The code is invalid or has already been used.")
        if state.clock() - grant["at"] > CODE_TTL:
            raise invalid_grant("The code has expired.")
        if grant["challenge"] is not None:
            if not verifier:
                raise invalid_grant("code_verifier is required for this code.")
            if not hmac.compare_digest(s256(verifier), grant["challenge"]):
                raise invalid_grant("code_verifier does not match the code_challenge.")
        user = state.users.get(grant["user_id"])
        if user is None:
            raise invalid_grant("The user no longer exists.")
        active = state.active_memberships(user.id)
        if len(active) > 1:
            token = secrets.token_urlsafe(24)
            state.pending[token] = {"user_id": user.id, "at": state.clock(), "client": client}
            organizations = [
                {"id": m.organization_id, "name": state.organizations[m.organization_id].name}
                for m in active
            ]
            raise GrantError(
                403,
                code="organization_selection_required",
                message="The user must choose an organization to finish their authentication.",
                pending_authentication_token=token,
                organizations=organizations,
                user=user.to_json(),
            )
        org_id = active[0].organization_id if active else None
        return _start_session(state, user, org_id, iss, client)


def select_organization(
    state: EmulatorState, token: str, org_id: str, iss: str, client: Client | None = None
) -> dict:
    """Finish a pending authentication in the chosen organization."""
    with state.lock:
        pending = state.pending.get(token)
        if pending is None or state.clock() - pending["at"] > PENDING_TTL:
            state.pending.pop(token, None)
            raise invalid_grant("The pending authentication token is invalid or expired.")
        user = state.users.get(pending["user_id"])
        if user is None:
            raise invalid_grant("The user no longer exists.")
        if state.active_membership(user.id, org_id) is None:
            # The token survives, so the user can still pick one of the offered organizations.
            raise membership_not_found(user.id, org_id)
        del state.pending[token]
        # The selection may name the client again; otherwise the code exchange's stands.
        return _start_session(state, user, org_id, iss, client or pending.get("client"))


def refresh(state: EmulatorState, refresh_token: str, org_id: str | None, iss: str) -> dict:
    """Rotate a refresh token, optionally switching the session's organization."""
    with state.lock:
        session = state.sessions.get(state.refresh_tokens.get(refresh_token, ""))
        if session is None:
            raise invalid_grant("The refresh token is invalid, expired or already used.")
        user = state.users.get(session.user_id)
        if user is None:
            raise invalid_grant("The user no longer exists.")
        if org_id is not None and org_id not in state.organizations:
            raise GrantError(
                400, code="organization_not_found", message=f"Organization not found: '{org_id}'."
            )
        target = org_id or session.organization_id
        if target is not None and state.active_membership(user.id, target) is None:
            raise membership_not_found(user.id, target)
        if target != session.organization_id:
            session.organization_id, session.updated_at = target, iso(state.clock())
        return _session_body(state, session, user, iss)


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _start_session(
    state: EmulatorState, user: User, org_id: str | None, iss: str, client: Client | None
) -> dict:
    now = state.clock()
    stamp = iso(now)
    session = Session(
        id=new_id("session"),
        user_id=user.id,
        organization_id=org_id,
        ip_address=(client or {}).get("ip_address"),
        user_agent=(client or {}).get("user_agent"),
        expires_at=iso(now + SESSION_TTL),
        created_at=stamp,
        updated_at=stamp,
    )
    state.sessions[session.id] = session
    user.last_sign_in_at = stamp
    state.events.emit("session.created", session.to_json(), org_id)
    return _session_body(state, session, user, iss)


def _session_body(state: EmulatorState, session: Session, user: User, iss: str) -> dict:
    """Rotate the session's refresh token and mint a fresh access token."""
    state.refresh_tokens.pop(session.refresh_token or "", None)
    session.refresh_token = secrets.token_urlsafe(32)
    state.refresh_tokens[session.refresh_token] = session.id
    now = state.now()
    claims = {
        "iss": iss,
        "sub": user.id,
        "sid": session.id,
        "jti": secrets.token_hex(16),
        "iat": now,
        "exp": now + ACCESS_TOKEN_TTL,
    }
    membership = state.active_membership(user.id, session.organization_id)
    if membership is not None:
        claims.update(
            org_id=membership.organization_id,
            role=membership.role,
            roles=[membership.role],
            permissions=list(state.roles.get(membership.role, [])),
        )
    return {
        "user": user.to_json(),
        "organization_id": session.organization_id,
        "access_token": state.signing_key.sign(claims),
        "refresh_token": session.refresh_token,
        "authentication_method": "Password",
    }
