"""GET /api/widget-token against the emulator: scopes, user-only tokens, the cache and its ends."""

import threading

import jwt
import pytest
import requests

from tests.seed_names import ACME, ALICE, BOB, CAROL, GLOBEX

WIDGET_MINT = "POST /widgets/token"
MANAGE = "widgets:users-table:manage"


def widget(browser, scopes: str | None = MANAGE, **headers):
    query = "" if scopes is None else f"?scopes={scopes}"
    return browser.client.get(f"/api/widget-token{query}", headers={"X-CSRF": "1", **headers})


def claims(body: dict) -> dict:
    return jwt.decode(body["token"], options={"verify_signature": False})


@pytest.fixture
def alice(browser):
    browser.sign_in(ALICE)
    return browser


def test_widget_token_for_the_asked_scopes(alice):
    response = widget(alice)
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"token", "expires_at", "expires_in", "organization_id", "scopes"}
    assert body["organization_id"] == ACME and body["scopes"] == [MANAGE]
    assert claims(body)["permissions"] == [MANAGE] and claims(body)["org_id"] == ACME
    # WorkOS documents widget tokens as living an hour.
    assert 3590 <= body["expires_in"] <= 3600
    assert response.headers["Cache-Control"] == "no-store" and "Cookie" in response.headers["Vary"]


def test_scopes_not_offered_are_refused_before_any_call(alice, emulator):
    response = widget(alice, "widgets:sso:manage")
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"
    assert emulator.count(WIDGET_MINT) == 0


def test_offered_scopes_follow_the_setting(make_app, emulator):
    from tests.conftest import Browser

    browser = Browser(make_app(WIDGET_TOKEN_SCOPES="none").test_client(), emulator)
    browser.sign_in(ALICE)
    assert widget(browser).json["error"] == "invalid_scope"
    assert widget(browser, None).status_code == 200


def test_cached_per_scopes_and_apart_from_the_graphql_token(alice, emulator):
    scoped, again = widget(alice).json, widget(alice).json
    plain = widget(alice, None).json
    # Space- or comma-separated, in any order: one key.
    assert widget(alice, f"{MANAGE},{MANAGE}").json["token"] == scoped["token"]
    assert again["token"] == scoped["token"] and plain["token"] != scoped["token"]
    assert claims(plain)["permissions"] == [] and plain["scopes"] == []
    graphql = alice.token().json
    assert graphql["token"] not in (scoped["token"], plain["token"])
    assert emulator.count(WIDGET_MINT) == 2 and emulator.count("POST /client/token") == 1


def test_concurrent_misses_mint_once(alice, emulator):
    emulator.set_latency(200)
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(widget(alice).json)) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({a["token"] for a in answers}) == 1
    assert emulator.count(WIDGET_MINT) == 1


def test_user_without_organization_gets_a_user_only_token(browser):
    browser.sign_in(CAROL)
    body = widget(browser, None).json
    assert body["organization_id"] is None
    token_claims = claims(body)
    assert token_claims["sub"] == "user_carol" and "org_id" not in token_claims
    refused = widget(browser)
    assert refused.status_code == 403 and refused.json["error"] == "no_organization"


def test_sign_out_drops_widget_tokens(alice, emulator):
    widget(alice)
    alice.client.post("/logout", headers={"X-CSRF": "1", "Accept": "application/json"})
    assert widget(alice).status_code == 401
    alice.sign_in(ALICE)
    widget(alice)
    assert emulator.count(WIDGET_MINT) == 2


def test_switch_mints_for_the_new_organization(browser, emulator):
    browser.sign_in(BOB)  # a member of two organizations: he picks Acme
    browser.client.get("/login/organization")
    with browser.client.session_transaction() as s:
        csrf = s["csrf_token"]
    browser.client.post("/login/organization", data={"organization_id": ACME, "csrf_token": csrf})
    first = widget(browser).json
    switched = browser.client.post(
        "/api/organization", json={"organization_id": GLOBEX}, headers={"X-CSRF": "1"}
    )
    assert switched.status_code == 200
    second = widget(browser).json
    assert (first["organization_id"], second["organization_id"]) == (ACME, GLOBEX)
    assert claims(second)["org_id"] == GLOBEX
    # bob is a plain member at Acme and an admin at Globex: WorkOS narrows the scopes.
    assert claims(first)["permissions"] == [] and claims(second)["permissions"] == [MANAGE]
    # Switching back mints again: the switch dropped every token of the old organization.
    browser.client.post(
        "/api/organization", json={"organization_id": ACME}, headers={"X-CSRF": "1"}
    )
    assert widget(browser).json["token"] != first["token"]
    assert emulator.count(WIDGET_MINT) == 3


def test_session_names_its_workos_session(alice, emulator):
    body = alice.client.get("/api/session", headers={"X-CSRF": "1"}).json
    assert body["session_id"] == alice.record().sid and body["session_id"].startswith("session_")


def test_app_page_links_to_the_widgets_example_only_when_configured(make_app, emulator):
    from tests.conftest import Browser

    plain = Browser(make_app().test_client(), emulator)
    plain.sign_in(ALICE)
    assert b"widgets-example-link" not in plain.client.get("/").data
    linked = Browser(make_app(WIDGETS_EXAMPLE_URL="http://127.0.0.1:5173/").test_client(), emulator)
    linked.sign_in(ALICE)
    assert (
        b'href="http://127.0.0.1:5173" data-testid="widgets-example-link"'
        in linked.client.get("/").data
    )


def test_sign_in_tells_workos_the_browser(alice, emulator):
    """WorkOS records the browser of each session; the widgets' UserSessions shows it."""
    sid = alice.record().sid
    answer = requests.get(
        f"{emulator.url}/user_management/users/user_alice/sessions",
        headers={"Authorization": "Bearer sk_test_default"},
        timeout=5,
    ).json()
    [mine] = [s for s in answer["data"] if s["id"] == sid]
    assert mine["user_agent"] and mine["ip_address"] == "127.0.0.1"


def test_every_answer_of_both_token_routes_is_counted(alice):
    from service import components

    def counted(outcome: str) -> float:
        text = components.of(alice.client.application).metrics.render().decode()
        line = f'gts_token_requests_total{{outcome="{outcome}"}} '
        return next((float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)), 0)

    before = {o: counted(o) for o in ("miss", "hit", "invalid_scope", "csrf_required")}
    widget(alice)  # a miss
    widget(alice)  # a hit
    widget(alice, "widgets:sso:manage")  # refused in the view
    alice.client.get("/api/widget-token")  # refused before it (no X-CSRF)
    alice.client.get("/api/graphql-token", headers={"X-CSRF": "1"})  # a miss of the other route
    assert counted("miss") - before["miss"] == 2
    assert counted("hit") - before["hit"] == 1
    assert counted("invalid_scope") - before["invalid_scope"] == 1
    assert counted("csrf_required") - before["csrf_required"] == 1
