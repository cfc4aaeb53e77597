"""The directory changes the Widgets API mutations make, one function each.

Callers hold `state.lock`. WorkOS fires an event for each of these changes
(organization_membership.deleted / .updated / .created, invitation.created, session.revoked);
when the emulator fires events, these functions are where the mutations fire them, so a change
made from the page looks the same as one made through the REST routes.
"""

from __future__ import annotations

from emulator import sessions
from emulator.state import EmulatorState, Membership, User, iso, new_id


def remove_membership(state: EmulatorState, membership: Membership) -> None:
    """Delete a membership, as `DELETE /_emulate/memberships` does."""
    del state.memberships[membership.id]


def change_role(state: EmulatorState, membership: Membership, role: str) -> None:
    """Give a membership another role."""
    membership.role = role
    membership.updated_at = iso(state.clock())


def invite(state: EmulatorState, organization_id: str, email: str, role: str) -> Membership:
    """A pending membership for the user with this email, made first if there is none.

    WorkOS keys invitations by user (revokeInvitation and resendInvitation take a userId), so an
    invited email becomes a user with a pending membership, which the member list shows as
    Invited.
    """
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
    return state.add_membership(user.id, organization_id, role, status="pending")


def revoke_session(state: EmulatorState, session_id: str) -> bool:
    """End an AuthKit session, as the logout route does; False if unknown."""
    return sessions.revoke(state, session_id)
