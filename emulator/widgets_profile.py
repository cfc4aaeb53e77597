"""The Widgets REST API of `UserProfile` and `UserSecurity`'s password (`/_widgets/UserProfile`).

Every route here is user-scoped: a user-only widget token reaches it. Changing a password or
an email address needs elevated access: `send-verification` "sends" a six-digit code (readable
at `GET /_emulate/widgets/verifications`), `verify` trades it for an elevated-access token, and
the widgets send that token as `X-Elevated-Access-Token`.
"""

from __future__ import annotations

from flask import abort, jsonify, request

from emulator import operations
from emulator.api import get_state
from emulator.basics import iso
from emulator.resolvers import EMAIL
from emulator.state import EmulatorState, User
from emulator.widgets_auth import (
    caller,
    code_and_challenge,
    fail,
    json_body,
    require_elevated,
    widgets_blueprint,
)

bp = widgets_blueprint("widgets_profile")

MIN_PASSWORD = 8
# Fields of `POST me` (UpdateMeInput) and the User attribute each one sets.
PROFILE_FIELDS = {"firstName": "first_name", "lastName": "last_name"}


@bp.get("/UserProfile/me")
def me():
    """`Me`."""
    state = get_state()
    with state.lock:
        return jsonify(me_json(state, state.users[caller().user_id]))


@bp.post("/UserProfile/me")
def update_me():
    """Change first name, last name or locale (`user.updated`); answers the new `Me`."""
    body = json_body()
    for name in (*PROFILE_FIELDS, "locale"):
        if name in body and not isinstance(body[name], str):
            fail(400, f"{name} must be a string.")
    state = get_state()
    with state.lock:
        user = state.users[caller().user_id]
        changes = {
            field: body[name].strip() or None
            for name, field in PROFILE_FIELDS.items()
            if name in body
        }
        if "locale" in body:
            state.widgets.locales[user.id] = body["locale"].strip()
        operations.update_user(state, user.id, **changes)
        return jsonify(me_json(state, user))


@bp.get("/UserProfile/authentication-information")
def authentication_information():
    """`AuthenticationInformationResponse`: how the user can verify, and the password rules."""
    me = caller()
    state = get_state()
    with state.lock:
        user = state.users[me.user_id]
        session = state.sessions.get(me.session_id or "")
        password_set = user.id in state.widgets.passwords
        factor = state.widgets.totp.get(user.id)
        methods = {
            "Password": {
                "provider": "Password",
                "isSetUp": password_set,
                "lastUsed": user.last_sign_in_at if password_set else None,
                "isCurrentSession": session is not None and session.auth_method == "password",
            },
            "Mfa": {
                "provider": "MFA",
                "isSetUp": factor is not None and factor.verified,
                "lastUsed": None,
            },
            "Passkey": {
                "provider": "Passkey",
                "isSetUp": False,
                "lastUsed": None,
                "passKeys": [],
                "isCurrentSession": False,
            },
        }
    settings = {
        "isPasswordNumberRequired": False,
        "isPasswordPwnedRequired": False,
        "isPasswordSymbolRequired": False,
        "isPasswordUppercaseRequired": False,
        "passwordMinimumLength": MIN_PASSWORD,
        "passwordMinimumStrength": 0,
    }
    return jsonify(data={"verificationMethods": methods, "passwordSettings": settings})


@bp.post("/UserProfile/send-verification")
def send_verification():
    """Start identity verification: a code for the user's email address."""
    state = get_state()
    with state.lock:
        code = state.widgets.send_code(caller().user_id, state.clock(), "elevated-access")
    return jsonify(authenticationChallenge=code.challenge_id, type="EmailVerification"), 201


@bp.post("/UserProfile/verify")
def verify():
    """Trade the code for an elevated-access token (`VerifyResponse`)."""
    code, challenge = code_and_challenge()
    state = get_state()
    with state.lock:
        user_id, now = caller().user_id, state.clock()
        if state.widgets.take_code(user_id, code, now, "elevated-access", challenge) is None:
            fail(400, "The verification code is incorrect or has expired.")
        token, expires = state.widgets.grant_elevated(user_id, now)
    return jsonify(elevatedAccessToken=token, expiresAt=iso(expires)), 201


@bp.post("/UserProfile/create-password")
def create_password():
    """Set a first password (elevated access)."""
    password = json_body().get("password")
    state = get_state()
    with state.lock:
        user = _elevated_user(state)
        if user.id in state.widgets.passwords:
            fail(400, "A password is already set; change it instead.")
        state.widgets.set_password(user.id, _strong(user, password))
    return jsonify(success=True), 201


@bp.post("/UserProfile/update-password")
def update_password():
    """Change the password (elevated access, and the current password)."""
    body = json_body()
    current, new = body.get("currentPassword"), body.get("newPassword")
    state = get_state()
    with state.lock:
        user = _elevated_user(state)
        if not isinstance(current, str) or not state.widgets.password_matches(user.id, current):
            fail(400, "The current password is incorrect.")
        state.widgets.set_password(user.id, _strong(user, new))
    return jsonify(success=True), 201


@bp.post("/UserProfile/send-email-change")
def send_email_change():
    """Start an email change (elevated access): a code "sent" to the new address."""
    new_email = json_body().get("newEmail")
    if not isinstance(new_email, str) or not EMAIL.match(new_email.strip()):
        fail(422, "newEmail must be a valid email address.")
    state = get_state()
    with state.lock:
        user = _elevated_user(state)
        owner = state.user_by_email(new_email)
        if owner is not None:
            fail(409, "That email address belongs to another user.")
        code = state.widgets.send_code(user.id, state.clock(), "email-change", new_email.strip())
    return jsonify(expiresAt=iso(code.expires_at)), 201


@bp.post("/UserProfile/verify-email-change")
def verify_email_change():
    """Finish an email change with its code (`user.updated`); answers the new `Me`."""
    code = json_body().get("code")
    if not isinstance(code, str):
        fail(400, "code is required.")
    state = get_state()
    with state.lock:
        user_id, now = caller().user_id, state.clock()
        pending = state.widgets.take_code(user_id, code, now, "email-change")
        if pending is None or pending.new_email is None:
            fail(400, "The verification code is incorrect or has expired.")
        if state.user_by_email(pending.new_email) is not None:
            fail(409, "That email address belongs to another user.")
        operations.update_user(state, user_id, email=pending.new_email, email_verified=True)
        token, expires = state.widgets.grant_elevated(user_id, now)
        body = {"user": me_json(state, state.users[user_id])}
    return jsonify(**body, elevatedAccessToken=token, expiresAt=iso(expires)), 201


@bp.get("/settings")
def settings():
    """`SettingsResponse`: the environment's branding (none in the emulator)."""
    return jsonify(
        object="settings",
        authkitOrigin=request.host_url.rstrip("/"),
        logoDarkIconPath=None,
        logoDarkPath=None,
        logoLightIconPath=None,
        logoLightPath=None,
        teamName="WorkOS Emulator",
    )


def me_json(state: EmulatorState, user: User) -> dict:
    """The `Me` object (call under the state's lock)."""
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "locale": state.widgets.locales.get(user.id),
        "profilePictureUrl": user.profile_picture_url,
        "oauthProfiles": None,
    }


def _elevated_user(state: EmulatorState) -> User:
    """The caller, if the request carries their live elevated-access token; else 403."""
    require_elevated()
    return state.users[caller().user_id]


def _strong(user: User, password: object) -> str:
    """400 `password_strength_error` (the package's typed form) for a weak password."""
    if not isinstance(password, str):
        fail(400, "password is required.")
    errors = []
    if len(password) < MIN_PASSWORD:
        errors.append(
            {
                "message": f"Password must be at least {MIN_PASSWORD} characters.",
                "code": "password_too_short",
                "minimum_length": MIN_PASSWORD,
            }
        )
    if user.email.split("@")[0].lower() in password.lower():
        errors.append(
            {"message": "Password must not contain your email.", "code": "password_contains_email"}
        )
    if errors:
        response = jsonify(
            code="password_strength_error", message="The password is too weak.", errors=errors
        )
        response.status_code = 400
        abort(response)
    return password
