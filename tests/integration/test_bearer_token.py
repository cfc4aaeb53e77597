"""AuthKit access tokens on the token routes (AUTHKIT_BEARER): an app that signs its users in
with AuthKit itself asks for tokens with the user's access token, no cookie session here."""

from __future__ import annotations

import secrets
import time

import jwt
import pytest
import requests

from devstack.control_client import API_KEY, MINT
from emulator import sessions as grants
from emulator.keys import SigningKey
from service import components
from service.workos.access_tokens import MAX_LIFETIME
from tests.seed_names import ACME
from tests.support import ThreadedServer, authkit_sign_in

TOKEN, WIDGET = "/api/graphql-token", "/api/widget-token"
MANAGE = f"{WIDGET}?scopes=widgets:users-table:manage"
JWKS = "GET /sso/jwks/{client_id}"
HOOK_SECRET = "whsec_bearer_0123456789abcdef"


@pytest.fixture
def state(emulator_server, emulator):
    """The emulator's state (reset by `emulator`), for codes and its clock."""
    return emulator_server.app.extensions["emulator"]


def sign_in(emulator, state, user_id: str = "user_alice") -> dict:
    """Sign in with the emulator directly, as an app using AuthKit does: its session's body."""
    return authkit_sign_in(emulator.url, state.users[user_id].email)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture
def bearer_app(make_app):
    return make_app(AUTHKIT_BEARER="true", WORKOS_WEBHOOK_SECRET=HOOK_SECRET)


@pytest.fixture
def served(bearer_app):
    """The service on a real port."""
    server = ThreadedServer(bearer_app).start()
    yield server.url
    server.stop()


def refused(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_both_token_routes_answer_an_access_token_without_cookie_or_csrf(served, emulator, state):
    access = sign_in(emulator, state)["access_token"]
    first = requests.get(served + TOKEN, headers=bearer(access), timeout=5)
    assert first.status_code == 200, first.text
    assert first.json()["organization_id"] == ACME
    assert "Set-Cookie" not in first.headers
    assert first.headers["Cache-Control"] == "no-store"
    assert "Authorization" in first.headers["Vary"]
    again = requests.get(served + TOKEN, headers=bearer(access), timeout=5)
    assert again.json()["token"] == first.json()["token"]  # cached, as for a cookie session
    widget = requests.get(served + MANAGE, headers=bearer(access), timeout=5)
    assert widget.status_code == 200, widget.text
    assert widget.json()["organization_id"] == ACME
    assert widget.json()["scopes"] == ["widgets:users-table:manage"]
    assert emulator.count(MINT) == 1 and emulator.count("POST /widgets/token") == 1
    assert emulator.count(JWKS) == 1  # fetched once, not per request


def test_a_user_without_organization_gets_a_user_only_widget_token(served, emulator, state):
    access = sign_in(emulator, state, "user_carol")["access_token"]
    assert "org_id" not in claims_of(access)
    widget = requests.get(served + WIDGET, headers=bearer(access), timeout=5)
    assert widget.status_code == 200 and widget.json()["organization_id"] is None
    scoped = requests.get(served + MANAGE, headers=bearer(access), timeout=5)
    assert scoped.status_code == 403 and scoped.json()["error"] == "no_organization"
    token = requests.get(served + TOKEN, headers=bearer(access), timeout=5)
    assert token.status_code == 403 and token.json()["error"] == "no_organization"


def test_a_session_revoked_at_workos_is_refused_once_its_webhook_arrives(
    served, bearer_app, emulator, state
):
    emulator.add_webhook(f"{served}/webhooks/workos", HOOK_SECRET, ["session.revoked"])
    access = sign_in(emulator, state)["access_token"]
    assert requests.get(served + TOKEN, headers=bearer(access), timeout=5).status_code == 200
    assert len(components.of(bearer_app).tokens) == 1
    revoke = requests.post(
        f"{emulator.url}/user_management/sessions/revoke",
        json={"session_id": claims_of(access)["sid"]},
        headers=bearer(API_KEY),
        timeout=5,
    )
    assert revoke.status_code == 200, revoke.text
    deadline = time.monotonic() + 10
    while not any(d.get("status") == 200 for d in emulator.deliveries()):
        assert time.monotonic() < deadline, emulator.deliveries()
        time.sleep(0.05)
    assert len(components.of(bearer_app).tokens) == 0  # its cached token was dropped
    refused(requests.get(served + TOKEN, headers=bearer(access), timeout=5))
    refused(requests.get(served + WIDGET, headers=bearer(access), timeout=5))
    # The user's other sessions are not affected.
    other = sign_in(emulator, state)["access_token"]
    assert requests.get(served + TOKEN, headers=bearer(other), timeout=5).status_code == 200


def test_an_expired_access_token_is_refused(served, emulator, state):
    real = state.clock
    state.clock = lambda: real() - grants.ACCESS_TOKEN_TTL - 60  # issued 6 minutes ago
    access = sign_in(emulator, state)["access_token"]
    state.clock = real
    refused(requests.get(served + TOKEN, headers=bearer(access), timeout=5))
    assert emulator.count(MINT) == 0


def _claims(state, **extra) -> dict:
    now = int(time.time())
    claims = {"iss": "", "sub": "user_alice", "sid": "session_forged", "org_id": ACME}
    claims.update(jti=secrets.token_hex(8), iat=now, exp=now + 300)
    return {**claims, **extra}


def test_a_token_signed_by_a_foreign_key_is_refused(served, emulator, state):
    genuine = sign_in(emulator, state)["access_token"]
    assert requests.get(served + TOKEN, headers=bearer(genuine), timeout=5).status_code == 200
    iss = claims_of(genuine)["iss"]
    foreign = SigningKey.generate()
    refused(requests.get(served + TOKEN, headers=bearer(foreign.sign(_claims(state, iss=iss)))))
    # A foreign key claiming the emulator's key id fails its signature check.
    stolen_kid = jwt.encode(
        _claims(state, iss=iss),
        foreign.private_key,
        "RS256",
        headers={"kid": state.signing_key.kid},
    )
    refused(requests.get(served + TOKEN, headers=bearer(stolen_kid), timeout=5))
    # Neither "none" nor HS256 keyed with the public key is an algorithm we accept.
    unsigned = jwt.encode(_claims(state, iss=iss), None, "none", headers={"kid": "x"})
    refused(requests.get(served + TOKEN, headers=bearer(unsigned), timeout=5))
    refused(requests.get(served + TOKEN, headers=bearer("not-a-jwt"), timeout=5))
    # The unknown key id asked for the JWKS again at most once in REFRESH_EVERY.
    assert emulator.count(JWKS) == 1
    assert emulator.count(MINT) == 1


def test_a_token_of_another_issuer_is_refused(served, emulator, state):
    forged = state.signing_key.sign(_claims(state, iss="https://evil.example"))
    refused(requests.get(served + TOKEN, headers=bearer(forged), timeout=5))
    too_long = _claims(state, iss=emulator.url)
    too_long["exp"] = too_long["iat"] + MAX_LIFETIME + 1
    refused(requests.get(served + TOKEN, headers=bearer(state.signing_key.sign(too_long))))
    assert emulator.count(MINT) == 0


def test_a_custom_auth_domain_is_the_issuer_when_configured(make_app, emulator, state):
    client = make_app(
        AUTHKIT_BEARER="true", AUTHKIT_ISSUER="https://auth.example.com"
    ).test_client()
    custom = state.signing_key.sign(_claims(state, iss="https://auth.example.com"))
    assert client.get(TOKEN, headers=bearer(custom)).status_code == 200
    default = sign_in(emulator, state)["access_token"]  # iss: the WorkOS base URL
    assert client.get(TOKEN, headers=bearer(default)).status_code == 401


def test_bearer_is_off_by_default(client, emulator, state):
    access = sign_in(emulator, state)["access_token"]
    response = client.get(TOKEN, headers=bearer(access))
    assert response.status_code == 401 and response.json["error"] == "unauthenticated"
    assert emulator.count(JWKS) == 0


def test_a_cookie_session_still_works_with_bearer_on(bearer_app, emulator):
    from tests.conftest import Browser
    from tests.seed_names import ALICE

    browser = Browser(bearer_app.test_client(), emulator)
    browser.sign_in(ALICE)
    assert browser.token().status_code == 200
    assert browser.client.get(TOKEN).status_code == 403  # a cookie still needs X-CSRF


def test_preflights_allow_the_authorization_header(make_app):
    app = make_app(AUTHKIT_BEARER="true", CORS_ALLOWED_ORIGINS="https://app.example.com")
    response = app.test_client().options(
        TOKEN,
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 204
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    other = app.test_client().options(
        TOKEN,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Headers" not in other.headers
