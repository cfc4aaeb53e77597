"""The Widgets REST API of `UsersManagement` and `OrganizationSwitcher` (`UserManagement/*`).

Shapes as `@workos-inc/widgets` types them (`dist/esm/api/endpoint.d.ts`). Changes go through
emulator/operations.py, so removing a member or changing a role fires the same events (and
webhooks) as the REST and GraphQL routes. Members are users: routes name them by user id.
"""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from emulator import operations
from emulator.api import get_state
from emulator.paging import page_window
from emulator.resolvers import EMAIL, MEMBER_STATUS, default_role, organization_members, role_name
from emulator.state import EmulatorState, Membership
from emulator.widgets_auth import (
    caller,
    fail,
    json_body,
    require_manage_members,
    widgets_blueprint,
)

bp = widgets_blueprint("widgets_members")

DEFAULT_LIMIT, MAX_LIMIT = 10, 100


@bp.get("/UserManagement/roles-and-config")
def roles_and_config():
    """`RolesAndConfigResponse`: the environment's roles; one role per member here."""
    require_manage_members()
    return jsonify(roles=_roles(get_state()), multipleRolesEnabled=False)


@bp.get("/UserManagement/roles")
def roles():
    """`MemberRole[]`."""
    require_manage_members()
    return jsonify(_roles(get_state()))


@bp.get("/UserManagement/members")
def members():
    """`MembersResponse`: the organization's active and invited members, newest first."""
    org_id = require_manage_members()
    args = request.args
    role = args.get("role") or None
    try:
        limit = int(args.get("limit") or DEFAULT_LIMIT)
    except ValueError:
        fail(400, "limit must be a whole number.")
    if not 1 <= limit <= MAX_LIMIT:
        fail(400, f"limit must be between 1 and {MAX_LIMIT}.")
    state = get_state()
    with state.lock:
        # Newest first, as WorkOS's REST lists default to.
        found = organization_members(state, org_id, role, args.get("search"))[::-1]
        items = [_member(state, m) for m in found]
    return jsonify(_page(items, args.get("after"), args.get("before"), limit))


@bp.post("/UserManagement/invite-user")
def invite_user():
    """Invite by email: a pending membership (and a new user if the email is new)."""
    org_id = require_manage_members()
    body = json_body()
    email, wanted = body.get("email"), body.get("roles")
    if not isinstance(email, str) or not EMAIL.match(email.strip()):
        fail(400, "email must be a valid email address.")
    if wanted is not None and (
        not isinstance(wanted, list) or not all(isinstance(r, str) for r in wanted)
    ):
        fail(400, "roles must be an array of role slugs.")
    state = get_state()
    with state.lock:
        role = (wanted or [default_role(state)])[0]
        if role not in state.roles:
            fail(400, f"Unknown role: '{role}'.")
        user = state.user_by_email(email)
        existing = state.membership(user.id, org_id) if user else None
        if existing is not None and existing.status == "active":
            fail(400, f"{email.strip()} is already a member of this organization.")
        if existing is not None and existing.status == "pending":
            fail(400, f"{email.strip()} has already been invited.")
        membership = operations.invite_user(state, org_id, email, role)
        invited = state.users[membership.user_id]
        for name, field in (("firstName", "first_name"), ("lastName", "last_name")):
            value = body.get(name)
            if isinstance(value, str) and value.strip() and getattr(invited, field) is None:
                setattr(invited, field, value.strip())
    return jsonify(success=True), 201


@bp.post("/UserManagement/members/<user_id>")
def update_member(user_id: str) -> ResponseReturnValue:
    """Give an active member another role (`organization_membership.updated`)."""
    org_id = require_manage_members()
    wanted = json_body().get("roles")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(r, str) for r in wanted):
        fail(400, "roles must name at least one role.")
    state = get_state()
    with state.lock:
        membership = state.active_membership(user_id, org_id)
        if membership is None:
            fail(404, f"Member not found: '{user_id}'.")
        unknown = [slug for slug in wanted if slug not in state.roles]
        if unknown:
            fail(422, f"Unknown role(s): {', '.join(unknown)}.")
        # multipleRolesEnabled is false, so (as WorkOS says) only the first role is used.
        operations.update_membership_role(state, membership.id, wanted[0])
    return jsonify(id=user_id, success=True)


@bp.delete("/UserManagement/members/<user_id>")
def remove_member(user_id: str) -> ResponseReturnValue:
    """Remove an active member (`organization_membership.deleted`); not oneself."""
    org_id = require_manage_members()
    if user_id == caller().user_id:
        fail(400, "You cannot remove yourself from the organization.")
    state = get_state()
    with state.lock:
        membership = state.active_membership(user_id, org_id)
        if membership is None:
            fail(404, f"Member not found: '{user_id}'.")
        operations.delete_membership(state, membership.id)
    return jsonify(id=user_id, success=True)


@bp.post("/UserManagement/invites/<user_id>/resend")
def resend_invite(user_id: str) -> ResponseReturnValue:
    """Send a pending invitation again (the emulator sends no email)."""
    org_id = require_manage_members()
    state = get_state()
    with state.lock:
        _pending(state, user_id, org_id)
    return jsonify(id=user_id, success=True)


@bp.delete("/UserManagement/invites/<user_id>")
def revoke_invite(user_id: str) -> ResponseReturnValue:
    """Withdraw a pending invitation: its membership goes (`organization_membership.deleted`)."""
    org_id = require_manage_members()
    state = get_state()
    with state.lock:
        membership = _pending(state, user_id, org_id)
        operations.delete_membership(state, membership.id)
    return jsonify(id=user_id, success=True)


@bp.get("/UserManagement/organizations")
def organizations():
    """`OrganizationsResponse`: the user's organizations; `current` is the token's."""
    me = caller()
    state = get_state()
    with state.lock:
        data = [
            {
                "id": m.organization_id,
                "name": state.organizations[m.organization_id].name,
                "current": m.organization_id == me.organization_id,
                "favicon": None,
            }
            for m in state.active_memberships(me.user_id)
        ]
    return jsonify(data=data)


def _roles(state: EmulatorState) -> list[dict]:
    with state.lock:
        default = default_role(state)
        return [
            {"name": role_name(slug), "slug": slug, "default": slug == default, "description": None}
            for slug in state.roles
        ]


def _member(state: EmulatorState, m: Membership) -> dict:
    user = state.users[m.user_id]
    me = m.user_id == caller().user_id
    if m.status == "pending":
        actions = ["resend-invite", "revoke-invite"]
    else:
        actions = [] if me else ["edit-role", "revoke-membership"]
    return {
        "id": user.id,
        "email": user.email,
        "emailVerified": user.email_verified,
        "profilePictureUrl": user.profile_picture_url,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "createdAt": m.created_at,
        "lastActivityAt": user.last_sign_in_at,
        "status": MEMBER_STATUS[m.status],
        "actions": actions,
        "isLoggedInUser": True if me else None,
        "roles": [{"name": role_name(m.role), "slug": m.role, "description": None}],
    }


def _page(items: list[dict], after: str | None, before: str | None, limit: int) -> dict:
    """`MembersResponse`'s page: the REST lists name their cursors `list_metadata`."""
    page = page_window(items, after, before, limit)
    return {
        "data": page["data"],
        "list_metadata": {"before": page["before"], "after": page["after"]},
    }


def _pending(state: EmulatorState, user_id: str, org_id: str) -> Membership:
    membership = state.membership(user_id, org_id)
    if membership is None or membership.status != "pending":
        fail(404, f"Invitation not found for user '{user_id}'.")
    return membership
