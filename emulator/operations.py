"""State changes that WorkOS announces with an event: one function each, for every route.

REST routes, control routes and GraphQL mutations call these, so a change fires the same
event whichever way it was made. Each takes the state's (re-entrant) lock itself. Lookups that
find nothing return None; a change that is not allowed raises ValueError (answered 422).

Cascades follow the official emulator, whose collection hooks fire an event per removed row:
deleting a user revokes each active session (`session.revoked`) and deletes each membership
(`organization_membership.deleted`) before `user.deleted`; deleting an organization deletes its
memberships before `organization.deleted` (its users' sessions stay, but can no longer refresh
into it).
"""

from __future__ import annotations

from emulator.basics import iso, new_id
from emulator.state import EmulatorState, Membership, Organization, Session, User


def membership_data(m: Membership) -> dict:
    """The organization_membership object as events carry it
    (docs/workos.md#event-types-the-service-applies).

    Every key the official SDK's event model requires is here (it fails on a missing one).
    """
    return {
        "object": "organization_membership",
        "id": m.id,
        "organization_id": m.organization_id,
        "user_id": m.user_id,
        "role": {"slug": m.role},
        "roles": [{"slug": m.role}],
        "status": m.status,
        "custom_attributes": {},
        "directory_managed": False,
        "external_id": None,
        "metadata": {},
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    }


def revoke_session(state: EmulatorState, session_id: str) -> Session | None:
    """End a session (its refresh token stops working) and fire `session.revoked`.

    None if there is no such session. Revoking a revoked session changes nothing and fires
    nothing, so a logout after an admin revoke is not announced twice.
    """
    with state.lock:
        session = state.sessions.get(session_id)
        if session is None or session.status == "revoked":
            return session
        state.refresh_tokens.pop(session.refresh_token or "", None)
        session.refresh_token = None
        session.status = "revoked"
        session.ended_at = session.updated_at = iso(state.clock())
        state.events.emit("session.revoked", session.to_json(), session.organization_id)
        return session


def revoke_user_sessions(state: EmulatorState, user_id: str) -> list[Session]:
    """Revoke every active session of a user; the sessions revoked now."""
    with state.lock:
        active = [
            s for s in state.sessions.values() if s.user_id == user_id and s.status == "active"
        ]
        revoked = [revoke_session(state, s.id) for s in active]
        return [s for s in revoked if s is not None]  # all of them: each was active


def save_membership(
    state: EmulatorState,
    user_id: str,
    organization_id: str,
    role: str = "member",
    status: str = "active",
) -> tuple[Membership, bool]:
    """Create a membership (`.created`) or change role/status (`.updated`); (it, created).

    Raises KeyError for an unknown user or organization, ValueError for a bad status.
    """
    with state.lock:
        existing = state.membership(user_id, organization_id)
        before = (existing.role, existing.status) if existing is not None else None
        m = state.add_membership(user_id, organization_id, role, status)
        if existing is None:
            state.events.emit(
                "organization_membership.created", membership_data(m), m.organization_id
            )
        elif before != (m.role, m.status):
            state.events.emit(
                "organization_membership.updated", membership_data(m), m.organization_id
            )
        return m, existing is None


def update_membership_role(
    state: EmulatorState, membership_id: str, role: str
) -> Membership | None:
    """Give a membership another role and fire `organization_membership.updated`."""
    with state.lock:
        m = state.memberships.get(membership_id)
        if m is None:
            return None
        if state.roles and role not in state.roles:
            raise ValueError(f"Unknown role: '{role}'.")
        if m.role != role:
            m.role, m.updated_at = role, iso(state.clock())
            state.events.emit(
                "organization_membership.updated", membership_data(m), m.organization_id
            )
        return m


def deactivate_membership(state: EmulatorState, membership_id: str) -> Membership | None:
    """Set a membership inactive and fire `organization_membership.updated`."""
    return _set_status(state, membership_id, "inactive")


def reactivate_membership(state: EmulatorState, membership_id: str) -> Membership | None:
    """Set a membership active again and fire `organization_membership.updated`."""
    return _set_status(state, membership_id, "active")


def delete_membership(state: EmulatorState, membership_id: str) -> Membership | None:
    """Remove a membership and fire `organization_membership.deleted`."""
    with state.lock:
        m = state.memberships.pop(membership_id, None)
        if m is not None:
            state.events.emit(
                "organization_membership.deleted", membership_data(m), m.organization_id
            )
        return m


def delete_user(state: EmulatorState, user_id: str) -> User | None:
    """Remove a user with their sessions and memberships; fires the cascade, then `user.deleted`."""
    with state.lock:
        user = state.users.get(user_id)
        if user is None:
            return None
        revoke_user_sessions(state, user_id)
        for m in [m for m in state.memberships.values() if m.user_id == user_id]:
            delete_membership(state, m.id)
        del state.users[user_id]
        state.events.emit("user.deleted", user.to_json())
        return user


def delete_organization(state: EmulatorState, organization_id: str) -> Organization | None:
    """Remove an organization with its memberships; fires those, then `organization.deleted`."""
    with state.lock:
        org = state.organizations.get(organization_id)
        if org is None:
            return None
        for m in [m for m in state.memberships.values() if m.organization_id == organization_id]:
            delete_membership(state, m.id)
        del state.organizations[organization_id]
        state.events.emit("organization.deleted", org.to_json(), org.id)
        return org


def _set_status(state: EmulatorState, membership_id: str, status: str) -> Membership | None:
    with state.lock:
        m = state.memberships.get(membership_id)
        if m is None:
            return None
        if m.status == status:
            # As the official emulator: a no-op (de)activation is a validation error.
            raise ValueError(f"Membership is already {status}.")
        m.status, m.updated_at = status, iso(state.clock())
        state.events.emit("organization_membership.updated", membership_data(m), m.organization_id)
        return m


def update_user(state: EmulatorState, user_id: str, **changes: object) -> User | None:
    """Change a user's attributes and fire `user.updated` (nothing fires if nothing changed)."""
    with state.lock:
        user = state.users.get(user_id)
        if user is None:
            return None
        changed = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if changed:
            for name, value in changed.items():
                setattr(user, name, value)
            user.updated_at = iso(state.clock())
            state.events.emit("user.updated", user.to_json())
        return user


def invite_user(state: EmulatorState, organization_id: str, email: str, role: str) -> Membership:
    """A pending membership for the user with this email, made first (`user.created`) if new.

    WorkOS keys invitations by user (the Widgets API's revokeInvitation and resendInvitation
    take a userId), so an invited email becomes a user whose membership is pending (`.created`).
    """
    with state.lock:
        user = state.user_by_email(email)
        if user is None:
            stamp = iso(state.clock())
            user = User(
                id=new_id("user"),
                email=email.strip(),
                email_verified=False,
                created_at=stamp,
                updated_at=stamp,
            )
            state.users[user.id] = user
            state.events.emit("user.created", user.to_json())
        membership, _ = save_membership(state, user.id, organization_id, role, "pending")
        return membership
