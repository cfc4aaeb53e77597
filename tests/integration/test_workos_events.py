"""WorkOS events reaching the service: the webhook route's answers, and the Events API poller."""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import time

import pytest

from devstack.control_client import MINT
from service import components
from service.sessions.events import EventsPoller
from tests.conftest import Browser
from tests.seed_names import ACME, ALICE, BOB, CAROL, GLOBEX

SECRET = "whsec_integration_0123456789abcdef"
REVOKED = "session.revoked"
MEMBERSHIPS = "/user_management/organization_memberships"


def signed(body: bytes, secret: str = SECRET, t: float | None = None) -> dict[str, str]:
    stamp = int((time.time() if t is None else t) * 1000)
    v1 = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"WorkOS-Signature": f"t={stamp}, v1={v1}", "Content-Type": "application/json"}


def event(kind: str, data: dict, event_id: str = "event_01TEST") -> bytes:
    return json.dumps({"id": event_id, "event": kind, "data": data, "created_at": "x"}).encode()


@pytest.fixture
def hooked(make_app):
    return make_app(WORKOS_WEBHOOK_SECRET=SECRET)


def post(client, body: bytes, headers: dict | None = None):
    return client.post(
        "/webhooks/workos", data=body, headers=signed(body) if headers is None else headers
    )


def test_the_route_is_off_without_a_secret(client):
    body = event(REVOKED, {"id": "session_x"})
    response = post(client, body)
    assert response.status_code == 404 and response.json["error"] == "not_found"


def test_a_revoked_session_is_signed_out_and_its_tokens_dropped(hooked, browser, emulator):
    browser.client = hooked.test_client()
    browser.sign_in(ALICE)
    assert browser.token().status_code == 200
    sid = browser.record().sid
    response = post(hooked.test_client(), event(REVOKED, {"id": sid, "object": "session"}))
    assert response.status_code == 200 and response.json == {"status": "applied"}
    assert len(components.of(hooked).tokens) == 0
    answer = browser.token()
    assert answer.status_code == 401 and answer.json["error"] == "unauthenticated"
    assert browser.client.get("/api/session", headers={"X-CSRF": "1"}).status_code == 401
    assert emulator.count(MINT) == 1


def test_a_removed_membership_asks_workos_again(hooked, browser, emulator):
    browser.client = hooked.test_client()
    browser.sign_in(ALICE)
    first = browser.token().json["token"]
    emulator.remove_membership("user_alice", ACME)
    body = event(
        "organization_membership.deleted",
        {"id": "om_x", "user_id": "user_alice", "organization_id": ACME, "status": "active"},
    )
    assert post(hooked.test_client(), body).json == {"status": "applied"}
    answer = browser.token()
    assert answer.status_code == 403 and answer.json["error"] == "not_a_member"
    assert emulator.count(MINT) == 2  # asked WorkOS; the cached token was not served
    assert first not in answer.get_data(as_text=True)
    listed = browser.client.get("/api/session", headers={"X-CSRF": "1"}).json
    assert listed["organization"] is None and listed["organizations"] == []


def test_a_repeated_event_is_applied_once(hooked):
    client = hooked.test_client()
    body = event("user.deleted", {"id": "user_nobody"}, "event_01REPEAT")
    assert post(client, body).json == {"status": "applied"}
    assert post(client, body).json == {"status": "duplicate"}
    unknown = event("dsync.user.created", {"id": "x"}, "event_01OTHER")
    assert post(client, unknown).json == {"status": "ignored"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"WorkOS-Signature": "t=1, v1=00"},
        {"WorkOS-Signature": "t=\u00b2, v1=00"},  # isdigit() says yes, int() raises
        signed(event(REVOKED, {"id": "other"})),  # signs another body
        signed(event(REVOKED, {"id": "s"}), secret="whsec_wrong_secret_000000"),
        signed(event(REVOKED, {"id": "s"}), t=time.time() - 181),  # stale
    ],
    ids=["missing", "malformed", "superscript-digit", "other-body", "wrong-secret", "stale"],
)
def test_bad_signatures_are_401(hooked, headers):
    response = post(hooked.test_client(), event(REVOKED, {"id": "s"}), headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_signature"


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", json.dumps({"id": "e", "event": REVOKED, "data": {}}).encode()],
)
def test_signed_bodies_that_are_not_events_are_400(hooked, body):
    response = post(hooked.test_client(), body)
    assert response.status_code == 400 and response.json["error"] == "invalid_event"


def test_a_body_over_64_kib_is_413(hooked):
    body = event(REVOKED, {"id": "s", "pad": "x" * 70_000})
    response = post(hooked.test_client(), body)
    assert response.status_code == 413 and response.json["error"] == "payload_too_large"


def test_the_route_needs_no_session_and_sets_no_cookie(hooked):
    response = post(hooked.test_client(), event("user.deleted", {"id": "u"}, "event_01C"))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


def poller_of(app, interval: float = 60) -> EventsPoller:
    parts = components.of(app)
    return EventsPoller(parts.workos, parts.events, parts.values, interval)


def test_the_poller_starts_at_the_newest_event_and_applies_what_follows(app, browser, emulator):
    carol = Browser(app.test_client(), emulator)
    carol.sign_in(CAROL)  # an old event: revoked before the poller first starts
    emulator.revoke_sessions(CAROL)
    browser.sign_in(ALICE)
    browser.token()
    poller = poller_of(app)
    assert poller.poll_once() == 0  # first start: the cursor is set, history is not replayed
    assert carol.record() is not None
    emulator.revoke_sessions(ALICE)
    assert poller.poll_once() == 1
    assert browser.token().status_code == 401
    assert poller.poll_once() == 0  # nothing new


def test_one_poller_at_a_time_holds_the_lease(app, emulator):
    first, second = poller_of(app), poller_of(app)
    first.poll_once()
    assert components.of(app).values.get_value("events-cursor") is not None
    assert not components.of(app).values.lease("events-poller", "someone-else", 30)
    assert second.poll_once() == 0


def test_a_configured_poller_signs_a_revoked_session_out(make_app, browser, emulator):
    app = make_app(WORKOS_EVENTS_POLL_SECONDS="0.2")
    browser.client = app.test_client()
    browser.sign_in(ALICE)
    assert browser.token().status_code == 200
    deadline = time.monotonic() + 5
    while components.of(app).values.get_value("events-cursor") is None:
        assert time.monotonic() < deadline, "the poller never set its cursor"
        time.sleep(0.05)
    emulator.revoke_sessions(ALICE)
    while browser.token().status_code != 401:
        assert time.monotonic() < deadline + 5, "the revocation never reached the session"
        time.sleep(0.1)


def _bob_acting_for_acme(app, emulator) -> Browser:
    bob = Browser(app.test_client(), emulator)
    bob.sign_in(BOB)
    bob.client.get("/login/organization")
    with bob.client.session_transaction() as s:
        csrf = s["csrf_token"]
    chosen = bob.client.post(
        "/login/organization", data={"organization_id": ACME, "csrf_token": csrf}
    )
    assert chosen.status_code == 302 and bob.record().organization["id"] == ACME
    return bob


def test_a_switch_never_restores_an_organization_an_event_removed(hooked, emulator):
    """The switch listed Bob's organizations (Acme among them) from WorkOS; organization.deleted
    for Acme arrived while it waited; the switch then wrote its list back, Acme included."""
    restored = 0
    for n in range(5):
        if n:
            emulator.add_membership("user_bob", ACME)
        bob = _bob_acting_for_acme(hooked, emulator)
        # Drop Bob's kept list (a membership event of his), so the switch lists from WorkOS.
        forget = {"user_id": "user_bob", "organization_id": "org_none", "status": "inactive"}
        post(hooked.test_client(), event("organization_membership.updated", forget, f"ev_f{n}"))
        # The switch's membership list (only it) takes 400 ms: the event lands meanwhile.
        emulator.hook("GET", MEMBERSHIPS, delay_ms=400, count=1)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            switch = pool.submit(
                bob.client.post,
                "/api/organization",
                json={"organization_id": GLOBEX},
                headers={"X-CSRF": "1"},
            )
            time.sleep(0.15)
            deleted = post(
                hooked.test_client(), event("organization.deleted", {"id": ACME}, f"ev_d{n}")
            )
            assert deleted.json == {"status": "applied"}
            assert switch.result().status_code in (200, 403)
        emulator.remove_membership("user_bob", ACME)  # as WorkOS lists it from now on
        organizations = [o["id"] for o in bob.record().organizations]
        restored += ACME in organizations
        # Nor does a later switch restore it from a list kept before the event.
        again = bob.client.post(
            "/api/organization", json={"organization_id": ACME}, headers={"X-CSRF": "1"}
        )
        restored += ACME in [o["id"] for o in bob.record().organizations]
        assert again.status_code in (403, 200)
    assert restored == 0
