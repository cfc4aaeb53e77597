"""Emulator events: what each route fires (docs/workos.md#event-types-the-service-applies),
and `GET /events`."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from emulator.basics import iso

KEY = "sk_test_default"
API = {"Authorization": f"Bearer {KEY}"}
EVENT_ID = re.compile(r"^event_[0-9A-Z]{26}$")
SESSION_KEYS = [
    "object",
    "id",
    "user_id",
    "organization_id",
    "status",
    "auth_method",
    "ip_address",
    "user_agent",
    "expires_at",
    "ended_at",
    "created_at",
    "updated_at",
]
MEMBERSHIP_KEYS = [
    "object",
    "id",
    "organization_id",
    "user_id",
    "role",
    "roles",
    "status",
    "custom_attributes",
    "directory_managed",
    "external_id",
    "metadata",
    "created_at",
    "updated_at",
]


def sign_in(url: str, email: str) -> dict:
    """The authenticate answer for email, plus its session id (the token's `sid`)."""
    params = {
        "client_id": "client_emulator",
        "redirect_uri": "http://app.test/callback",
        "response_type": "code",
        "login_hint": email,
    }
    authorized = requests.get(
        f"{url}/user_management/authorize", params=params, allow_redirects=False, timeout=5
    )
    code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
    body = requests.post(
        f"{url}/user_management/authenticate",
        json={
            "client_id": "client_emulator",
            "client_secret": KEY,
            "grant_type": "authorization_code",
            "code": code,
        },
        timeout=5,
    ).json()
    body["sid"] = jwt.decode(body["access_token"], options={"verify_signature": False})["sid"]
    return body


def events(url: str, **params) -> dict:
    response = requests.get(f"{url}/events", params=params, headers=API, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def fired(url: str) -> list[tuple[str, dict]]:
    """(type, data) of every event so far, oldest first."""
    return [(e["event"], e["data"]) for e in events(url, limit=100)["data"]]


def refresh(url: str, token: str) -> requests.Response:
    body = {"client_id": "client_emulator", "client_secret": KEY, "grant_type": "refresh_token"}
    return requests.post(
        f"{url}/user_management/authenticate", json={**body, "refresh_token": token}, timeout=5
    )


# sessions


def test_sign_in_fires_session_created(url):
    body = sign_in(url, "alice@acme.com")
    ((kind, data),) = fired(url)
    assert kind == "session.created" and list(data) == SESSION_KEYS
    assert (data["id"], data["user_id"], data["organization_id"]) == (
        body["sid"],
        "user_alice",
        "org_acme",
    )
    assert (data["status"], data["ended_at"], data["auth_method"]) == ("active", None, "password")


def test_revoke_route_fires_session_revoked_once(url):
    body = sign_in(url, "alice@acme.com")
    revoke = f"{url}/user_management/sessions/revoke"
    answer = requests.post(revoke, json={"session_id": body["sid"]}, headers=API, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"success": True}
    kind, data = fired(url)[-1]
    assert kind == "session.revoked" and list(data) == SESSION_KEYS
    assert data["id"] == body["sid"] and data["status"] == "revoked" and data["ended_at"]
    assert refresh(url, body["refresh_token"]).json()["error"] == "invalid_grant"
    again = requests.post(revoke, json={"session_id": body["sid"]}, headers=API, timeout=5)
    assert again.status_code == 200 and len(fired(url)) == 2  # no second event
    unknown = requests.post(revoke, json={"session_id": "session_x"}, headers=API, timeout=5)
    assert unknown.status_code == 404 and unknown.json()["code"] == "entity_not_found"
    missing = requests.post(revoke, json={}, headers=API, timeout=5)
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_request"
    assert requests.post(revoke, json={"session_id": body["sid"]}, timeout=5).status_code == 401


def test_logout_fires_session_revoked(url):
    body = sign_in(url, "carol@example.com")
    response = requests.get(
        f"{url}/user_management/sessions/logout",
        params={"session_id": body["sid"], "return_to": "http://app.test/"},
        allow_redirects=False,
        timeout=5,
    )
    assert response.status_code == 302
    kind, data = fired(url)[-1]
    assert (kind, data["id"], data["organization_id"]) == ("session.revoked", body["sid"], None)


def test_list_sessions_and_control_revoke_by_email(url):
    first, second = sign_in(url, "alice@acme.com"), sign_in(url, "alice@acme.com")
    sessions = f"{url}/user_management/users/user_alice/sessions"
    listed = requests.get(sessions, headers=API, timeout=5).json()
    assert listed["object"] == "list" and listed["list_metadata"] == {"before": None, "after": None}
    assert [s["id"] for s in listed["data"]] == [second["sid"], first["sid"]]
    assert all(list(s) == SESSION_KEYS for s in listed["data"])
    revoked = requests.post(
        f"{url}/_emulate/sessions/revoke", json={"email": "ALICE@acme.com"}, timeout=5
    ).json()["revoked"]
    assert sorted(revoked) == sorted([first["sid"], second["sid"]])
    assert [e for e, _ in fired(url)].count("session.revoked") == 2
    after = requests.get(sessions, headers=API, timeout=5).json()["data"]
    assert {s["status"] for s in after} == {"revoked"}
    by_id = requests.post(
        f"{url}/_emulate/sessions/revoke", json={"user_id": "user_alice"}, timeout=5
    )
    assert by_id.json() == {"revoked": []}
    control = f"{url}/_emulate/sessions/revoke"
    assert requests.post(control, json={"email": "nobody@x.test"}, timeout=5).status_code == 404
    assert requests.post(control, json={}, timeout=5).status_code == 400
    unknown = requests.get(f"{url}/user_management/users/user_x/sessions", headers=API, timeout=5)
    assert unknown.status_code == 404


# memberships


def test_control_membership_routes_fire_created_updated_deleted(url):
    carol = {"user_id": "user_carol", "organization_id": "org_acme"}
    requests.post(f"{url}/_emulate/memberships", json=carol, timeout=5)
    requests.post(f"{url}/_emulate/memberships", json=carol, timeout=5)  # no change: no event
    requests.post(f"{url}/_emulate/memberships", json={**carol, "status": "inactive"}, timeout=5)
    requests.delete(f"{url}/_emulate/memberships", json=carol, timeout=5)
    kinds = [(e, d["status"]) for e, d in fired(url)]
    assert kinds == [
        ("organization_membership.created", "active"),
        ("organization_membership.updated", "inactive"),
        ("organization_membership.deleted", "inactive"),
    ]
    data = fired(url)[0][1]
    assert list(data) == MEMBERSHIP_KEYS and data["role"] == {"slug": "member"}
    assert (data["user_id"], data["organization_id"]) == ("user_carol", "org_acme")


def test_rest_deactivate_reactivate_and_delete_membership(url):
    base = f"{url}/user_management/organization_memberships/om_alice_acme"
    off = requests.put(f"{base}/deactivate", headers=API, timeout=5)
    assert off.status_code == 200 and off.json()["status"] == "inactive"
    assert off.json()["object"] == "organization_membership" and "user" in off.json()
    assert requests.put(f"{base}/deactivate", headers=API, timeout=5).status_code == 422
    on = requests.put(f"{base}/reactivate", headers=API, timeout=5)
    assert on.status_code == 200 and on.json()["status"] == "active"
    assert requests.delete(base, headers=API, timeout=5).status_code == 204
    assert requests.delete(base, headers=API, timeout=5).status_code == 404
    assert requests.put(f"{base}/reactivate", headers=API, timeout=5).status_code == 404
    assert [(e, d["id"], d["status"]) for e, d in fired(url)] == [
        ("organization_membership.updated", "om_alice_acme", "inactive"),
        ("organization_membership.updated", "om_alice_acme", "active"),
        ("organization_membership.deleted", "om_alice_acme", "active"),
    ]


# users and organizations


def test_delete_user_revokes_sessions_removes_memberships_then_fires_user_deleted(url):
    body = sign_in(url, "alice@acme.com")
    response = requests.delete(f"{url}/user_management/users/user_alice", headers=API, timeout=5)
    assert response.status_code == 204
    assert [(e, d["id"]) for e, d in fired(url)] == [
        ("session.created", body["sid"]),
        ("session.revoked", body["sid"]),
        ("organization_membership.deleted", "om_alice_acme"),
        ("user.deleted", "user_alice"),
    ]
    user = fired(url)[-1][1]
    assert user["object"] == "user" and user["email"] == "alice@acme.com"
    assert (
        requests.get(f"{url}/user_management/users/user_alice", headers=API, timeout=5).status_code
        == 404
    )
    assert refresh(url, body["refresh_token"]).status_code == 400
    again = requests.delete(f"{url}/user_management/users/user_alice", headers=API, timeout=5)
    assert again.status_code == 404


def test_delete_organization_removes_memberships_then_fires_organization_deleted(url):
    response = requests.delete(f"{url}/organizations/org_globex", headers=API, timeout=5)
    assert response.status_code == 204
    assert [(e, d["id"]) for e, d in fired(url)] == [
        ("organization_membership.deleted", "om_bob_globex"),
        ("organization.deleted", "org_globex"),
    ]
    org = fired(url)[-1][1]
    assert org["object"] == "organization" and org["name"] == "Globex"
    assert (
        requests.get(f"{url}/organizations/org_globex", headers=API, timeout=5).status_code == 404
    )
    bob = requests.get(
        f"{url}/user_management/organization_memberships",
        params={"user_id": "user_bob"},
        headers=API,
        timeout=5,
    ).json()["data"]
    assert [m["organization_id"] for m in bob] == ["org_acme"]
    assert (
        requests.delete(f"{url}/organizations/org_globex", headers=API, timeout=5).status_code
        == 404
    )


# GET /events


@pytest.fixture
def five(state, clock):
    """Five events ten seconds apart: (ids oldest first, their epoch seconds)."""
    kinds = [
        "session.created",
        "user.deleted",
        "session.revoked",
        "user.deleted",
        "organization.deleted",
    ]
    made = []
    with state.lock:
        for n, kind in enumerate(kinds):
            made.append(state.events.emit(kind, {"n": n}, "org_acme" if n % 2 == 0 else None))
            clock.advance(10)
    return [e.id for e in made], [e.at for e in made]


def test_events_envelope_and_default_order(url, five):
    ids, _ = five
    body = events(url)
    assert body["object"] == "list" and [e["id"] for e in body["data"]] == ids
    assert body["list_metadata"] == {"before": None, "after": None}
    first = body["data"][0]
    assert list(first) == ["object", "id", "event", "data", "created_at"]
    assert first["object"] == "event" and EVENT_ID.match(first["id"])
    assert [e["id"] for e in events(url, order="desc")["data"]] == ids[::-1]


def test_events_type_filter_in_both_encodings(url, five):
    ids, _ = five
    sdk = events(url, events=["user.deleted", "organization.deleted"])  # events=a&events=b
    official = events(url, **{"events[]": "user.deleted"})
    commas = events(url, events="session.created,session.revoked")
    assert [e["id"] for e in sdk["data"]] == [ids[1], ids[3], ids[4]]
    assert [e["id"] for e in official["data"]] == [ids[1], ids[3]]
    assert [e["id"] for e in commas["data"]] == [ids[0], ids[2]]


def test_events_cursors_and_limit(url, five):
    ids, _ = five
    page = events(url, limit=2)
    assert [e["id"] for e in page["data"]] == ids[:2]
    assert page["list_metadata"] == {"before": None, "after": ids[1]}
    page = events(url, limit=2, after=ids[1])
    assert [e["id"] for e in page["data"]] == ids[2:4]
    assert page["list_metadata"] == {"before": ids[2], "after": ids[3]}
    assert [e["id"] for e in events(url, after=ids[4])["data"]] == []
    back = events(url, limit=2, before=ids[4])
    assert [e["id"] for e in back["data"]] == ids[2:4]
    newest_first = events(url, order="desc", limit=2, after=ids[3])
    assert [e["id"] for e in newest_first["data"]] == [ids[2], ids[1]]
    assert [e["id"] for e in events(url, after=ids[0], before=ids[3])["data"]] == ids[1:3]


def test_events_range_and_organization(url, five):
    ids, at = five
    ranged = events(url, range_start=iso(at[1] - 1), range_end=iso(at[3] + 1))
    assert [e["id"] for e in ranged["data"]] == ids[1:4]
    assert [e["id"] for e in events(url, organization_id="org_acme")["data"]] == ids[::2]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "x"},
        {"order": "up"},
        {"after": "om_alice_acme"},
        {"range_start": "yesterday"},
    ],
)
def test_events_bad_parameters_are_422(url, params):
    response = requests.get(f"{url}/events", params=params, headers=API, timeout=5)
    assert response.status_code == 422 and response.json()["code"] == "invalid_request_parameters"


def test_event_ids_sort_in_creation_order_within_one_millisecond(state, clock):
    with state.lock:
        made = [state.events.emit("user.deleted", {}) for _ in range(200)]
    ids = [e.id for e in made]
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert all(EVENT_ID.match(i) for i in ids)
