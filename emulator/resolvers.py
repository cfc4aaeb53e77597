"""Resolvers of the Widgets API schema: its queries and mutations over the emulator's state."""

from __future__ import annotations

import re
from datetime import timedelta

from emulator import operations
from emulator.basics import iso, new_id
from emulator.graphql_auth import (
    MANAGE_MEMBERS,
    Caller,
    bad_input,
    forbidden,
    organization_of,
    permissions_of,
    require_permission,
    require_session_token,
)
from emulator.paging import page_window
from emulator.state import SEED_TIME, EmulatorState, Membership, Session, User

DEFAULT_LIMIT, MAX_LIMIT = 10, 100
# WorkOS's default role slug; an environment without it defaults to its first role.
DEFAULT_ROLE = "member"
# Membership status -> OrganizationMemberStatus; inactive memberships are not listed.
MEMBER_STATUS = {"active": "Active", "pending": "Invited"}
INVITATION_DAYS, MIN_INVITATION_DAYS, MAX_INVITATION_DAYS = 7, 1, 30
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Root:
    """Root value: graphql-core's default resolver calls these methods with (info, **args)."""

    # The method names are the schema's field names, hence camelCase.

    def __init__(self, state: EmulatorState, caller: Caller):
        self._state = state
        self._caller = caller

    # -- queries -----------------------------------------------------------------------------

    def me(self, info):
        with self._state.lock:
            return _user(self._state.users[self._caller.user_id])

    def user(self, info, id):
        org_id = organization_of(self._caller)
        with self._state.lock:
            membership = self._state.membership(id, org_id)
            if membership is None or membership.status not in MEMBER_STATUS:
                raise forbidden(f"Forbidden: '{id}' is not a member of the token's organization.")
            return _user(self._state.users[id])

    def organization(self, info, id):
        org_id = organization_of(self._caller)
        if id != org_id:
            raise forbidden("Forbidden: the token is for another organization.")
        with self._state.lock:
            org = self._state.organizations[org_id]
            return {
                "allowProfilesOutsideOrganization": False,
                "createdAt": org.created_at,
                "id": org.id,
                "name": org.name,
                "updatedAt": org.updated_at,
            }

    def organizations(self, info):
        with self._state.lock:
            return [
                {
                    "id": m.organization_id,
                    "isCurrent": m.organization_id == self._caller.organization_id,
                    "name": self._state.organizations[m.organization_id].name,
                }
                for m in self._state.active_memberships(self._caller.user_id)
            ]

    def organizationMemberships(
        self, info, after=None, before=None, limit=None, order=None, roleSlug=None, search=None
    ):
        org_id = organization_of(self._caller)
        state = self._state
        with state.lock:
            members = organization_members(state, org_id, roleSlug, search)
            items = [_member(state, m) for m in members]
        return _page(items, after=after, before=before, limit=limit, order=order)

    def roles(self, info):
        organization_of(self._caller)
        with self._state.lock:
            default = default_role(self._state)
            roles = [_role(slug, default) for slug in self._state.roles]
        return {"multipleRolesEnabled": False, "roles": roles}

    def permissions(self, info, after=None, before=None, limit=None, order=None, search=None):
        needle = (search or "").strip().lower()
        with self._state.lock:
            slugs = dict.fromkeys(p for perms in self._state.roles.values() for p in perms)
        items = [_permission(slug) for slug in slugs if needle in slug.lower()]
        return _page(items, after=after, before=before, limit=limit, order=order)

    def effectivePermissions(self, info, userId):
        org_id = organization_of(self._caller)
        if userId != self._caller.user_id:
            require_permission(self._state, self._caller, MANAGE_MEMBERS)
        with self._state.lock:
            if self._state.active_membership(userId, org_id) is None:
                raise forbidden(
                    f"Forbidden: '{userId}' is not a member of the token's organization."
                )
            return [_permission(slug) for slug in permissions_of(self._state, userId, org_id)]

    def sessions(self, info):
        require_session_token(self._caller)
        state = self._state
        with state.lock:
            return [
                _session(s, self._caller)
                for s in state.sessions.values()
                if s.user_id == self._caller.user_id and s.status == "active"
            ]

    # -- mutations ---------------------------------------------------------------------------

    def inviteUser(self, info, input):
        org_id = require_permission(self._state, self._caller, MANAGE_MEMBERS)
        email = input["email"].strip()
        days = input.get("expiresInDays")
        days = INVITATION_DAYS if days is None else days
        state = self._state
        with state.lock:
            role = input.get("roleSlug") or default_role(state)
            if not EMAIL.match(email):
                return {"__typename": "InvalidInviteeEmail", "email": email}
            if role not in state.roles:
                return {"__typename": "InvalidInviteeRole", "roleSlug": role}
            if not MIN_INVITATION_DAYS <= days <= MAX_INVITATION_DAYS:
                return {"__typename": "InvalidInvitationExpiry", "_placeholder": None}
            user = state.user_by_email(email)
            existing = state.membership(user.id, org_id) if user else None
            if existing is not None and existing.status == "active":
                return {"__typename": "InviteeAlreadyMember", "email": email}
            if existing is not None and existing.status == "pending":
                return {"__typename": "InviteeAlreadyInvited", "email": email}
            membership = operations.invite_user(state, org_id, email, role)
            now = state.clock()
            invitation = {
                "createdAt": iso(now),
                "email": state.users[membership.user_id].email,
                "expiresAt": iso(now + timedelta(days=days).total_seconds()),
                "id": new_id("invitation"),
                "roleSlug": role,
                "status": "Pending",
            }
        return {"__typename": "UserInvited", "invitation": invitation}

    def removeMember(self, info, input):
        org_id = require_permission(self._state, self._caller, MANAGE_MEMBERS)
        user_id = input["userId"]
        with self._state.lock:
            membership = self._state.active_membership(user_id, org_id)
            if membership is None:
                return {"__typename": "MemberNotFound", "userId": user_id}
            operations.delete_membership(self._state, membership.id)
        return {"__typename": "MemberRemoved", "userId": user_id}

    def updateMemberRole(self, info, input):
        org_id = require_permission(self._state, self._caller, MANAGE_MEMBERS)
        user_id, slugs = input["userId"], input["roleSlugs"]
        if not slugs:
            raise bad_input("roleSlugs must name at least one role.")
        state = self._state
        with state.lock:
            membership = state.active_membership(user_id, org_id)
            if membership is None:
                return {"__typename": "MemberNotFound", "userId": user_id}
            unknown = [slug for slug in slugs if slug not in state.roles]
            if unknown:
                return {"__typename": "RoleNotFound", "roleSlugs": unknown}
            # multipleRolesEnabled is false here, so (as WorkOS says) only the first is used.
            operations.update_membership_role(state, membership.id, slugs[0])
            return {"__typename": "MemberRoleUpdated", "member": _member(state, membership)}

    def revokeSession(self, info, input):
        session_id = input["sessionId"]
        state = self._state
        with state.lock:
            session = state.sessions.get(session_id)
            if (
                session is None
                or session.user_id != self._caller.user_id
                or session.status != "active"
            ):
                return {"__typename": "SessionNotFound", "sessionId": session_id}
            # The operation the REST revoke and the logout URL use: session.revoked fires.
            operations.revoke_session(state, session_id)
            return {"__typename": "SessionRevoked", "session": _session(session, self._caller)}


def _page(
    items: list[dict],
    *,
    after: str | None,
    before: str | None,
    limit: int | None,
    order: str | None,
) -> dict:
    """One page of items (oldest first) with WorkOS's cursors: the ids at the page's ends."""
    limit = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_input(f"limit must be between 1 and {MAX_LIMIT}.")
    if order != "Asc":  # Desc and Normal: newest first, like the REST lists' default
        items = items[::-1]
    page = page_window(items, after, before, limit)
    return {
        "data": page["data"],
        "listMetadata": {"after": page["after"], "before": page["before"]},
    }


def _user(user: User) -> dict:
    return {
        "connectedAccounts": [],
        "createdAt": user.created_at,
        "email": user.email,
        "emailVerified": user.email_verified,
        "firstName": user.first_name,
        "id": user.id,
        "lastName": user.last_name,
        "mfaEnabled": False,
        "mfaLastUsedAt": None,
        # The emulator's sign-in stands for a password sign-in.
        "passwordLastUsedAt": user.last_sign_in_at,
        "passwordSet": True,
        "profilePictureUrl": user.profile_picture_url,
        "updatedAt": user.updated_at,
    }


def _member(state: EmulatorState, m: Membership) -> dict:
    user = state.users[m.user_id]
    return {
        "createdAt": m.created_at,
        "email": user.email,
        "emailVerified": user.email_verified,
        "firstName": user.first_name,
        "id": user.id,
        "lastActivityAt": user.last_sign_in_at,
        "lastName": user.last_name,
        "profilePictureUrl": user.profile_picture_url,
        "roles": [{"name": role_name(m.role), "slug": m.role}],
        "status": MEMBER_STATUS[m.status],
    }


def organization_members(
    state: EmulatorState, org_id: str, role: str | None, search: str | None
) -> list[Membership]:
    """The organization's listed members (active and invited), oldest first, filtered by role
    and by a search of email and names (call under the state's lock)."""
    needle = (search or "").strip().lower()
    return sorted(
        (
            m
            for m in state.memberships.values()
            if m.organization_id == org_id
            and m.status in MEMBER_STATUS
            and (role is None or m.role == role)
            and needle in searchable(state, m)
        ),
        key=lambda m: m.seq,
    )


def searchable(state: EmulatorState, m: Membership) -> str:
    """What a member search matches: email and names, lower-cased."""
    user = state.users[m.user_id]
    return " ".join(filter(None, (user.email, user.first_name, user.last_name))).lower()


def default_role(state: EmulatorState) -> str:
    """The role new members get: WorkOS's `member`, else the environment's first role."""
    return DEFAULT_ROLE if DEFAULT_ROLE in state.roles else next(iter(state.roles), DEFAULT_ROLE)


def role_name(slug: str) -> str:
    """Seed roles have a slug only; the name is made from it ("users-admin" -> "Users Admin")."""
    return re.sub(r"[-_]+", " ", slug).title()


def _role(slug: str, default: str) -> dict:
    return {
        "createdAt": SEED_TIME,
        "description": None,
        "id": f"role_{slug}",
        "isDefault": slug == default,
        "name": role_name(slug),
        "slug": slug,
        "updatedAt": SEED_TIME,
    }


def _permission(slug: str) -> dict:
    return {
        "createdAt": SEED_TIME,
        "description": None,
        "id": f"perm_{slug}",
        "name": slug,
        "slug": slug,
        # The widgets:* permissions are WorkOS's own; the rest are the environment's.
        "system": slug.startswith("widgets:"),
        "updatedAt": SEED_TIME,
    }


def _session(session: Session, caller: Caller) -> dict:
    # The emulator records no activity or location for sessions.
    return {
        "createdAt": session.created_at or SEED_TIME,
        "currentLocation": None,
        "id": session.id,
        "ipAddress": session.ip_address,
        "isCurrent": session.id == caller.session_id,
        "lastActivityAt": None,
        "organizationId": session.organization_id,
        "state": {"expiresAt": session.expires_at, "tag": session.status},
        "updatedAt": session.updated_at or session.created_at or SEED_TIME,
        "userAgent": session.user_agent,
    }
