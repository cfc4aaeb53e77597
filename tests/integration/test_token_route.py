"""GET /api/graphql-token and friends against the emulator: every status of
docs/reference/http-api.md."""

import time
from datetime import datetime

import jwt
import pytest

from devstack.control_client import MINT
from service import components
from tests.seed_names import ACME, ALICE, BOB, GLOBEX


@pytest.fixture
def alice(browser):
    browser.sign_in(ALICE)
    return browser


def test_token_shape_and_headers(alice):
    response = alice.token()
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"token", "expires_at", "expires_in", "organization_id"}
    assert body["organization_id"] == ACME
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == "user_alice" and claims["org_id"] == ACME
    assert 290 <= body["expires_in"] <= 300
    expires_at = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs(expires_at.timestamp() - time.time() - body["expires_in"]) < 2
    assert body["expires_at"].endswith("Z")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    assert "Cookie" in response.headers["Vary"]


def test_cache_hit_makes_no_second_call(alice, emulator):
    first = alice.token().json
    second = alice.token().json
    assert first["token"] == second["token"]
    assert emulator.count(MINT) == 1


def test_a_miss_names_its_workos_time_and_a_hit_does_not(alice, emulator):
    emulator.set_latency(30)
    miss, hit = alice.token(), alice.token()
    name, _, duration = miss.headers["Server-Timing"].partition(";dur=")
    # The service's own timing of its one WorkOS call: at least the emulator's 30 ms.
    assert name == "workos" and 30 <= float(duration) < 5000
    assert "Server-Timing" not in hit.headers


def test_anonymous_is_401_json(client):
    response = client.get("/api/graphql-token", headers={"X-CSRF": "1"})
    assert response.status_code == 401
    assert response.json["error"] == "unauthenticated"
    assert response.json["request_id"] == response.headers["X-Request-ID"]


def test_missing_csrf_header_is_403(alice):
    response = alice.client.get("/api/graphql-token")
    assert response.status_code == 403 and response.json["error"] == "csrf_required"


def test_second_sign_in_mints_its_own_token(app, emulator):
    from tests.conftest import Browser

    one, two = Browser(app.test_client(), emulator), Browser(app.test_client(), emulator)
    one.sign_in(ALICE)
    two.sign_in(ALICE)
    assert one.token().json["token"] != two.token().json["token"]
    assert emulator.count(MINT) == 2


@pytest.mark.parametrize(
    "status, headers, expected, code, retry_after",
    [
        (401, None, 502, "upstream_misconfigured", None),
        (403, None, 502, "upstream_misconfigured", None),
        (400, None, 403, "not_a_member", None),
        (404, None, 403, "not_a_member", None),
        (422, None, 403, "not_a_member", None),
        (429, {"Retry-After": "7"}, 503, "upstream_unavailable", "7"),
        (500, None, 503, "upstream_unavailable", "1"),
        (503, None, 503, "upstream_unavailable", "1"),
    ],
)
def test_upstream_status_mapping(alice, emulator, status, headers, expected, code, retry_after):
    emulator.hook("POST", "/client/token", status, body={"message": "nope"}, headers=headers)
    response = alice.token()
    assert response.status_code == expected
    assert response.json["error"] == code
    assert response.headers.get("Retry-After") == retry_after


def test_body_that_is_not_a_token_is_502(alice, emulator):
    emulator.hook("POST", "/client/token", 201, body={"tokens": "x"})
    response = alice.token()
    assert response.status_code == 502 and response.json["error"] == "upstream_error"


def test_membership_removed_gives_not_a_member_then_no_organization(alice, emulator):
    emulator.remove_membership("user_alice", ACME)
    response = alice.token()
    assert response.status_code == 403 and response.json["error"] == "not_a_member"
    again = alice.token()
    assert again.status_code == 403 and again.json["error"] == "no_organization"


def test_session_route(alice):
    response = alice.client.get("/api/session", headers={"X-CSRF": "1"})
    assert response.status_code == 200
    body = response.json
    assert body["user"]["email"] == ALICE
    assert body["organization"] == {"id": ACME, "name": "Acme Corp"}
    assert 43000 < body["expires_in"] <= 43200
    assert alice.client.get("/api/session").status_code == 403


def test_organization_switch_evicts_and_re_mints(browser, emulator, app):
    browser.sign_in(BOB)
    browser.client.get("/login/organization")
    with browser.client.session_transaction() as s:
        csrf = s["csrf_token"]
    browser.client.post("/login/organization", data={"organization_id": GLOBEX, "csrf_token": csrf})
    globex = browser.token().json
    assert globex["organization_id"] == GLOBEX
    switch = browser.client.post(
        "/api/organization", json={"organization_id": ACME}, headers={"X-CSRF": "1"}
    )
    assert switch.status_code == 200 and switch.json == {"organization_id": ACME}
    acme = browser.token().json
    assert acme["organization_id"] == ACME and acme["token"] != globex["token"]
    assert emulator.count(MINT) == 2
    assert len(components.of(app).tokens) == 1  # the Globex token was evicted


@pytest.mark.parametrize(
    "body", [None, {}, {"organization_id": 5}, {"organization_id": ""}, ["org_acme"]]
)
def test_organization_switch_bad_body(alice, body):
    response = alice.client.post("/api/organization", json=body, headers={"X-CSRF": "1"})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_organization_switch_to_a_foreign_org(alice):
    response = alice.client.post(
        "/api/organization", json={"organization_id": GLOBEX}, headers={"X-CSRF": "1"}
    )
    assert response.status_code == 403 and response.json["error"] == "not_a_member"
    assert alice.token().json["organization_id"] == ACME


def test_organization_switch_needs_csrf(alice):
    response = alice.client.post("/api/organization", json={"organization_id": ACME})
    assert response.status_code == 403 and response.json["error"] == "csrf_required"


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_unknown_route_and_method_are_json_on_api(client):
    assert client.get("/api/nope").json["error"] == "not_found"
    response = client.post("/api/graphql-token")
    assert response.status_code == 405 and response.json["error"] == "method_not_allowed"


def test_organization_switch_without_javascript(browser, emulator):
    """The switcher is a real form too: POST /organization with the form's CSRF token."""
    browser.sign_in(BOB)
    browser.client.get("/login/organization")
    with browser.client.session_transaction() as s:
        csrf = s["csrf_token"]
    browser.client.post("/login/organization", data={"organization_id": GLOBEX, "csrf_token": csrf})
    page = browser.client.get("/")
    assert b'action="/organization"' in page.data
    csrf = browser.csrf()  # sign-in made a fresh session, with a fresh token
    assert browser.client.post("/organization", data={"organization_id": ACME}).status_code == 403
    foreign = browser.client.post(
        "/organization", data={"organization_id": "org_other", "csrf_token": csrf}
    )
    assert foreign.status_code == 403 and b"not_a_member" in foreign.data
    switched = browser.client.post(
        "/organization", data={"organization_id": ACME, "csrf_token": csrf}
    )
    assert switched.status_code == 303 and switched.headers["Location"] == "/"
    assert browser.token().json["organization_id"] == ACME
