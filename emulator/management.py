"""REST routes that end sessions and remove directory entries, each firing its WorkOS event.

The changes themselves are in `emulator.operations`; these routes only check and answer.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from emulator import operations
from emulator.api import error, get_state, params, require_api_key
from emulator.state import EmulatorState, Membership

bp = Blueprint("management", __name__)


def not_found(kind: str, entity_id: str) -> tuple[Response, int]:
    """The WorkOS 404 for an unknown id."""
    return error(
        404,
        message=f"{kind} not found: '{entity_id}'.",
        code="entity_not_found",
        entity_id=entity_id,
    )


@bp.post("/user_management/sessions/revoke")
@require_api_key
def revoke_session():
    """Revoke `{session_id}`: `{success: true}` and `session.revoked` (once)."""
    session_id = params().get("session_id")
    if not isinstance(session_id, str) or not session_id:
        return error(400, code="invalid_request", message="session_id is required.")
    if operations.revoke_session(get_state(), session_id) is None:
        return not_found("Session", session_id)
    return jsonify(success=True)


@bp.get("/user_management/users/<id>/sessions")
@require_api_key
def list_sessions(id):
    """A user's sessions, active and revoked, newest first (one page, like the official one)."""
    state = get_state()
    with state.lock:
        if id not in state.users:
            return not_found("User", id)
        found = [s for s in state.sessions.values() if s.user_id == id]
        data = [s.to_json() for s in reversed(found)]  # dicts keep insertion (creation) order
    return jsonify(object="list", data=data, list_metadata={"before": None, "after": None})


@bp.put("/user_management/organization_memberships/<id>/deactivate")
@require_api_key
def deactivate_membership(id):
    """Set the membership inactive: the membership and `organization_membership.updated`."""
    return _change_status(operations.deactivate_membership, id)


@bp.put("/user_management/organization_memberships/<id>/reactivate")
@require_api_key
def reactivate_membership(id):
    """Set the membership active: the membership and `organization_membership.updated`."""
    return _change_status(operations.reactivate_membership, id)


@bp.delete("/user_management/organization_memberships/<id>")
@require_api_key
def delete_membership(id):
    """Delete the membership: 204 and `organization_membership.deleted`."""
    if operations.delete_membership(get_state(), id) is None:
        return not_found("Organization membership", id)
    return "", 204


@bp.delete("/user_management/users/<id>")
@require_api_key
def delete_user(id):
    """Delete the user, their sessions and memberships: 204 and the events (see operations)."""
    if operations.delete_user(get_state(), id) is None:
        return not_found("User", id)
    return "", 204


@bp.delete("/organizations/<id>")
@require_api_key
def delete_organization(id):
    """Delete the organization and its memberships: 204 and the events (see operations)."""
    if operations.delete_organization(get_state(), id) is None:
        return not_found("Organization", id)
    return "", 204


def _change_status(
    change: Callable[[EmulatorState, str], Membership | None], membership_id: str
) -> ResponseReturnValue:
    state = get_state()
    with state.lock:
        try:
            membership = change(state, membership_id)
        except ValueError as exc:
            return error(422, code="invalid_request_parameters", message=str(exc))
        if membership is None:
            return not_found("Organization membership", membership_id)
        return jsonify(state.membership_json(membership))
