"""Hostile input, one test per attack: the list a security reviewer reads.

Each section names the attack; tests/integration/test_signin.py holds the happy paths and a few
first cases, referenced here where they already cover an attack. Oversized headers are refused
by gunicorn itself and are tested in tests/system/test_hostile_gunicorn.py.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zlib
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from itsdangerous import TimestampSigner

from service import components
from tests.conftest import Browser
from tests.seed_names import ACME, ALICE, BOB, CAROL, GLOBEX

EVIL = "https://evil.example"
API_ROUTES = [("GET", "/api/graphql-token"), ("GET", "/api/session"), ("POST", "/api/organization")]


def session_of(client) -> dict:
    with client.session_transaction() as s:
        return dict(s)


def signed_in(browser: Browser) -> bool:
    response = browser.client.get("/api/session", headers={"X-CSRF": "1"})
    assert response.status_code in (200, 401), response.status_code
    return response.status_code == 200


def cookie(client) -> str:
    return client.get_cookie("gts").value


def new_browser(app, emulator) -> Browser:
    return Browser(app.test_client(), emulator)


def switch(browser: Browser, organization_id: str, **headers):
    return browser.client.post(
        "/api/organization", json={"organization_id": organization_id}, headers=headers
    )


def bob_acting_for(app, emulator, organization_id: str) -> Browser:
    """Bob (Acme and Globex) signed in through the picker, acting for organization_id."""
    bob = new_browser(app, emulator)
    bob.sign_in(BOB)
    bob.client.get("/login/organization")  # renders the form, which makes the CSRF token
    bob.client.post(
        "/login/organization",
        data={
            "organization_id": organization_id,
            "csrf_token": session_of(bob.client)["csrf_token"],
        },
    )
    assert bob.record().organization["id"] == organization_id
    return bob


@pytest.fixture
def alice(browser) -> Browser:
    browser.sign_in(ALICE)
    assert signed_in(browser)
    return browser


# 1. Open redirect through `next` -----------------------------------------------------------
# Every form goes through the real /login -> emulator authorize -> /callback flow; what counts
# is the Location the browser is finally sent to. (tests/unit/test_security.py checks
# safe_next itself, with a Hypothesis property.)

HOSTILE_NEXT = [
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "https://evil.example",
    "http:evil.example",
    "HTTPS://evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "\\/evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "/\t/evil.example",
    "/\r\nSet-Cookie: planted=1",
    "%2F%2Fevil.example",
    "%2f%2fevil.example",
    "/%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "/%09/evil.example",
    "/%0d%0aSet-Cookie:%20planted=1",
    "https%3A%2F%2Fevil.example",
    "evil.example",
    "@evil.example",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("next_path", HOSTILE_NEXT)
def test_hostile_next_lands_on_the_start_page(browser, next_path):
    response = browser.sign_in(ALICE, next_path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "planted" not in response.headers.get("Set-Cookie", "")


@pytest.mark.parametrize(
    "next_path, location",
    [
        ("/app?tab=tokens&x=1#top", "/app?tab=tokens&x=1#top"),
        ("/caf%C3%A9", "/caf%C3%A9"),
        ("/café", "/caf%C3%A9"),  # sent as a URI: the browser cannot read it as a host
        ("/a/../b", "/a/../b"),
        ("/%252F%252Fevil.example", "/%252F%252Fevil.example"),  # a path segment, not a host
    ],
)
def test_local_next_is_kept(browser, next_path, location):
    assert browser.sign_in(ALICE, next_path).headers["Location"] == location


def test_hostile_next_through_the_organization_picker(browser):
    browser.sign_in(BOB, "//evil.example")
    browser.client.get("/login/organization")
    response = browser.client.post(
        "/login/organization",
        data={"organization_id": GLOBEX, "csrf_token": session_of(browser.client)["csrf_token"]},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/"


# 2. state: missing, tampered, foreign, expired ---------------------------------------------


def test_callback_without_state_is_refused(browser, emulator):
    callback = emulator.authorize(browser.start(ALICE).headers["Location"])
    query = parse_qs(urlsplit(callback).query)
    response = browser.client.get(f"/callback?code={query['code'][0]}")
    assert response.status_code == 400
    assert not signed_in(browser)


def test_callback_with_tampered_state_is_refused(browser, emulator):
    callback = emulator.authorize(browser.start(ALICE).headers["Location"])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    tampered = callback.replace(state, state[:-1] + ("A" if state[-1] != "A" else "B"))
    assert browser.client.get(tampered).status_code == 400
    assert not signed_in(browser)


def test_callback_from_another_browsers_flow_is_refused(app, emulator):
    """Login CSRF: the attacker's own code and state, fed to the victim's browser."""
    attacker, victim = new_browser(app, emulator), new_browser(app, emulator)
    callback = emulator.authorize(attacker.start(BOB).headers["Location"])
    victim.start(ALICE)  # the victim even has a sign-in of her own pending
    assert victim.client.get(callback).status_code == 400
    assert not signed_in(victim)


def test_expired_flow_is_refused(browser, emulator):
    callback = emulator.authorize(browser.start(ALICE).headers["Location"])
    with browser.client.session_transaction() as s:
        flows = s["flows"]
        for flow in flows.values():
            flow[1] -= 601  # FLOW_MAX_AGE is ten minutes
        s["flows"] = flows
    assert browser.client.get(callback).status_code == 400
    assert not signed_in(browser)


def test_workos_error_consumes_the_state(browser, emulator):
    callback = emulator.authorize(browser.start(ALICE).headers["Location"])
    state = parse_qs(urlsplit(callback).query)["state"][0]
    assert browser.client.get(f"/callback?error=access_denied&state={state}").status_code == 400
    assert browser.client.get(callback).status_code == 400  # that state is gone now
    assert not signed_in(browser)


# 3. Replayed callback ----------------------------------------------------------------------
# Same browser, second use of the URL: test_signin.py::test_state_is_single_use.


def test_callback_replayed_with_the_cookie_from_before_it_is_refused(app, emulator):
    """The session is a client-side cookie: a copy taken before the callback still holds the
    flow, so the replay gets past the state check and must fail at WorkOS (single-use code)."""
    browser = new_browser(app, emulator)
    callback = emulator.authorize(browser.start(ALICE).headers["Location"])
    before = cookie(browser.client)
    assert browser.client.get(callback).status_code == 302
    thief = new_browser(app, emulator)
    thief.client.set_cookie("gts", before)
    assert thief.client.get(callback).status_code == 400
    assert not signed_in(thief)
    assert signed_in(browser)  # the real sign-in is unaffected


# 4. Wrong PKCE verifier --------------------------------------------------------------------
# A verifier edited in the session: test_signin.py::test_wrong_pkce_verifier_is_refused.


def test_code_of_one_flow_with_the_state_of_another_is_refused(browser, emulator):
    """Two tabs: flow A's code presented with flow B's state (so B's verifier)."""
    first = emulator.authorize(browser.start(ALICE).headers["Location"])
    second = emulator.authorize(browser.start(ALICE).headers["Location"])
    code_a = parse_qs(urlsplit(first).query)["code"][0]
    state_b = parse_qs(urlsplit(second).query)["state"][0]
    response = browser.client.get(f"/callback?code={code_a}&state={state_b}")
    assert response.status_code == 400
    assert not signed_in(browser)


# 5. Session cookies: tampered, foreign-signed, expired -------------------------------------


def _serializer(app, timestamp: int | None = None):
    serializer = app.session_interface.get_signing_serializer(app)
    if timestamp is not None:

        class Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return timestamp

        serializer.signer = Signer
    return serializer


def _payload(value: str) -> dict:
    compressed = value.startswith(".")
    data = base64.urlsafe_b64decode(value.lstrip(".").split(".")[0] + "==")
    if compressed:
        data = zlib.decompress(data)
    return json.loads(data)


def test_cookie_with_a_flipped_signature_is_anonymous(app, emulator, alice):
    value = cookie(alice.client)
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    thief = new_browser(app, emulator)
    thief.client.set_cookie("gts", flipped)
    assert not signed_in(thief)
    assert thief.token().status_code == 401


def test_cookie_with_an_edited_payload_is_anonymous(app, emulator, alice):
    value = cookie(alice.client)
    data = _payload(value)
    data["session_id"] = "0" * 32
    payload = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    forged = ".".join([payload, *value.lstrip(".").split(".")[1:]])
    thief = new_browser(app, emulator)
    thief.client.set_cookie("gts", forged)
    assert not signed_in(thief)


def test_unsigned_cookie_is_anonymous(app, emulator, alice):
    data = base64.urlsafe_b64encode(json.dumps(_payload(cookie(alice.client))).encode()).decode()
    thief = new_browser(app, emulator)
    thief.client.set_cookie("gts", data)
    assert not signed_in(thief)


def test_cookie_signed_with_another_secret_key_is_anonymous(make_app, app, emulator, alice):
    other = make_app(SECRET_KEY="another-secret-key-0123456789abcdef0123456789")
    forged = _serializer(other).dumps(session_of(alice.client))
    thief = new_browser(app, emulator)
    thief.client.set_cookie("gts", forged)
    assert not signed_in(thief)
    # The same contents signed with the right key are a session: only the key was wrong.
    genuine = new_browser(app, emulator)
    genuine.client.set_cookie("gts", _serializer(app).dumps(session_of(alice.client)))
    assert signed_in(genuine)


def test_cookie_carries_no_time_so_host_clocks_do_not_matter(alice):
    """A timed signature is refused by a host whose clock runs behind the signer's ("from the
    future"); the cookie is payload.signature, and the record holds the sign-in's age."""
    value = cookie(alice.client)
    assert len(value.lstrip(".").split(".")) == 2
    assert set(_payload(value)) <= {"session_id", "expires", "csrf_token", "sid", "flows", "pick"}


def test_sign_in_older_than_the_lifetime_is_anonymous_even_while_in_use(make_app, emulator):
    """The record's expiry (sign-in time + SESSION_LIFETIME_SECONDS) bounds a sign-in, however
    often its cookie is used."""
    app = make_app(SESSION_LIFETIME_SECONDS=3600)
    browser = new_browser(app, emulator)
    browser.sign_in(ALICE)
    record = browser.record()
    assert record.expires_at - record.signed_in_at == 3600
    assert signed_in(browser)
    components.of(app).sessions.update(record.id, lambda r: replace(r, expires_at=time.time()))
    assert not signed_in(browser)
    assert browser.token().status_code == 401


# 6. CSRF: logout, organization switch, picker ----------------------------------------------
# Logout without any token: test_signin.py::test_logout_needs_csrf_and_get_does_nothing.


def test_logout_with_a_wrong_or_foreign_csrf_token_is_refused(app, emulator, alice):
    other = new_browser(app, emulator)
    other.sign_in(CAROL)
    for token in ("", "x" * 43, other.csrf()):
        response = alice.client.post("/logout", data={"csrf_token": token})
        assert response.status_code == 403, token
        assert response.mimetype == "text/html"  # a form post gets the error page
    assert alice.client.post("/logout", headers={"X-CSRF": "0"}).status_code == 403
    assert signed_in(alice)
    # Same browser, right token: it works (the refusals above were about the token).
    assert alice.client.post("/logout", data={"csrf_token": alice.csrf()}).status_code == 302
    assert not signed_in(alice)


def test_logout_with_the_csrf_header_works(alice):
    assert alice.client.post("/logout", headers={"X-CSRF": "1"}).status_code == 302
    assert not signed_in(alice)


@pytest.mark.parametrize("value", [None, "", "0", "true", "1 ", "yes"])
def test_organization_switch_without_the_csrf_header_is_refused(alice, value):
    headers = {} if value is None else {"X-CSRF": value}
    response = switch(alice, ACME, **headers)
    assert response.status_code == 403 and response.json["error"] == "csrf_required"


def test_organization_switch_as_a_cross_site_form_post_is_refused(app, emulator):
    """A form on another site can POST without a preflight, but cannot add X-CSRF."""
    bob = bob_acting_for(app, emulator, GLOBEX)
    for kwargs in (
        {"data": {"organization_id": ACME}},
        {"data": '{"organization_id": "org_acme"}', "content_type": "text/plain"},
    ):
        response = bob.client.post("/api/organization", headers={"Origin": EVIL}, **kwargs)
        assert response.status_code == 403 and response.json["error"] == "csrf_required"
    assert bob.record().organization["id"] == GLOBEX


def test_picker_refuses_a_foreign_token_and_the_header(app, emulator):
    # No token at all: test_signin.py::test_picker_rejects_bad_csrf_and_foreign_orgs.
    other = new_browser(app, emulator)
    other.sign_in(ALICE)
    foreign = other.csrf()
    bob = new_browser(app, emulator)
    bob.sign_in(BOB)
    bob.client.get("/login/organization")
    form = {"organization_id": GLOBEX}
    for kwargs in (
        {"data": {**form, "csrf_token": foreign}},
        {"data": form, "headers": {"X-CSRF": "1"}},  # a form post: only the form token counts
    ):
        response = bob.client.post("/login/organization", **kwargs)
        assert response.status_code == 400
    assert not signed_in(bob)


# 7. GET /logout does nothing ---------------------------------------------------------------


def test_get_logout_does_nothing(app, alice):
    assert alice.token().status_code == 200
    csrf = alice.csrf()
    before = session_of(alice.client)
    for url in ("/logout", f"/logout?csrf_token={csrf}"):
        assert alice.client.get(url).status_code == 405
    assert session_of(alice.client)["session_id"] == before["session_id"]
    assert len(components.of(app).tokens) == 1  # nothing evicted
    assert alice.token().status_code == 200


# 8. Switching to an organization the user is not an active member of -----------------------
# Another existing organization: test_token_route.py::test_organization_switch_to_a_foreign_org.


@pytest.mark.parametrize(
    "organization_id",
    ["org_nowhere", "org_acme ", "ORG_ACME", "../org_globex", "org_globex?x=1", "org_globex%00"],
)
def test_switch_to_an_unknown_organization_is_refused(alice, organization_id):
    response = switch(alice, organization_id, **{"X-CSRF": "1"})
    assert response.status_code == 403 and response.json["error"] == "not_a_member"
    assert alice.record().organization["id"] == ACME


def test_switch_to_an_organization_left_since_sign_in_is_refused(app, emulator):
    """The session still lists Globex; WorkOS no longer does, and said so by an event."""
    bob = bob_acting_for(app, emulator, ACME)
    emulator.remove_membership("user_bob", GLOBEX)
    left = {"user_id": "user_bob", "organization_id": GLOBEX}
    event = {"id": "event_left", "event": "organization_membership.deleted", "data": left}
    assert components.of(app).events.apply(event) == "applied"  # drops the kept list too
    response = switch(bob, GLOBEX, **{"X-CSRF": "1"})
    assert response.status_code == 403 and response.json["error"] == "not_a_member"
    s = bob.record()
    assert s.organization["id"] == ACME
    assert [o["id"] for o in s.organizations] == [ACME]


def test_a_membership_left_unannounced_within_the_kept_minute_gets_no_token(app, emulator):
    """No event: the list kept from sign-in (at most 60 s) lets the switch through, and the
    mint, which WorkOS checks, refuses it; the session then stops acting for Globex."""
    bob = bob_acting_for(app, emulator, ACME)
    emulator.remove_membership("user_bob", GLOBEX)
    assert switch(bob, GLOBEX, **{"X-CSRF": "1"}).status_code == 200
    emulator.hook("POST", "/client/token", 404)  # what WorkOS answers for a non-member
    response = bob.token()
    assert response.status_code == 403 and response.json["error"] == "not_a_member"
    assert bob.record().organization is None
    assert GLOBEX not in [o["id"] for o in bob.record().organizations]


@pytest.mark.parametrize("status", ["inactive", "pending"])
def test_switch_to_an_organization_with_an_inactive_membership_is_refused(app, emulator, status):
    bob = bob_acting_for(app, emulator, ACME)
    emulator._call(
        "POST",
        "/_emulate/memberships",
        json={"user_id": "user_bob", "organization_id": GLOBEX, "status": status},
    )
    # WorkOS's event drops the list kept from sign-in, so the switch asks WorkOS again.
    data = {"user_id": "user_bob", "organization_id": GLOBEX, "status": status}
    event = {"id": f"event_{status}", "event": "organization_membership.updated", "data": data}
    assert components.of(app).events.apply(event) == "applied"
    response = switch(bob, GLOBEX, **{"X-CSRF": "1"})
    assert response.status_code == 403 and response.json["error"] == "not_a_member"


def test_user_with_no_organization_cannot_switch_into_one(browser):
    browser.sign_in(CAROL)
    response = switch(browser, ACME, **{"X-CSRF": "1"})
    assert response.status_code == 403 and response.json["error"] == "not_a_member"
    assert browser.token().json["error"] == "no_organization"


# 9. Oversized bodies -----------------------------------------------------------------------
# MAX_CONTENT_LENGTH is 64 KiB. Oversized headers: tests/system/test_hostile_gunicorn.py.

BIG = 64 * 1024 + 1


def test_oversized_json_body_is_413_json(alice):
    body = json.dumps({"organization_id": ACME, "pad": "x" * BIG})
    response = alice.client.post(
        "/api/organization", data=body, content_type="application/json", headers={"X-CSRF": "1"}
    )
    assert response.status_code == 413
    assert response.json["error"] == "payload_too_large"
    assert response.json["request_id"] == response.headers["X-Request-ID"]


def post_chunked(alice, path: str, body: bytes, content_type: str, **headers):
    """POST body with no Content-Length, as a chunked request reaches the app."""
    return alice.client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type=content_type,
        headers={"Transfer-Encoding": "chunked", **headers},
        # What a server sets for a chunked body: read to the end, whatever the length.
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_oversized_chunked_body_without_length_is_413(alice):
    """Regression: werkzeug stops reading a chunked body at the limit without an error, so
    valid JSON padded past 64 KiB was cut off at the limit and accepted (200)."""
    body = json.dumps({"organization_id": ACME}).encode() + b" " * BIG
    response = post_chunked(alice, "/api/organization", body, "application/json", **{"X-CSRF": "1"})
    assert response.status_code == 413 and response.json["error"] == "payload_too_large"


def test_oversized_chunked_form_is_413_and_keeps_the_session(alice):
    """Forms are refused like JSON: a chunked logout form past 64 KiB is not cut and parsed."""
    body = f"csrf_token={alice.csrf()}&pad=".encode() + b"x" * BIG
    response = post_chunked(alice, "/logout", body, "application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert signed_in(alice)


def test_chunked_form_within_the_limit_is_parsed(alice):
    body = f"csrf_token={alice.csrf()}".encode()
    response = post_chunked(alice, "/logout", body, "application/x-www-form-urlencoded")
    assert response.status_code == 302
    assert not signed_in(alice)


def test_body_that_lies_about_its_length_is_413(alice):
    response = alice.client.post(
        "/api/organization",
        data=b'{"organization_id": "org_acme"}',
        content_type="application/json",
        headers={"X-CSRF": "1"},
        environ_overrides={"CONTENT_LENGTH": str(10 * 1024 * 1024)},
    )
    assert response.status_code == 413 and response.json["error"] == "payload_too_large"


def test_oversized_logout_form_is_413_not_500(alice):
    response = alice.client.post("/logout", data={"csrf_token": alice.csrf(), "pad": "x" * BIG})
    assert response.status_code == 413
    assert signed_in(alice)


def test_oversized_picker_form_is_413_not_500(browser):
    browser.sign_in(BOB)
    browser.client.get("/login/organization")
    csrf = session_of(browser.client)["csrf_token"]
    response = browser.client.post(
        "/login/organization",
        data={"organization_id": GLOBEX, "csrf_token": csrf, "pad": "x" * BIG},
    )
    assert response.status_code == 413
    assert not signed_in(browser)


# 10. CORS: a preflight from another origin is never granted --------------------------------


@pytest.mark.parametrize("method, path", API_ROUTES)
def test_cors_preflight_from_another_origin_is_not_granted(alice, method, path):
    response = alice.client.options(
        path,
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-csrf",
        },
    )
    granted = [h for h in response.headers.keys() if h.lower().startswith("access-control-allow")]
    assert granted == []


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost.evil.example"])
def test_cross_origin_reads_are_not_allowed(alice, origin):
    response = alice.client.get("/api/graphql-token", headers={"X-CSRF": "1", "Origin": origin})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


# 11. Session fixation ----------------------------------------------------------------------
# A planted session_id is replaced: test_signin.py::test_session_is_new_after_sign_in.


def test_planted_csrf_token_and_organization_do_not_survive_sign_in(browser):
    with browser.client.session_transaction() as s:
        s["session_id"] = "attacker-chosen"
        s["csrf_token"] = "attacker-known-token"
        s["organization"] = {"id": GLOBEX, "name": "Globex"}
        s["user"] = {"id": "user_bob", "email": BOB}
    browser.sign_in(ALICE)
    s = session_of(browser.client)
    assert s["session_id"] != "attacker-chosen"
    assert s.get("csrf_token") != "attacker-known-token"
    assert "organization" not in s and "user" not in s
    record = browser.record()
    assert record.organization["id"] == ACME and record.user["email"] == ALICE
    response = browser.client.post("/logout", data={"csrf_token": "attacker-known-token"})
    assert response.status_code == 403


def test_each_sign_in_gets_a_new_session_id(browser):
    ids = set()
    for _ in range(3):
        browser.sign_in(ALICE)
        ids.add(session_of(browser.client)["session_id"])
    assert len(ids) == 3


# 12. Security headers on pages -------------------------------------------------------------


def _pages(browser: Browser) -> dict:
    pages = {"sign-in page": browser.client.get("/")}
    pages["error page"] = browser.client.get("/callback")  # no state: the HTML 400 page
    browser.sign_in(BOB)
    pages["organization picker"] = browser.client.get("/login/organization")
    browser.sign_in(ALICE)
    pages["app page"] = browser.client.get("/")
    return pages


def test_pages_send_csp_and_the_other_security_headers(browser, emulator):
    for name, page in _pages(browser).items():
        assert page.mimetype == "text/html", name
        csp = dict(
            part.strip().split(" ", 1)
            for part in page.headers["Content-Security-Policy"].split(";")
        )
        assert csp["frame-ancestors"] == "'none'", name
        assert csp["script-src"] == "'self'", name
        assert csp["default-src"] == "'self'" and csp["object-src"] == "'none'", name
        assert csp["base-uri"] == "'none'", name
        assert csp["connect-src"] == f"'self' {emulator.url}", name
        assert page.headers["X-Frame-Options"] == "DENY", name
        assert page.headers["Referrer-Policy"] in ("same-origin", "no-referrer"), name
        assert page.headers["X-Content-Type-Options"] == "nosniff", name
        assert "Strict-Transport-Security" not in page.headers, name  # plain-http local run


def test_json_answers_are_nosniff_and_uncacheable(alice):
    for response in (alice.token(), alice.client.get("/api/graphql-token")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store"


def test_hsts_and_secure_cookie_when_session_cookie_secure(make_app, emulator):
    app = make_app(SESSION_COOKIE_SECURE="true", APP_BASE_URL="https://localhost")
    client = app.test_client()
    page = client.get("/", base_url="https://localhost")
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    login = client.get("/login?login_hint=" + ALICE, base_url="https://localhost")
    cookie_header = login.headers["Set-Cookie"]
    assert "Secure" in cookie_header and "HttpOnly" in cookie_header
    assert "SameSite=Lax" in cookie_header


# 13. Abuse of the token route: the per-user rate limit -------------------------------------


def test_token_route_is_rate_limited_per_user(make_app, emulator):
    app = make_app(TOKEN_RATE_LIMIT="2/minute")
    alice_tab_1, alice_tab_2 = new_browser(app, emulator), new_browser(app, emulator)
    alice_tab_1.sign_in(ALICE)
    alice_tab_2.sign_in(ALICE)
    bob = bob_acting_for(app, emulator, ACME)
    assert alice_tab_1.token().status_code == 200
    assert alice_tab_2.token().status_code == 200
    limited = alice_tab_1.token()
    assert limited.status_code == 429 and limited.json["error"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert alice_tab_2.token().status_code == 429  # per user, not per session
    assert bob.token().status_code == 200


# 14. Injection through parameters that are passed on ---------------------------------------


def test_login_hint_cannot_add_authorize_parameters(browser):
    hint = f"{ALICE}&redirect_uri={EVIL}/callback&state=attacker"
    location = browser.start(hint).headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["redirect_uri"] == ["http://localhost/callback"]
    assert len(query["state"]) == 1 and query["state"] != ["attacker"]
    assert query["login_hint"] == [hint]


@pytest.mark.parametrize("given", ["<script>alert(1)</script>", "a" * 129, "id with spaces", "é"])
def test_unsafe_request_id_is_replaced(client, given):
    response = client.get("/healthz", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] != given
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("error", ["x", "<img src=x onerror=alert(1)>"])
def test_workos_error_text_never_reaches_the_error_page(client, error):
    """WorkOS's error_description is free text from the URL: the page shows a fixed message
    and the error code (only when it looks like one)."""
    response = client.get(
        "/callback?" + urlencode({"error": error, "error_description": "<img src=x>"})
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "<img" not in body and "&lt;img" not in body
    assert ("(x)" in body) == (error == "x")
