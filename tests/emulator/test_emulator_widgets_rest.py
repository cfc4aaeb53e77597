"""The emulator's widget tokens and Widgets REST API (`/_widgets/*`) over a real socket.

What each route does and who may call it; the answer shapes against the package's types are
tests/emulator/test_widgets_rest_conformance.py's to check.
"""

from __future__ import annotations

import jwt
import pytest
import requests

from emulator.widgets_security import TOTP_STEP, totp
from tests.emulator.conftest import APP_ORIGIN
from tests.emulator.test_emulator_client_api import KEY, token
from tests.emulator.test_emulator_events import fired
from tests.emulator.test_emulator_widgets_api import authkit_session

MANAGE = "widgets:users-table:manage"


def widget_token(
    url: str, user_id: str = "user_alice", org_id: str | None = "org_acme", scopes=(MANAGE,)
):
    body: dict = {"user_id": user_id}
    if org_id is not None:
        body["organization_id"] = org_id
    if scopes:
        body["scopes"] = list(scopes)
    response = requests.post(
        f"{url}/widgets/token", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def call(url: str, method: str, path: str, bearer: str | None, **kwargs) -> requests.Response:
    headers = {"WorkOS-Widgets-Version": "1", "Content-Type": "application/json"}
    headers |= kwargs.pop("headers", {})
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    return requests.request(method, f"{url}/_widgets/{path}", headers=headers, timeout=5, **kwargs)


def ok(response: requests.Response) -> dict:
    assert 200 <= response.status_code < 300, (response.status_code, response.text)
    return response.json()


def claims(token_: str) -> dict:
    return jwt.decode(token_, options={"verify_signature": False})


# -- POST /widgets/token ---------------------------------------------------------------------


def test_widget_token_scopes_are_narrowed_to_the_users_role(url):
    assert claims(widget_token(url))["permissions"] == [MANAGE]
    # bob is a plain member of Acme: the scope is asked for and dropped.
    bob = claims(widget_token(url, "user_bob", "org_acme"))
    assert bob["permissions"] == [] and bob["org_id"] == "org_acme" and "sid" not in bob
    assert claims(widget_token(url, "user_bob", "org_globex"))["permissions"] == [MANAGE]


def test_widget_token_lives_an_hour_unless_configured(url, state):
    alice = claims(widget_token(url))
    assert alice["exp"] - alice["iat"] == 3600
    state.settings.widget_token_ttl = 60
    alice = claims(widget_token(url))
    assert alice["exp"] - alice["iat"] == 60


def test_user_only_widget_token_has_no_organization(url):
    carol = claims(widget_token(url, "user_carol", None, scopes=()))
    assert carol["sub"] == "user_carol" and "org_id" not in carol and carol["permissions"] == []


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"user_id": "user_alice", "scopes": [MANAGE]}, 400, "organization_id is required"),
        ({"user_id": "user_alice", "organization_id": "org_acme", "scopes": ["x"]}, 400, "unknown"),
        ({"user_id": 5}, 400, "user_id"),
        ({"user_id": "user_nobody"}, 404, "User not found"),
        ({"user_id": "user_alice", "organization_id": "org_none"}, 404, "Organization not found"),
        ({"user_id": "user_alice", "organization_id": "org_globex"}, 422, "not an active member"),
    ],
)
def test_widget_token_refusals(url, body, status, needle):
    response = requests.post(
        f"{url}/widgets/token", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
    )
    assert response.status_code == status, response.text
    message = response.json()["message"]
    # Validation failures carry a list of messages, as WorkOS's validation answers do.
    assert needle in (" ".join(message) if status == 400 else message)


def test_widget_token_needs_the_api_key(url):
    response = requests.post(f"{url}/widgets/token", json={"user_id": "user_alice"}, timeout=5)
    assert response.status_code == 401


# -- who may call ----------------------------------------------------------------------------


@pytest.mark.parametrize("bearer", [None, "garbage", "a.b.c"])
def test_missing_or_bad_tokens_get_403_message(url, bearer):
    response = call(url, "GET", "UserProfile/me", bearer)
    assert response.status_code == 403 and set(response.json()) == {"message"}


def test_an_expired_token_gets_403(url, clock):
    alice = widget_token(url)
    assert call(url, "GET", "UserProfile/me", alice).status_code == 200
    clock.advance(3601)
    assert call(url, "GET", "UserProfile/me", alice).status_code == 403


def test_every_kind_of_token_the_emulator_mints_is_accepted(url, state):
    access = authkit_session(url, state)["access_token"]
    for bearer in (widget_token(url), token(url), access):
        assert ok(call(url, "GET", "UserProfile/me", bearer))["email"] == "alice@acme.com"


def test_user_only_token_reaches_user_routes_only(url):
    carol = widget_token(url, "user_carol", None, scopes=())
    assert ok(call(url, "GET", "UserProfile/me", carol))["id"] == "user_carol"
    assert ok(call(url, "GET", "UserManagement/organizations", carol)) == {"data": []}
    assert call(url, "GET", "UserManagement/members", carol).status_code == 403


def test_member_management_needs_the_scope_and_the_role(url, state):
    unscoped = widget_token(url, scopes=())
    assert call(url, "GET", "UserManagement/members", unscoped).status_code == 403
    scoped = widget_token(url)
    assert call(url, "GET", "UserManagement/members", scoped).status_code == 200
    # A role change applies to tokens already issued.
    state.memberships["om_alice_acme"].role = "member"
    assert call(url, "GET", "UserManagement/members", scoped).status_code == 403


def test_a_removed_member_token_stops_working(url, state):
    bob = widget_token(url, "user_bob", "org_globex")
    ok(call(url, "DELETE", "UserManagement/members/user_bob", widget_token(url)))
    assert call(url, "GET", "UserProfile/me", widget_token(url, "user_bob", "org_globex")).ok
    assert ok(call(url, "GET", "UserProfile/me", bob))["id"] == "user_bob"  # Globex still


def test_cors_preflight_for_allowed_origins_only(url):
    headers = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization,x-elevated-access-token",
    }
    response = requests.options(
        f"{url}/_widgets/UserManagement/members/user_bob", headers=headers, timeout=5
    )
    assert response.status_code < 300
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "DELETE" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    for name in ("authorization", "content-type", "workos-widgets-type", "x-elevated-access-token"):
        assert name in allowed
    foreign = requests.options(
        f"{url}/_widgets/UserProfile/me",
        headers={**headers, "Origin": "http://evil.test"},
        timeout=5,
    )
    assert foreign.status_code == 403 and "Access-Control-Allow-Origin" not in foreign.headers
    answer = call(url, "GET", "UserProfile/me", widget_token(url), headers={"Origin": APP_ORIGIN})
    assert answer.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


# -- UsersManagement -------------------------------------------------------------------------


def test_members_lists_active_and_invited_with_actions(url, state):
    alice = widget_token(url)
    ok(
        call(
            url,
            "POST",
            "UserManagement/invite-user",
            alice,
            json={"email": "dan@acme.com", "roles": ["member"]},
        )
    )
    page = ok(call(url, "GET", "UserManagement/members", alice))
    by_email = {m["email"]: m for m in page["data"]}
    assert set(by_email) == {"alice@acme.com", "bob@globex.com", "dan@acme.com"}
    assert by_email["alice@acme.com"]["isLoggedInUser"] is True
    assert by_email["alice@acme.com"]["actions"] == []
    assert by_email["bob@globex.com"]["actions"] == ["edit-role", "revoke-membership"]
    assert by_email["dan@acme.com"]["status"] == "Invited"
    assert by_email["dan@acme.com"]["actions"] == ["resend-invite", "revoke-invite"]
    assert page["list_metadata"] == {"before": None, "after": None}


def test_members_page_and_search(url):
    alice = widget_token(url)
    first = ok(call(url, "GET", "UserManagement/members", alice, params={"limit": "1"}))
    assert len(first["data"]) == 1 and first["list_metadata"]["after"] == first["data"][0]["id"]
    second = ok(
        call(
            url,
            "GET",
            "UserManagement/members",
            alice,
            params={"limit": "1", "after": first["list_metadata"]["after"]},
        )
    )
    assert second["data"][0]["id"] != first["data"][0]["id"]
    assert second["list_metadata"]["before"] == second["data"][0]["id"]
    found = ok(call(url, "GET", "UserManagement/members", alice, params={"search": "BROWN"}))
    assert [m["id"] for m in found["data"]] == ["user_bob"]
    assert (
        call(url, "GET", "UserManagement/members", alice, params={"limit": "0"}).status_code == 400
    )


def test_role_change_and_removal_fire_membership_events(url):
    alice = widget_token(url)
    assert ok(
        call(url, "POST", "UserManagement/members/user_bob", alice, json={"roles": ["admin"]})
    ) == {
        "id": "user_bob",
        "success": True,
    }
    assert (
        call(
            url, "POST", "UserManagement/members/user_bob", alice, json={"roles": ["nope"]}
        ).status_code
        == 422
    )
    assert (
        call(
            url, "POST", "UserManagement/members/user_carol", alice, json={"roles": ["admin"]}
        ).status_code
        == 404
    )
    ok(call(url, "DELETE", "UserManagement/members/user_bob", alice))
    assert call(url, "DELETE", "UserManagement/members/user_alice", alice).status_code == 400
    events = [
        (kind, data["user_id"])
        for kind, data in fired(url)
        if kind.startswith("organization_membership")
    ]
    assert events == [
        ("organization_membership.updated", "user_bob"),
        ("organization_membership.deleted", "user_bob"),
    ]


def test_invitations_resend_and_revoke(url, state):
    alice = widget_token(url)
    invite = {"email": "erin@acme.com", "firstName": "Erin", "roles": []}
    assert call(url, "POST", "UserManagement/invite-user", alice, json=invite).status_code == 201
    assert call(url, "POST", "UserManagement/invite-user", alice, json=invite).status_code == 400
    erin = state.user_by_email("erin@acme.com")
    assert erin.first_name == "Erin" and state.membership(erin.id, "org_acme").role == "member"
    assert ok(call(url, "POST", f"UserManagement/invites/{erin.id}/resend", alice))["success"]
    ok(call(url, "DELETE", f"UserManagement/invites/{erin.id}", alice))
    assert state.membership(erin.id, "org_acme") is None
    assert call(url, "DELETE", f"UserManagement/invites/{erin.id}", alice).status_code == 404
    bad = {"email": "not an email", "roles": ["member"]}
    assert call(url, "POST", "UserManagement/invite-user", alice, json=bad).status_code == 400


def test_roles_and_organizations(url):
    bob = widget_token(url, "user_bob", "org_globex")
    config = ok(call(url, "GET", "UserManagement/roles-and-config", bob))
    assert config["multipleRolesEnabled"] is False
    assert [(r["slug"], r["default"]) for r in config["roles"]] == [
        ("admin", False),
        ("member", True),
    ]
    assert ok(call(url, "GET", "UserManagement/roles", bob)) == config["roles"]
    orgs = ok(call(url, "GET", "UserManagement/organizations", bob))["data"]
    assert [(o["id"], o["current"]) for o in orgs] == [("org_acme", False), ("org_globex", True)]


# -- UserProfile and UserSecurity -------------------------------------------------------------


def test_profile_update_fires_user_updated(url, state):
    alice = widget_token(url, scopes=())
    me = ok(
        call(url, "POST", "UserProfile/me", alice, json={"firstName": "Alicia", "locale": "fr"})
    )
    assert (me["firstName"], me["lastName"], me["locale"]) == ("Alicia", "Anders", "fr")
    assert state.users["user_alice"].first_name == "Alicia"
    assert [kind for kind, _ in fired(url)] == ["user.updated"]
    assert call(url, "POST", "UserProfile/me", alice, json={"firstName": 3}).status_code == 400


def elevate(url: str, bearer: str, state) -> str:
    challenge = ok(call(url, "POST", "UserProfile/send-verification", bearer))[
        "authenticationChallenge"
    ]
    [sent] = requests.get(f"{url}/_emulate/widgets/verifications", timeout=5).json()[
        "verifications"
    ]
    assert sent["authentication_challenge_id"] == challenge
    wrong = {
        "code": "000000" if sent["code"] != "000000" else "111111",
        "authenticationChallengeId": challenge,
    }
    assert call(url, "POST", "UserProfile/verify", bearer, json=wrong).status_code == 400
    body = {"code": sent["code"], "authenticationChallengeId": challenge}
    answer = ok(call(url, "POST", "UserProfile/verify", bearer, json=body))
    # A code works once.
    assert call(url, "POST", "UserProfile/verify", bearer, json=body).status_code == 400
    return answer["elevatedAccessToken"]


def test_passwords_need_elevated_access(url, state, clock):
    alice = widget_token(url, scopes=())
    info = ok(call(url, "GET", "UserProfile/authentication-information", alice))["data"]
    assert info["verificationMethods"]["Password"]["isSetUp"] is False
    assert (
        call(
            url, "POST", "UserProfile/create-password", alice, json={"password": "correct horse"}
        ).status_code
        == 403
    )
    elevated = {"X-Elevated-Access-Token": elevate(url, alice, state)}
    weak = call(
        url,
        "POST",
        "UserProfile/create-password",
        alice,
        json={"password": "short"},
        headers=elevated,
    )
    assert weak.status_code == 400 and weak.json()["code"] == "password_strength_error"
    assert weak.json()["errors"][0]["code"] == "password_too_short"
    created = call(
        url,
        "POST",
        "UserProfile/create-password",
        alice,
        json={"password": "correct horse"},
        headers=elevated,
    )
    assert created.status_code == 201
    info = ok(call(url, "GET", "UserProfile/authentication-information", alice))["data"]
    assert info["verificationMethods"]["Password"]["isSetUp"] is True
    change = {"currentPassword": "wrong one", "newPassword": "battery staple"}
    assert (
        call(
            url, "POST", "UserProfile/update-password", alice, json=change, headers=elevated
        ).status_code
        == 400
    )
    change["currentPassword"] = "correct horse"
    assert (
        call(
            url, "POST", "UserProfile/update-password", alice, json=change, headers=elevated
        ).status_code
        == 201
    )
    clock.advance(601)  # elevated access is short-lived
    change = {"currentPassword": "battery staple", "newPassword": "another long one"}
    assert (
        call(
            url, "POST", "UserProfile/update-password", alice, json=change, headers=elevated
        ).status_code
        == 403
    )


def test_email_change_with_its_code(url, state):
    alice = widget_token(url, scopes=())
    elevated = {"X-Elevated-Access-Token": elevate(url, alice, state)}
    taken = call(
        url,
        "POST",
        "UserProfile/send-email-change",
        alice,
        json={"newEmail": "bob@globex.com"},
        headers=elevated,
    )
    assert taken.status_code == 409
    ok(
        call(
            url,
            "POST",
            "UserProfile/send-email-change",
            alice,
            json={"newEmail": "alice@new.example"},
            headers=elevated,
        )
    )
    [sent] = requests.get(f"{url}/_emulate/widgets/verifications", timeout=5).json()[
        "verifications"
    ]
    assert sent["new_email"] == "alice@new.example"
    done = ok(
        call(url, "POST", "UserProfile/verify-email-change", alice, json={"code": sent["code"]})
    )
    assert done["user"]["email"] == "alice@new.example" and done["elevatedAccessToken"]
    assert state.users["user_alice"].email == "alice@new.example"


def test_totp_enrolment_with_a_real_authenticator_code(url, state):
    alice = widget_token(url, scopes=())
    elevated = {"X-Elevated-Access-Token": elevate(url, alice, state)}
    created = ok(call(url, "POST", "UserProfile/create-totp-factor", alice, headers=elevated))
    secret = created["authenticationFactor"]["totp"]["secret"]
    challenge = created["authenticationChallenge"]["id"]
    step = int(state.clock()) // TOTP_STEP
    wrong = f"{(int(totp(secret, step)) + 1) % 10**6:06d}"
    body = {"code": wrong, "authenticationChallengeId": challenge}
    assert call(url, "POST", "UserProfile/verify-totp-factor", alice, json=body).status_code == 400
    body["code"] = totp(secret, step)
    assert ok(call(url, "POST", "UserProfile/verify-totp-factor", alice, json=body)) == {
        "success": True
    }
    info = ok(call(url, "GET", "UserProfile/authentication-information", alice))["data"]
    assert info["verificationMethods"]["Mfa"]["isSetUp"] is True
    ok(call(url, "DELETE", "UserProfile/totp-factors", alice, headers=elevated))
    info = ok(call(url, "GET", "UserProfile/authentication-information", alice))["data"]
    assert info["verificationMethods"]["Mfa"]["isSetUp"] is False


def test_passkeys_say_they_are_not_emulated(url):
    answer = call(url, "POST", "UserProfile/passkeys", widget_token(url, scopes=()))
    assert answer.status_code == 400 and "not available" in answer.json()["message"]


# -- UserSessions ----------------------------------------------------------------------------


def test_sessions_list_and_revoke_fire_session_revoked(url, state):
    first = authkit_session(url, state)
    second = authkit_session(url, state)
    alice = widget_token(url, scopes=())
    ids = [s["id"] for s in ok(call(url, "GET", "UserProfile/sessions", alice))["data"]]
    first_sid, second_sid = (
        claims(first["access_token"])["sid"],
        claims(second["access_token"])["sid"],
    )
    assert ids == [second_sid, first_sid]  # newest first
    ok(call(url, "DELETE", f"UserProfile/sessions/revoke/{first_sid}", alice))
    assert call(url, "DELETE", f"UserProfile/sessions/revoke/{first_sid}", alice).status_code == 400
    assert [kind for kind, _ in fired(url)][-1] == "session.revoked"
    # The revoked session's access token no longer reaches the widgets.
    assert call(url, "GET", "UserProfile/me", first["access_token"]).status_code == 403
    carol_sid = claims(authkit_session(url, state, "user_carol")["access_token"])["sid"]
    assert call(url, "DELETE", f"UserProfile/sessions/revoke/{carol_sid}", alice).status_code == 400


def test_revoke_all_keeps_the_current_session(url, state):
    sids = [claims(authkit_session(url, state)["access_token"])["sid"] for _ in range(3)]
    alice = widget_token(url, scopes=())
    ok(
        call(
            url,
            "DELETE",
            "UserProfile/sessions/revoke-all",
            alice,
            json={"currentSessionId": sids[1]},
        )
    )
    left = [s["id"] for s in ok(call(url, "GET", "UserProfile/sessions", alice))["data"]]
    assert left == [sids[1]]
    assert call(url, "DELETE", "UserProfile/sessions/revoke-all", alice, json={}).status_code == 400


def test_settings(url):
    answer = ok(call(url, "GET", "settings", widget_token(url, "user_carol", None, scopes=())))
    assert answer["object"] == "settings" and answer["authkitOrigin"] == url


def test_sessions_show_the_client_that_signed_in(url, state):
    from emulator import sessions

    code = sessions.issue_code(state, state.users["user_alice"], None)
    body = {
        "client_id": "client_emulator",
        "client_secret": KEY,
        "grant_type": "authorization_code",
        "code": code,
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0",
    }
    assert requests.post(f"{url}/user_management/authenticate", json=body, timeout=5).ok
    [shown] = ok(call(url, "GET", "UserProfile/sessions", widget_token(url, scopes=())))["data"]
    assert (shown["ipAddress"], shown["userAgent"]) == (body["ip_address"], body["user_agent"])
