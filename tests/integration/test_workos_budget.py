"""Bounded WorkOS traffic: per-client and per-user limits, the budget and its reserve, 429s."""

from urllib.parse import parse_qs, urlsplit

import pytest

from devstack.control_client import MINT
from tests.conftest import Browser
from tests.seed_names import ACME, ALICE, BOB, GLOBEX

AUTHENTICATE = "POST /user_management/authenticate"
MEMBERSHIPS = "GET /user_management/organization_memberships"


def _pick(browser: Browser, organization_id: str) -> None:
    """Bob's picker: choose organization_id."""
    browser.client.get("/login/organization")
    with browser.client.session_transaction() as s:
        csrf = s["csrf_token"]
    answer = browser.client.post(
        "/login/organization", data={"organization_id": organization_id, "csrf_token": csrf}
    )
    assert answer.status_code == 302


def _state(response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]


def test_100_callback_pairs_from_one_client_cost_at_most_the_limit(make_app, emulator):
    client = make_app(SIGNIN_RATE_LIMIT="30/minute").test_client()
    statuses = []
    for _ in range(100):
        login = client.get("/login")
        statuses.append(login.status_code)
        if login.status_code != 302:
            callback = client.get("/callback?state=junk&code=junk")
        else:
            callback = client.get(f"/callback?state={_state(login)}&code=junk")
        statuses.append(callback.status_code)
    calls = emulator.count(AUTHENTICATE)
    print(f"FIGURE callback pairs: 100 pairs -> {calls} WorkOS authenticate calls (limit 30)")
    assert calls <= 30
    assert statuses.count(429) == 200 - 30  # /login and /callback count alike
    refused = client.get("/login", headers={"Accept": "text/html"})
    assert refused.status_code == 429 and refused.mimetype == "text/html"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "rate_limited" in refused.get_data(as_text=True)


def test_a_refused_callback_keeps_its_flow_and_works_once_allowed(make_app, emulator):
    browser = Browser(make_app(SIGNIN_RATE_LIMIT="2/minute").test_client(), emulator)
    callback = emulator.authorize(browser.start(ALICE).headers["Location"])
    assert browser.client.get(callback).status_code == 302  # the second hit: still allowed
    assert browser.client.get("/login").status_code == 429


def test_100_switches_by_one_user_list_memberships_at_most_once_plus_the_limit(make_app, emulator):
    browser = Browser(make_app(SWITCH_RATE_LIMIT="10/minute").test_client(), emulator)
    browser.sign_in(BOB)
    _pick(browser, ACME)
    emulator.clear_log()
    statuses = []
    for n in range(100):
        target = GLOBEX if n % 2 == 0 else ACME
        response = browser.client.post(
            "/api/organization", json={"organization_id": target}, headers={"X-CSRF": "1"}
        )
        statuses.append(response.status_code)
    lists = emulator.count(MEMBERSHIPS)
    print(f"FIGURE switches: 100 switches -> {lists} membership lists (limit 10)")
    assert lists <= 1 + 10
    assert statuses[:10] == [200] * 10 and set(statuses[10:]) == {429}
    refused = browser.client.post(
        "/api/organization", json={"organization_id": ACME}, headers={"X-CSRF": "1"}
    )
    assert refused.json["error"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1


def test_a_membership_not_in_the_kept_list_is_asked_for(browser, emulator):
    browser.sign_in(ALICE)
    emulator.add_membership("user_alice", GLOBEX)
    emulator.clear_log()
    response = browser.client.post(
        "/api/organization", json={"organization_id": GLOBEX}, headers={"X-CSRF": "1"}
    )
    assert response.status_code == 200 and emulator.count(MEMBERSHIPS) == 1


def test_the_form_switch_is_limited_too(make_app, emulator):
    browser = Browser(make_app(SWITCH_RATE_LIMIT="1/minute").test_client(), emulator)
    browser.sign_in(BOB)
    _pick(browser, ACME)
    csrf = browser.csrf()
    answers = [
        browser.client.post(
            "/organization", data={"organization_id": org, "csrf_token": csrf}
        ).status_code
        for org in (GLOBEX, ACME)
    ]
    assert answers == [303, 429]


def test_budget_refusals_on_the_token_route(make_app, emulator):
    app = make_app(
        WORKOS_REQUEST_BUDGET="8/minute",
        WORKOS_SIGNIN_RESERVE_PERCENT=50,
        WORKOS_SIGNIN_CEILING_PERCENT=100,
        WEB_CONCURRENCY=1,
    )
    first, second = Browser(app.test_client(), emulator), Browser(app.test_client(), emulator)
    first.sign_in(ALICE)  # 2 sign-in calls
    second.sign_in(ALICE)  # 2 more: 4 of 8
    assert first.token().status_code == 200
    assert second.token().status_code == 200
    # 2 mints + 4 sign-in calls; mints may have 4 - 2 = 2 more (the other 4 are reserved)
    third, fourth = Browser(app.test_client(), emulator), Browser(app.test_client(), emulator)
    assert third.sign_in(ALICE).status_code == 302  # from the reserve: 8 of 8 now
    assert fourth.sign_in(ALICE).status_code == 503  # the whole budget is spent
    emulator.clear_log()
    waits = set()
    for _ in range(3):
        refused = third.token()
        assert refused.status_code == 503 and refused.json["error"] == "upstream_unavailable"
        waits.add(int(refused.headers["Retry-After"]))
    assert emulator.count(MINT) == 0
    assert all(1 <= w <= 62 + 5 + 1 for w in waits)  # the window, plus the jitter
    hit = first.token()
    assert hit.status_code == 200  # cache hits are still served
    metrics = first.client.get("/metrics").get_data(as_text=True)
    assert 'gts_workos_budget_refused_total{kind="mint",reason="budget"}' in metrics
    assert 'gts_workos_budget_spent_total{kind="signin"} 6.0' in metrics


@pytest.mark.parametrize("retry_after, wait", [({"Retry-After": "7"}, 7), ({}, 5)])
def test_a_workos_429_pauses_every_mint_of_the_process(make_app, emulator, retry_after, wait):
    app = make_app()
    alice, bob = Browser(app.test_client(), emulator), Browser(app.test_client(), emulator)
    alice.sign_in(ALICE)
    bob.sign_in(BOB)
    _pick(bob, ACME)
    emulator.hook("POST", "/client/token", 429, count=1, headers=retry_after)
    first = alice.token()
    assert first.status_code == 503 and int(first.headers["Retry-After"]) == wait
    other = bob.token()  # another key: refused without calling WorkOS, with the wait left
    assert other.status_code == 503 and 1 <= int(other.headers["Retry-After"]) <= wait
    assert emulator.count(MINT) == 1
    # Sign-ins are another kind: they go on.
    assert Browser(app.test_client(), emulator).sign_in(ALICE).status_code == 302
    metrics = alice.client.get("/metrics").get_data(as_text=True)
    assert 'gts_workos_throttled_total{kind="mint"} 1.0' in metrics
    assert 'gts_workos_budget_refused_total{kind="mint",reason="paused"} 1.0' in metrics


def test_rate_limit_refusals_are_counted_by_route(make_app, emulator):
    app = make_app(SIGNIN_RATE_LIMIT="1/minute")
    client = app.test_client()
    client.get("/login")
    client.get("/login")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'gts_rate_limited_total{route="auth.login"} 1.0' in metrics


def test_budget_refusals_spread_over_when_the_budget_frees(make_app, emulator):
    """72 of 72 refusals said 60 (the jitter was added, then cut at 60): all came back at once.
    Each refusal now waits for a call of the full window drawn at random, plus a jitter."""
    app = make_app(
        WORKOS_REQUEST_BUDGET="40/minute",
        WORKOS_SIGNIN_RESERVE_PERCENT=0,
        WORKOS_SIGNIN_CEILING_PERCENT=100,  # sign-ins fill the whole window
        WEB_CONCURRENCY=1,
    )
    browsers = [Browser(app.test_client(), emulator) for _ in range(24)]
    signed = [b for b in browsers if b.sign_in(ALICE).status_code == 302]
    assert len(signed) == 20  # 2 calls each: the budget is spent
    waits = []
    for _ in range(4):
        for browser in signed:
            refused = browser.token()
            assert refused.status_code == 503
            waits.append(int(refused.headers["Retry-After"]))
    spread = sorted(set(waits))
    print(f"Retry-After of {len(waits)} refusals: {len(spread)} values, {spread}")
    # The sign-ins of the last seconds leave the window 62 s after they were made.
    assert len(spread) >= 4 and 55 <= min(waits) and max(waits) <= 62 + 5 + 1
    assert max(waits) > 60


def _from(n: int, v6: bool = False) -> dict[str, str]:
    """Headers of a client at its own address, behind the one trusted proxy."""
    address = f"2001:db8:{n:x}::1" if v6 else f"198.51.{n // 250}.{n % 250 + 1}"
    return {"X-Forwarded-For": address}


def test_anonymous_callbacks_cannot_starve_signed_in_users(make_app, emulator):
    """Budget 200/minute, 200 spoofed addresses: bogus and replayed callbacks made 184 WorkOS
    calls, and then a signed-in user's first token got 503."""
    app = make_app(
        TRUSTED_PROXIES=1,
        WORKOS_REQUEST_BUDGET="200/minute",
        SIGNIN_RATE_LIMIT="10/minute",
        WEB_CONCURRENCY=1,
    )
    alice = Browser(app.test_client(), emulator)
    assert alice.sign_in(ALICE).status_code == 302  # 2 sign-in calls; no token yet
    emulator.clear_log()

    # Bogus states, and a real state replayed from a copy of the cookie taken before its
    # callback (the first callback, WorkOS's error=access_denied, used it).
    for n in range(200):
        client = app.test_client()
        headers = _from(n, v6=n % 2 == 1)
        assert client.get("/callback?state=junk&code=junk", headers=headers).status_code == 400
        login = client.get("/login", headers=headers)
        state = _state(login)
        before = client.get_cookie("gts").value
        first = client.get(f"/callback?state={state}&error=access_denied", headers=headers)
        assert first.status_code == 400
        client.set_cookie("gts", before)  # the replay
        replay = client.get(f"/callback?state={state}&code=junk", headers=headers)
        assert replay.status_code == 400 and b"already used" in replay.data
    bogus_calls = emulator.count(AUTHENTICATE)
    assert bogus_calls == 0

    # Real states from 200 addresses, each with a code WorkOS refuses: sign-in calls stop
    # at their ceiling (50 % of the budget), the mints keep the rest.
    answers = []
    for n in range(200, 400):
        client = app.test_client()
        headers = _from(n, v6=n % 2 == 1)
        state = _state(client.get("/login", headers=headers))
        answers.append(client.get(f"/callback?state={state}&code=junk", headers=headers))
    real_calls = emulator.count(AUTHENTICATE)
    statuses = sorted({a.status_code for a in answers})
    print(
        f"\nWorkOS calls: {bogus_calls} for 400 bogus or replayed callbacks, {real_calls} for"
        f" 200 real states (ceiling 100, 2 spent by a sign-in before); answers {statuses}"
    )
    assert real_calls == 100 - 2
    assert statuses == [400, 503]
    cold = alice.token()
    assert cold.status_code == 200, cold.json
    assert emulator.count(MINT) == 1


def test_sign_ins_are_limited_per_ipv6_64_not_per_address(make_app, emulator):
    """Each IPv6 address counted apart: one /64 had 2^64 sign-in limits."""
    app = make_app(TRUSTED_PROXIES=1, SIGNIN_RATE_LIMIT="5/minute")
    answers = [
        app.test_client()
        .get("/login", headers={"X-Forwarded-For": f"2001:db8:1:2::{n:x}"})
        .status_code
        for n in range(1, 21)
    ]
    assert answers == [302] * 5 + [429] * 15
    other = app.test_client().get("/login", headers={"X-Forwarded-For": "2001:db8:1:3::1"})
    assert other.status_code == 302  # another /64
    mapped = [
        app.test_client().get("/login", headers={"X-Forwarded-For": a}).status_code
        for a in ["192.0.2.7", "::ffff:192.0.2.7"] * 3
    ]
    assert mapped == [302] * 5 + [429]  # an IPv4-mapped address is that IPv4 address
