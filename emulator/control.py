"""Control routes under `/_emulate/` (no auth): hooks, request log, latency, config,
memberships, session revocation, webhook deliveries and reset. The hooks routes match the
official workos/emulate ones.
"""

from __future__ import annotations

from typing import TypeGuard

from flask import Blueprint, Response, jsonify, request

from emulator import operations
from emulator.api import error, get_state, params
from emulator.hooks import parse_hook
from emulator.state import MEMBERSHIP_STATUSES, RequestLog

bp = Blueprint("control", __name__, url_prefix="/_emulate")


@bp.post("/hooks")
def add_hook():
    """Add a hook; answers 201 with it (and its id)."""
    try:
        hook = parse_hook(request.get_json(silent=True))
    except ValueError as exc:
        return _bad(str(exc))
    state = get_state()
    with state.lock:
        state.hooks.append(hook)
    return jsonify(hook.to_json()), 201


@bp.get("/hooks")
def list_hooks():
    """The active hooks, a bare JSON array like the official emulator."""
    state = get_state()
    with state.lock:
        return jsonify([hook.to_json() for hook in state.hooks])


@bp.delete("/hooks")
def clear_hooks():
    """Remove every hook."""
    state = get_state()
    with state.lock:
        state.hooks.clear()
    return "", 204


@bp.delete("/hooks/<hook_id>")
def remove_hook(hook_id):
    """Remove one hook by id."""
    state = get_state()
    with state.lock:
        hook = next((h for h in state.hooks if h.id == hook_id), None)
        if hook is None:
            return error(404, message="Hook not found", code="not_found")
        state.hooks.remove(hook)
    return "", 204


@bp.get("/requests")
def list_requests():
    """`{"requests": [...], "counts": {"POST /client/token": n, ...}}`."""
    state = get_state()
    with state.lock:
        return jsonify(state.log.to_json())


@bp.delete("/requests")
def clear_requests():
    """Forget the logged requests and counts."""
    state = get_state()
    with state.lock:
        state.log = RequestLog()
    return "", 204


@bp.route("/latency", methods=["GET", "PUT"])
def latency():
    """Read or set (`{"ms": n}`) the delay added to every emulated route."""
    state = get_state()
    if request.method == "PUT":
        ms = params().get("ms")
        if not _is_count(ms):
            return _bad("ms must be a non-negative integer")
        with state.lock:
            state.settings.latency_ms = ms
    return jsonify(ms=state.settings.latency_ms)


@bp.route("/config", methods=["GET", "PUT"])
def config():
    """Read or change settings: client_token_ttl, widget_token_ttl, latency_ms, allowed_origins,
    redirect_uris."""
    state = get_state()
    if request.method == "PUT":
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _bad("body must be a JSON object")
        ttls = ("client_token_ttl", "widget_token_ttl")
        unknown = set(body) - {*ttls, "latency_ms", "allowed_origins", "redirect_uris"}
        if unknown:
            return _bad(f"unknown setting(s): {sorted(unknown)}")
        for name in ttls:
            ttl = body.get(name, 1)
            if not _is_count(ttl) or ttl < 1:
                return _bad(f"{name} must be a positive integer")
        if not _is_count(body.get("latency_ms", 0)):
            return _bad("latency_ms must be a non-negative integer")
        origins = body.get("allowed_origins", [])
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            return _bad("allowed_origins must be a list of strings")
        redirects = body.get("redirect_uris", [])
        if not isinstance(redirects, list) or not all(isinstance(u, str) for u in redirects):
            return _bad("redirect_uris must be a list of strings")
        with state.lock:
            for name in (*ttls, "latency_ms"):
                if name in body:
                    setattr(state.settings, name, body[name])
            if "allowed_origins" in body:
                state.settings.allowed_origins = tuple(origins)
            if "redirect_uris" in body:
                state.settings.redirect_uris = tuple(redirects)
    with state.lock:
        return jsonify(state.settings.to_json())


@bp.route("/rate_limit", methods=["GET", "PUT"])
def rate_limit():
    """Read or set (`{"limit": "N/minute"}`, null to lift it) the per-API-key limit."""
    state = get_state()
    if request.method == "PUT":
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "limit" not in body:
            return _bad('body must be {"limit": "N/minute"} or {"limit": null}')
        try:
            state.set_rate_limit(body["limit"])
        except ValueError as exc:
            return _bad(str(exc))
    return jsonify(limit=state.settings.rate_limit)


@bp.post("/memberships")
def add_membership():
    """Add a membership `{user_id, organization_id, role?, status?}`, or update it."""
    body = params()
    user_id, org_id = body.get("user_id"), body.get("organization_id")
    role, status = body.get("role", "member"), body.get("status", "active")
    if not (_text(user_id) and _text(org_id) and _text(role)):
        return _bad("user_id, organization_id and role must be non-empty strings")
    if status not in MEMBERSHIP_STATUSES:
        return _bad(f"status must be one of {list(MEMBERSHIP_STATUSES)}")
    state = get_state()
    with state.lock:
        try:
            membership, created = operations.save_membership(state, user_id, org_id, role, status)
        except KeyError as exc:
            return error(404, message=exc.args[0], code="not_found")
        return jsonify(state.membership_json(membership)), 201 if created else 200


@bp.delete("/memberships")
def remove_membership():
    """Delete the membership `{user_id, organization_id}`."""
    body = params()
    state = get_state()
    with state.lock:
        user_id, org_id = body.get("user_id"), body.get("organization_id")
        membership = state.membership(user_id, org_id) if _text(user_id) and _text(org_id) else None
        if membership is None:
            return error(404, message="Membership not found", code="not_found")
        operations.delete_membership(state, membership.id)
    return "", 204


@bp.post("/sessions/revoke")
def revoke_sessions():
    """Revoke every active session of `{email}` or `{user_id}`: `{"revoked": [session ids]}`."""
    body = params()
    email, user_id = body.get("email"), body.get("user_id")
    if not (isinstance(email, str) and email) and not (isinstance(user_id, str) and user_id):
        return _bad("email or user_id is required")
    state = get_state()
    with state.lock:
        if email:
            user = state.user_by_email(email)
        else:  # then user_id is a non-empty string (checked above)
            user = state.users.get(user_id) if _text(user_id) else None
        if user is None:
            return error(404, message="User not found", code="not_found")
        revoked = operations.revoke_user_sessions(state, user.id)
    return jsonify(revoked=[s.id for s in revoked])


@bp.get("/deliveries")
def list_deliveries():
    """`{"deliveries": [...]}`: every webhook delivery attempt, oldest first."""
    return jsonify(deliveries=get_state().events.deliveries())


@bp.get("/tokens")
def list_tokens():
    """`{"tokens": [...]}`: every token answered so far, oldest first (reset keeps them)."""
    state = get_state()
    with state.lock:
        return jsonify(tokens=list(state.issued))


@bp.get("/widgets/verifications")
def list_verifications():
    """`{"verifications": [...]}`: the codes the Widgets API "sent" for elevated access."""
    state = get_state()
    with state.lock:
        return jsonify(verifications=state.widgets.verifications_json())


@bp.post("/reset")
def reset():
    """Back to the start: seed, settings, hooks, log, codes, sessions, endpoints and events."""
    get_state().reset()
    return "", 204


def _bad(message: str) -> tuple[Response, int]:
    return error(400, message=message, code="bad_request")


def _text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value)


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
