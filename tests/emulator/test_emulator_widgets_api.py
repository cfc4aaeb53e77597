"""The emulator's Widgets API over a real socket: each query and mutation, and who may use it."""

from __future__ import annotations

import pytest
import requests

from emulator import sessions
from emulator.state import User
from tests.emulator.test_emulator_client_api import KEY, graphql, token
from tests.emulator.test_emulator_events import fired

MEMBERS = """
query Members($limit: Int, $after: String, $before: String, $order: PaginationOrder,
              $search: String, $roleSlug: String) {
  organizationMemberships(limit: $limit, after: $after, before: $before, order: $order,
                          search: $search, roleSlug: $roleSlug) {
    data { id email firstName lastName status roles { name slug } createdAt }
    listMetadata { after before }
  }
}
"""
UPDATE_ROLE = """
mutation UpdateRole($userId: ID!, $roleSlugs: [String!]!) {
  updateMemberRole(input: {userId: $userId, roleSlugs: $roleSlugs}) {
    __typename
    ... on MemberRoleUpdated { member { id roles { slug } } }
    ... on MemberNotFound { userId }
    ... on RoleNotFound { roleSlugs }
  }
}
"""
REMOVE = """
mutation Remove($userId: ID!) {
  removeMember(input: {userId: $userId}) {
    __typename
    ... on MemberRemoved { userId }
    ... on MemberNotFound { userId }
  }
}
"""
INVITE = """
mutation Invite($email: String!, $roleSlug: String, $days: Int) {
  inviteUser(input: {email: $email, roleSlug: $roleSlug, expiresInDays: $days}) {
    __typename
    ... on UserInvited { invitation { email roleSlug status createdAt expiresAt } }
    ... on InvalidInviteeEmail { email }
    ... on InvalidInviteeRole { roleSlug }
    ... on InviteeAlreadyMember { email }
    ... on InviteeAlreadyInvited { email }
  }
}
"""
REVOKE = """
mutation Revoke($id: ID!) {
  revokeSession(input: {sessionId: $id}) {
    __typename
    ... on SessionRevoked { session { id isCurrent state { tag } } }
    ... on SessionNotFound { sessionId }
  }
}
"""


def data(response: requests.Response) -> dict:
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def refusal(response: requests.Response) -> tuple[str, str, list]:
    """(extensions.code, message, path) of the one error of an answer with no data."""
    body = response.json()
    assert body["data"] is None, body
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"], error["path"]


def members(url: str, bearer: str, **variables) -> dict:
    return data(graphql(url, MEMBERS, bearer, variables))["organizationMemberships"]


def add_members(state, count: int) -> list[str]:
    """count more active members of Acme (role member), oldest first; their user ids."""
    ids = []
    for n in range(count):
        user = User(id=f"user_extra{n}", email=f"extra{n}@acme.com", first_name=f"Extra{n}")
        state.users[user.id] = user
        state.add_membership(user.id, "org_acme")
        ids.append(user.id)
    return ids


def authkit_session(url: str, state, user_id: str = "user_alice") -> dict:
    """Sign in through the AuthKit code exchange: the session's access and refresh tokens."""
    code = sessions.issue_code(state, state.users[user_id], None)
    response = requests.post(
        f"{url}/user_management/authenticate",
        timeout=5,
        json={
            "client_id": "client_emulator",
            "client_secret": KEY,
            "grant_type": "authorization_code",
            "code": code,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- queries ---------------------------------------------------------------------------------


def test_me_has_workos_user_fields(url):
    me = data(
        graphql(
            url,
            "{ me { id email emailVerified firstName lastName createdAt "
            "updatedAt mfaEnabled passwordSet connectedAccounts { id } } }",
            token(url),
        )
    )["me"]
    assert me["id"] == "user_alice" and me["email"] == "alice@acme.com"
    assert me["emailVerified"] is True and me["mfaEnabled"] is False
    assert me["createdAt"].endswith("Z") and me["connectedAccounts"] == []


def test_user_by_id_only_inside_the_tokens_organization(url):
    query = "query U($id: ID!) { user(id: $id) { id email } }"
    bob = data(graphql(url, query, token(url), {"id": "user_bob"}))["user"]
    assert bob == {"id": "user_bob", "email": "bob@globex.com"}
    code, message, path = refusal(graphql(url, query, token(url), {"id": "user_carol"}))
    assert (code, path) == ("FORBIDDEN", ["user"]) and "not a member" in message


def test_organizations_mark_the_tokens_organization_current(url):
    query = "{ organizations { id name isCurrent } }"
    answer = data(graphql(url, query, token(url, "user_bob", "org_globex")))["organizations"]
    assert answer == [
        {"id": "org_acme", "name": "Acme Corp", "isCurrent": False},
        {"id": "org_globex", "name": "Globex", "isCurrent": True},
    ]


def test_memberships_are_newest_first_with_workos_member_fields(url):
    page = members(url, token(url))
    assert page["listMetadata"] == {"after": None, "before": None}
    assert [m["id"] for m in page["data"]] == ["user_bob", "user_alice"]
    assert page["data"][1] == {
        "id": "user_alice",
        "email": "alice@acme.com",
        "firstName": "Alice",
        "lastName": "Anders",
        "status": "Active",
        "roles": [{"name": "Admin", "slug": "admin"}],
        "createdAt": "2024-01-01T00:00:00.000Z",
    }


def test_memberships_paginate_with_after_and_before_cursors(url, state):
    extra = add_members(state, 3)  # Acme: alice, bob, extra0..2 (oldest first)
    newest_first = [*reversed(extra), "user_bob", "user_alice"]
    alice = token(url)
    first = members(url, alice, limit=2)
    assert [m["id"] for m in first["data"]] == newest_first[:2]
    assert first["listMetadata"] == {"after": newest_first[1], "before": None}
    second = members(url, alice, limit=2, after=first["listMetadata"]["after"])
    assert [m["id"] for m in second["data"]] == newest_first[2:4]
    assert second["listMetadata"] == {"after": newest_first[3], "before": newest_first[2]}
    last = members(url, alice, limit=2, after=second["listMetadata"]["after"])
    assert [m["id"] for m in last["data"]] == newest_first[4:]
    assert last["listMetadata"]["after"] is None
    back = members(url, alice, limit=2, before=second["listMetadata"]["before"])
    assert back == first


def test_memberships_order_search_and_role_filter(url, state):
    add_members(state, 2)
    alice = token(url)
    ascending = members(url, alice, order="Asc")["data"]
    assert [m["id"] for m in ascending][:2] == ["user_alice", "user_bob"]
    assert [m["id"] for m in members(url, alice, order="Normal")["data"]][-1] == "user_alice"
    assert [m["id"] for m in members(url, alice, search="ANDERS")["data"]] == ["user_alice"]
    assert [m["id"] for m in members(url, alice, search="globex.com")["data"]] == ["user_bob"]
    admins = members(url, alice, roleSlug="admin")["data"]
    assert [m["id"] for m in admins] == ["user_alice"]
    assert members(url, alice, roleSlug="nobody")["data"] == []


@pytest.mark.parametrize("limit", [0, 101])
def test_memberships_limit_out_of_range_is_bad_user_input(url, limit):
    code, message, _ = refusal(graphql(url, MEMBERS, token(url), {"limit": limit}))
    assert code == "BAD_USER_INPUT" and "limit" in message


def test_memberships_list_invited_members_but_not_inactive_ones(url, state):
    state.add_membership("user_carol", "org_acme", status="pending")
    state.add_membership("user_bob", "org_acme", status="inactive")
    page = members(url, token(url))["data"]
    assert [(m["id"], m["status"]) for m in page] == [
        ("user_carol", "Invited"),
        ("user_alice", "Active"),
    ]


def test_memberships_of_another_organizations_token_show_that_organization_only(url):
    page = members(url, token(url, "user_bob", "org_globex"))["data"]
    assert [m["id"] for m in page] == ["user_bob"]


def test_roles_and_permissions_come_from_the_seed(url):
    bob = token(url, "user_bob")
    roles = data(
        graphql(url, "{ roles { multipleRolesEnabled roles { slug name isDefault } } }", bob)
    )["roles"]
    assert roles == {
        "multipleRolesEnabled": False,
        "roles": [
            {"slug": "admin", "name": "Admin", "isDefault": False},
            {"slug": "member", "name": "Member", "isDefault": True},
        ],
    }
    query = """query P($search: String) {
      permissions(search: $search, order: Asc) { data { slug system } }
    }"""
    listed = data(graphql(url, query, bob))["permissions"]["data"]
    assert [p["slug"] for p in listed] == [
        "widgets:users-table:manage",
        "widgets:domain-verification:manage",
        "widgets:sso:manage",
    ]
    assert all(p["system"] for p in listed)
    found = data(graphql(url, query, bob, {"search": "SSO"}))["permissions"]["data"]
    assert found == [{"slug": "widgets:sso:manage", "system": True}]


def test_effective_permissions_own_freely_anothers_with_users_table_manage(url):
    query = "query E($id: ID!) { effectivePermissions(userId: $id) { slug } }"
    bob = token(url, "user_bob")
    assert data(graphql(url, query, bob, {"id": "user_bob"}))["effectivePermissions"] == []
    code, message, _ = refusal(graphql(url, query, bob, {"id": "user_alice"}))
    assert code == "FORBIDDEN" and "widgets:users-table:manage" in message
    slugs = data(graphql(url, query, token(url), {"id": "user_alice"}))["effectivePermissions"]
    assert {"slug": "widgets:users-table:manage"} in slugs
    assert data(graphql(url, query, token(url), {"id": "user_bob"}))["effectivePermissions"] == []


def test_sessions_need_a_session_token_and_refuse_widget_tokens(url, state):
    refused = refusal(graphql(url, "{ sessions { id } }", token(url)))
    assert refused == ("UNAUTHENTICATED", "Unauthorized", ["sessions"])
    signed_in = authkit_session(url, state)
    listed = data(
        graphql(
            url,
            "{ sessions { id isCurrent organizationId state { tag } } }",
            signed_in["access_token"],
        )
    )["sessions"]
    assert len(listed) == 1
    assert listed[0]["isCurrent"] is True and listed[0]["organizationId"] == "org_acme"
    assert listed[0]["state"] == {"tag": "active"}


# -- mutations -------------------------------------------------------------------------------


def test_admin_changes_a_members_role_and_it_applies_to_tokens_already_issued(url):
    bob = token(url, "user_bob")
    assert refusal(graphql(url, REMOVE, bob, {"userId": "user_alice"}))[0] == "FORBIDDEN"
    answer = data(
        graphql(url, UPDATE_ROLE, token(url), {"userId": "user_bob", "roleSlugs": ["admin"]})
    )
    assert answer["updateMemberRole"] == {
        "__typename": "MemberRoleUpdated",
        "member": {"id": "user_bob", "roles": [{"slug": "admin"}]},
    }
    # Permissions follow the current role, so bob's token may now manage members.
    again = data(graphql(url, UPDATE_ROLE, bob, {"userId": "user_bob", "roleSlugs": ["member"]}))
    assert again["updateMemberRole"]["__typename"] == "MemberRoleUpdated"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"userId": "user_bob", "roleSlugs": ["owner", "member", "ghost"]},
            {"__typename": "RoleNotFound", "roleSlugs": ["owner", "ghost"]},
        ),
        (
            {"userId": "user_carol", "roleSlugs": ["admin"]},
            {"__typename": "MemberNotFound", "userId": "user_carol"},
        ),
    ],
)
def test_update_member_role_result_variants(url, state, variables, expected):
    answer = data(graphql(url, UPDATE_ROLE, token(url), variables))
    assert answer["updateMemberRole"] == expected
    assert state.membership("user_bob", "org_acme").role == "member"


def test_update_member_role_needs_a_role(url):
    variables = {"userId": "user_bob", "roleSlugs": []}
    assert refusal(graphql(url, UPDATE_ROLE, token(url), variables))[0] == "BAD_USER_INPUT"


def test_member_cannot_change_roles_forbidden_and_nothing_changes(url, state):
    variables = {"userId": "user_bob", "roleSlugs": ["admin"]}
    code, message, path = refusal(graphql(url, UPDATE_ROLE, token(url, "user_bob"), variables))
    assert (code, path) == ("FORBIDDEN", ["updateMemberRole"])
    assert message == (
        "Forbidden: this needs the widgets:users-table:manage permission, "
        "which the role 'member' does not grant."
    )
    assert state.membership("user_bob", "org_acme").role == "member"


def test_admin_removes_a_member_whose_token_then_stops_working(url, state):
    bob = token(url, "user_bob")
    answer = data(graphql(url, REMOVE, token(url), {"userId": "user_bob"}))
    assert answer["removeMember"] == {"__typename": "MemberRemoved", "userId": "user_bob"}
    assert state.membership("user_bob", "org_acme") is None
    assert [m["id"] for m in members(url, token(url))["data"]] == ["user_alice"]
    assert refusal(graphql(url, "{ me { id } }", bob))[:2] == ("UNAUTHENTICATED", "Unauthorized")
    again = data(graphql(url, REMOVE, token(url), {"userId": "user_bob"}))["removeMember"]
    assert again == {"__typename": "MemberNotFound", "userId": "user_bob"}


def test_another_organizations_admin_cannot_reach_this_organizations_members(url, state):
    globex_admin = token(url, "user_bob", "org_globex")
    answer = data(graphql(url, REMOVE, globex_admin, {"userId": "user_alice"}))["removeMember"]
    assert answer == {"__typename": "MemberNotFound", "userId": "user_alice"}
    assert state.membership("user_alice", "org_acme") is not None
    query = '{ organization(id: "org_acme") { id } }'
    assert refusal(graphql(url, query, globex_admin))[0] == "FORBIDDEN"


def test_invite_user_creates_an_invited_member(url, state):
    variables = {"email": "dave@acme.com", "roleSlug": None, "days": 3}
    answer = data(graphql(url, INVITE, token(url), variables))["inviteUser"]
    invitation = answer.pop("invitation")
    assert answer == {"__typename": "UserInvited"}
    assert invitation["email"] == "dave@acme.com" and invitation["roleSlug"] == "member"
    assert invitation["status"] == "Pending"
    assert invitation["expiresAt"] > invitation["createdAt"]
    invited = [m for m in members(url, token(url))["data"] if m["email"] == "dave@acme.com"]
    assert [(m["status"], m["roles"][0]["slug"]) for m in invited] == [("Invited", "member")]
    again = data(graphql(url, INVITE, token(url), {"email": "dave@acme.com"}))["inviteUser"]
    assert again == {"__typename": "InviteeAlreadyInvited", "email": "dave@acme.com"}


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        (
            {"email": "alice@acme.com"},
            {"__typename": "InviteeAlreadyMember", "email": "alice@acme.com"},
        ),
        ({"email": "not-an-email"}, {"__typename": "InvalidInviteeEmail", "email": "not-an-email"}),
        (
            {"email": "e@acme.com", "roleSlug": "owner"},
            {"__typename": "InvalidInviteeRole", "roleSlug": "owner"},
        ),
        ({"email": "e@acme.com", "days": 31}, {"__typename": "InvalidInvitationExpiry"}),
    ],
)
def test_invite_user_result_variants(url, variables, expected):
    answer = data(graphql(url, INVITE, token(url), variables))["inviteUser"]
    assert answer == expected


def test_invite_user_is_forbidden_to_a_member(url):
    code, _, path = refusal(graphql(url, INVITE, token(url, "user_bob"), {"email": "x@acme.com"}))
    assert (code, path) == ("FORBIDDEN", ["inviteUser"])


def test_revoke_session_ends_the_users_authkit_session(url, state):
    signed_in = authkit_session(url, state)
    [session] = data(graphql(url, "{ sessions { id } }", signed_in["access_token"]))["sessions"]
    answer = data(graphql(url, REVOKE, token(url), {"id": session["id"]}))["revokeSession"]
    assert answer == {
        "__typename": "SessionRevoked",
        "session": {"id": session["id"], "isCurrent": False, "state": {"tag": "revoked"}},
    }
    refreshed = requests.post(
        f"{url}/user_management/authenticate",
        timeout=5,
        json={
            "client_id": "client_emulator",
            "client_secret": KEY,
            "grant_type": "refresh_token",
            "refresh_token": signed_in["refresh_token"],
        },
    )
    assert refreshed.status_code == 400
    again = data(graphql(url, REVOKE, token(url), {"id": session["id"]}))["revokeSession"]
    assert again == {"__typename": "SessionNotFound", "sessionId": session["id"]}


def test_revoke_session_of_another_user_or_unknown_is_not_found(url, state):
    authkit_session(url, state, "user_carol")
    [carols] = [s.id for s in state.sessions.values() if s.user_id == "user_carol"]
    for target in (carols, "session_unknown"):
        answer = data(graphql(url, REVOKE, token(url), {"id": target}))["revokeSession"]
        assert answer == {"__typename": "SessionNotFound", "sessionId": target}
    session = state.sessions[carols]
    assert state.refresh_tokens.get(session.refresh_token) == carols  # still signed in


def test_mutations_fire_the_same_events_as_the_rest_routes(url, state):
    alice = token(url)
    authkit_session(url, state)
    [session_id] = state.sessions
    graphql(url, UPDATE_ROLE, alice, {"userId": "user_bob", "roleSlugs": ["admin"]})
    graphql(url, INVITE, alice, {"email": "erin@acme.com"})
    graphql(url, REMOVE, alice, {"userId": "user_bob"})
    graphql(url, REVOKE, alice, {"id": session_id})
    events = [
        (kind, data.get("user_id"), data.get("status"), data.get("role"))
        for kind, data in fired(url)
    ]
    erin = state.user_by_email("erin@acme.com").id
    assert events == [
        ("session.created", "user_alice", "active", None),
        ("organization_membership.updated", "user_bob", "active", {"slug": "admin"}),
        ("user.created", None, None, None),
        ("organization_membership.created", erin, "pending", {"slug": "member"}),
        ("organization_membership.deleted", "user_bob", "active", {"slug": "admin"}),
        ("session.revoked", "user_alice", "revoked", None),
    ]


def test_mutation_without_a_token_is_unauthenticated(url, state):
    response = graphql(url, REMOVE, None, {"userId": "user_bob"})
    assert refusal(response) == ("UNAUTHENTICATED", "Unauthorized", ["removeMember"])
    assert state.membership("user_bob", "org_acme") is not None
