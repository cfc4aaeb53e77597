"""The Widgets REST API of `UserSessions` and `UserSecurity`'s second factors.

Sessions are the user's AuthKit sessions; revoking one goes through emulator/operations.py,
so `session.revoked` reaches the service by webhook and that browser is signed out there.
Authenticator apps (TOTP, RFC 6238) work for real: the secret the widget shows gives the codes
that `verify-totp-factor` accepts. Passkeys need a WebAuthn authenticator, which the emulator
does not emulate: their routes answer 400 with a message that says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote

from flask import jsonify
from flask.typing import ResponseReturnValue

from emulator import operations
from emulator.api import get_state
from emulator.basics import iso, new_id
from emulator.state import Session
from emulator.widgets_auth import (
    caller,
    code_and_challenge,
    fail,
    json_body,
    require_elevated,
    widgets_blueprint,
)
from emulator.widgets_state import TotpFactor

bp = widgets_blueprint("widgets_security")

TOTP_STEP, TOTP_DIGITS, TOTP_ISSUER = 30, 6, "WorkOS Emulator"
# Session.auth_method -> the ActiveSession flag that names it.
AUTH_FLAGS = {
    "sso": "usedSsoAuth",
    "password": "usedPasswordAuth",
    "passkey": "usedPasskeyAuth",
    "magic_auth": "usedMagicAuth",
    "impersonation": "usedImpersonation",
}
ALL_FLAGS = (
    "usedSsoAuth usedPasswordAuth usedPasskeyAuth usedAppleOauth usedBitbucketOauth "
    "usedGithubOauth usedGitLabOauth usedGoogleOauth usedLinkedInOauth usedImpersonation "
    "usedMicrosoftOauth usedSlackOauth usedXeroOauth usedMagicAuth"
).split()


@bp.get("/UserProfile/sessions")
def sessions():
    """`ActiveSessionsResponse`: the user's active sessions, newest first."""
    state = get_state()
    with state.lock:
        mine = [
            s
            for s in state.sessions.values()
            if s.user_id == caller().user_id and s.status == "active"
        ]
        data = [_session(s) for s in reversed(mine)]
    return jsonify(data=data)


@bp.delete("/UserProfile/sessions/revoke/<session_id>")
def revoke_session(session_id: str) -> ResponseReturnValue:
    """End one of the user's sessions (`session.revoked`)."""
    state = get_state()
    with state.lock:
        session = state.sessions.get(session_id)
        if session is None or session.user_id != caller().user_id or session.status != "active":
            fail(400, f"Session not found: '{session_id}'.")
        operations.revoke_session(state, session_id)
    return jsonify(success=True)


@bp.delete("/UserProfile/sessions/revoke-all")
def revoke_all_sessions():
    """End every session of the user but `currentSessionId` (`session.revoked` each)."""
    current = json_body().get("currentSessionId")
    if not isinstance(current, str) or not current:
        fail(400, "currentSessionId is required.")
    state = get_state()
    with state.lock:
        others = [
            s.id
            for s in state.sessions.values()
            if s.user_id == caller().user_id and s.status == "active" and s.id != current
        ]
        for session_id in others:
            operations.revoke_session(state, session_id)
    return jsonify(success=True)


@bp.post("/UserProfile/create-totp-factor")
def create_totp_factor():
    """Start enrolling an authenticator app (elevated access): its secret and a challenge."""
    state = get_state()
    with state.lock:
        user = state.users[caller().user_id]
        require_elevated()
        now = state.clock()
        factor = TotpFactor(
            id=new_id("auth_factor"),
            secret=base64.b32encode(secrets.token_bytes(20)).decode(),
            challenge_id=new_id("auth_challenge"),
            created_at=now,
        )
        state.widgets.totp[user.id] = factor
    uri = (
        f"otpauth://totp/{quote(TOTP_ISSUER)}:{quote(user.email)}"
        f"?secret={factor.secret}&issuer={quote(TOTP_ISSUER)}"
    )
    stamp = iso(factor.created_at)
    return jsonify(
        authenticationFactor={
            "object": "authentication_factor",
            "id": factor.id,
            "type": "totp",
            "user_id": user.id,
            "totp": {
                "issuer": TOTP_ISSUER,
                "user": user.email,
                "secret": factor.secret,
                # The emulator draws no QR code; the widget also shows the secret to type in.
                "qr_code": "",
                "uri": uri,
            },
            "created_at": stamp,
            "updated_at": stamp,
        },
        authenticationChallenge={
            "object": "authentication_challenge",
            "id": factor.challenge_id,
            "expires_at": None,
            "authentication_factor_id": factor.id,
            "created_at": stamp,
            "updated_at": stamp,
        },
    ), 201


@bp.post("/UserProfile/verify-totp-factor")
def verify_totp_factor():
    """Finish enrolling with a code from the authenticator app."""
    code, challenge = code_and_challenge()
    state = get_state()
    with state.lock:
        factor = state.widgets.totp.get(caller().user_id)
        if factor is None or factor.challenge_id != challenge:
            fail(400, f"Authentication challenge not found: '{challenge}'.")
        step = int(state.clock()) // TOTP_STEP
        # One step either side, as authenticator apps and servers usually allow for drift.
        if not any(hmac.compare_digest(code, totp(factor.secret, step + d)) for d in (-1, 0, 1)):
            fail(400, "The code is incorrect.")
        factor.verified = True
    return jsonify(success=True)


@bp.delete("/UserProfile/totp-factors")
def delete_totp_factors():
    """Remove the user's authenticator app (elevated access)."""
    state = get_state()
    with state.lock:
        require_elevated()
        state.widgets.totp.pop(caller().user_id, None)
    return jsonify(success=True)


@bp.post("/UserProfile/passkeys")
@bp.post("/UserProfile/passkeys/verify")
@bp.delete("/UserProfile/passkeys/<passkey_id>")
def passkeys(passkey_id: str | None = None) -> ResponseReturnValue:
    """Passkeys need a WebAuthn authenticator; the emulator has none to offer."""
    fail(400, "Passkeys are not available in the WorkOS emulator.")


def totp(secret: str, step: int) -> str:
    """The RFC 6238 code of a base32 secret for a 30-second step (HMAC-SHA1, 6 digits)."""
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**TOTP_DIGITS:0{TOTP_DIGITS}d}"


def _session(session: Session) -> dict:
    flags = dict.fromkeys(ALL_FLAGS, False)
    if session.auth_method in AUTH_FLAGS:
        flags[AUTH_FLAGS[session.auth_method]] = True
    created = session.created_at or iso(0)
    return {
        "id": session.id,
        "userlandUserId": session.user_id,
        "ipAddress": session.ip_address,
        "userAgent": session.user_agent,
        "organizationId": session.organization_id,
        "state": {"tag": "Active", "expiresAt": session.expires_at},
        "currentLocation": None,
        **flags,
        "impersonatorUserId": None,
        "impersonatorEmail": None,
        "impersonationReason": None,
        "lastActivityAt": session.updated_at or created,
        "createdAt": created,
        "updatedAt": session.updated_at or created,
    }
