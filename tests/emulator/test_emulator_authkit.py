"""Emulator AuthKit and directory routes over a real socket: authorize, authenticate, lists."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography import x509

KEY = "sk_test_default"
API = {"Authorization": f"Bearer {KEY}"}
CLIENT = "client_emulator"
CALLBACK = "http://app.test/callback"
USER_KEYS = {
    "object",
    "id",
    "email",
    "email_verified",
    "first_name",
    "last_name",
    "profile_picture_url",
    "external_id",
    "last_sign_in_at",
    "created_at",
    "updated_at",
}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(url: str, email: str | None = None, **extra) -> requests.Response:
    params = {
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "provider": "authkit",
        "state": "st-1",
        **extra,
    }
    if email:
        params["login_hint"] = email
    return requests.get(
        f"{url}/user_management/authorize", params=params, allow_redirects=False, timeout=5
    )


def location_query(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def get_code(url: str, email: str, challenge: str | None = None) -> str:
    extra = {"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}
    return location_query(authorize(url, email, **extra))["code"]


def authenticate(url: str, **body) -> requests.Response:
    body = {"client_id": CLIENT, "client_secret": KEY, **body}
    return requests.post(f"{url}/user_management/authenticate", json=body, timeout=5)


def exchange(url: str, email: str) -> requests.Response:
    verifier, challenge = pkce()
    code = get_code(url, email, challenge)
    return authenticate(url, grant_type="authorization_code", code=code, code_verifier=verifier)


def claims(url: str, token: str) -> dict:
    """Verify token with the emulator's JWKS, as a WorkOS SDK would."""
    keys = requests.get(f"{url}/sso/jwks/{CLIENT}", timeout=5).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == kid))
    return jwt.decode(token, key.key, algorithms=["RS256"])


def pending_for_bob(url: str) -> dict:
    response = exchange(url, "bob@globex.com")
    assert response.status_code == 403
    return response.json()


# authorize


def test_authorize_with_login_hint_redirects_back_with_code_and_state(url):
    response = authorize(url, "ALICE@acme.com", redirect_uri=CALLBACK + "?keep=1")
    query = location_query(response)
    assert response.headers["Location"].startswith(CALLBACK + "?keep=1&")
    assert query["state"] == "st-1" and len(query["code"]) > 20


def test_authorize_without_hint_lists_seeded_users_as_links(url):
    page = authorize(url)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for email in ("alice@acme.com", "bob@globex.com", "carol@example.com"):
        assert f'data-testid="login-{email}">{email}</a>' in page.text
    href = page.text.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    followed = requests.get(
        f"{url}/user_management/authorize{href}", allow_redirects=False, timeout=5
    )
    assert "code" in location_query(followed)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": "abc", "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "abc"}, "invalid_request"),
        ({"login_hint": "nobody@acme.com"}, "access_denied"),
    ],
)
def test_authorize_errors_redirect_with_error_description_and_state(url, extra, error):
    query = location_query(authorize(url, **extra))
    assert query["error"] == error and query["error_description"] and query["state"] == "st-1"
    assert "code" not in query


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"client_id": "client_other"}, "invalid_client"),
        ({"redirect_uri": "/relative"}, "invalid_request"),
    ],
)
def test_authorize_rejects_unknown_client_and_bad_redirect_uri_without_redirecting(
    url, extra, error
):
    response = authorize(url, "alice@acme.com", **extra)
    assert response.status_code == 400 and response.json()["error"] == error


# authenticate: authorization code


def test_code_exchange_single_org_user_gets_org_and_signed_access_token(url):
    response = exchange(url, "alice@acme.com")
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {
        "user",
        "organization_id",
        "access_token",
        "refresh_token",
        "authentication_method",
    }
    assert USER_KEYS <= set(body["user"]) and body["user"]["id"] == "user_alice"
    assert body["user"]["last_sign_in_at"] is not None
    assert body["organization_id"] == "org_acme"
    assert body["authentication_method"] == "Password"
    token = claims(url, body["access_token"])
    assert token["iss"] == url and token["sub"] == "user_alice"
    assert token["sid"].startswith("session_") and token["jti"]
    assert token["org_id"] == "org_acme" and token["role"] == "admin"
    assert "widgets:users-table:manage" in token["permissions"]
    assert token["exp"] - token["iat"] == 300


def test_code_exchange_user_without_organization(url):
    body = exchange(url, "carol@example.com").json()
    assert body["organization_id"] is None
    assert "org_id" not in claims(url, body["access_token"])


def test_code_exchange_accepts_form_body_and_bearer_api_key(url):
    code = get_code(url, "alice@acme.com")
    response = requests.post(
        f"{url}/user_management/authenticate",
        headers=API,
        timeout=5,
        data={"client_id": CLIENT, "grant_type": "authorization_code", "code": code},
    )
    assert response.status_code == 200 and response.json()["organization_id"] == "org_acme"


@pytest.mark.parametrize("verifier", ["wrong-verifier", None])
def test_pkce_mismatch_or_missing_verifier_is_invalid_grant(url, verifier):
    _, challenge = pkce()
    code = get_code(url, "alice@acme.com", challenge)
    response = authenticate(url, grant_type="authorization_code", code=code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant" and response.json()["error_description"]


def test_code_is_single_use(url):
    code = get_code(url, "alice@acme.com")
    assert authenticate(url, grant_type="authorization_code", code=code).status_code == 200
    again = authenticate(url, grant_type="authorization_code", code=code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_code_expires_after_ten_minutes(url, clock):
    code = get_code(url, "alice@acme.com")
    clock.now += 601
    response = authenticate(url, grant_type="authorization_code", code=code)
    assert response.status_code == 400 and "expired" in response.json()["error_description"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"client_id": None}, 400, "invalid_request"),
        ({"client_id": "client_other"}, 400, "invalid_client"),
        ({"client_secret": "sk_wrong"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "invalid_request"),
        ({"grant_type": ["authorization_code"]}, 400, "invalid_request"),
        ({"code": None}, 400, "invalid_request"),
        ({"code_verifier": 12345}, 400, "invalid_request"),
    ],
)
def test_authenticate_rejects_bad_client_grant_or_params(url, body, status, error):
    request = {"grant_type": "authorization_code", "code": get_code(url, "alice@acme.com"), **body}
    response = authenticate(url, **request)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]


# authenticate: organization selection


def test_multi_org_user_must_select_an_organization(url):
    body = pending_for_bob(url)
    assert body["code"] == "organization_selection_required" and body["message"]
    assert body["organizations"] == [
        {"id": "org_acme", "name": "Acme Corp"},
        {"id": "org_globex", "name": "Globex"},
    ]
    assert body["user"]["id"] == "user_bob" and USER_KEYS <= set(body["user"])
    selected = authenticate(
        url,
        grant_type="urn:workos:oauth:grant-type:organization-selection",
        pending_authentication_token=body["pending_authentication_token"],
        organization_id="org_globex",
    )
    assert selected.status_code == 200
    assert selected.json()["organization_id"] == "org_globex"
    token = claims(url, selected.json()["access_token"])
    assert token["org_id"] == "org_globex" and token["role"] == "admin"


def test_selection_of_non_member_org_fails_and_keeps_the_pending_token(url, state):
    token = pending_for_bob(url)["pending_authentication_token"]
    state.add_membership("user_bob", "org_globex", "admin", status="inactive")
    grant = "urn:workos:oauth:grant-type:organization-selection"
    for org in ("org_globex", "org_missing"):
        response = authenticate(
            url, grant_type=grant, pending_authentication_token=token, organization_id=org
        )
        assert response.status_code == 400
        assert response.json()["code"] == "organization_membership_not_found"
        assert response.json()["message"]
    ok = authenticate(
        url, grant_type=grant, pending_authentication_token=token, organization_id="org_acme"
    )
    assert ok.status_code == 200


def test_pending_token_is_single_use_and_expires(url, clock):
    grant = "urn:workos:oauth:grant-type:organization-selection"
    token = pending_for_bob(url)["pending_authentication_token"]
    first = authenticate(
        url, grant_type=grant, pending_authentication_token=token, organization_id="org_acme"
    )
    assert first.status_code == 200
    again = authenticate(
        url, grant_type=grant, pending_authentication_token=token, organization_id="org_acme"
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    late = pending_for_bob(url)["pending_authentication_token"]
    clock.now += 601
    expired = authenticate(
        url, grant_type=grant, pending_authentication_token=late, organization_id="org_acme"
    )
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


# authenticate: refresh


def refresh(url: str, token: str, **extra) -> requests.Response:
    return authenticate(url, grant_type="refresh_token", refresh_token=token, **extra)


def test_refresh_rotates_the_refresh_token(url):
    first = exchange(url, "alice@acme.com").json()
    second = refresh(url, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    sid = claims(url, first["access_token"])["sid"]
    assert claims(url, second.json()["access_token"])["sid"] == sid
    reused = refresh(url, first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert refresh(url, second.json()["refresh_token"]).status_code == 200


def test_refresh_switches_only_to_an_organization_with_active_membership(url):
    grant = "urn:workos:oauth:grant-type:organization-selection"
    token = pending_for_bob(url)["pending_authentication_token"]
    bob = authenticate(
        url, grant_type=grant, pending_authentication_token=token, organization_id="org_globex"
    ).json()
    switched = refresh(url, bob["refresh_token"], organization_id="org_acme")
    assert switched.status_code == 200 and switched.json()["organization_id"] == "org_acme"
    access = claims(url, switched.json()["access_token"])
    assert access["org_id"] == "org_acme" and access["role"] == "member"

    alice = exchange(url, "alice@acme.com").json()
    denied = refresh(url, alice["refresh_token"], organization_id="org_globex")
    assert denied.status_code == 400
    assert denied.json()["code"] == "organization_membership_not_found"
    unknown = refresh(url, alice["refresh_token"], organization_id="org_missing")
    assert unknown.status_code == 400 and unknown.json()["code"] == "organization_not_found"
    # A refused switch does not burn the refresh token.
    assert refresh(url, alice["refresh_token"]).status_code == 200


def test_refresh_fails_once_the_membership_is_gone(url, state):
    alice = exchange(url, "alice@acme.com").json()
    with state.lock:
        del state.memberships["om_alice_acme"]
    response = refresh(url, alice["refresh_token"])
    assert response.status_code == 400
    assert response.json()["code"] == "organization_membership_not_found"


# logout


def test_logout_redirects_and_revokes_the_session(url):
    body = exchange(url, "alice@acme.com").json()
    sid = claims(url, body["access_token"])["sid"]
    response = requests.get(
        f"{url}/user_management/sessions/logout",
        allow_redirects=False,
        params={"session_id": sid, "return_to": "http://app.test/"},
        timeout=5,
    )
    assert response.status_code == 302 and response.headers["Location"] == "http://app.test/"
    revoked = refresh(url, body["refresh_token"])
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"session_id": "session_unknown"},
        {"session_id": "x", "return_to": "javascript:alert(1)"},
    ],
)
def test_logout_rejects_missing_or_unknown_session(url, params):
    response = requests.get(
        f"{url}/user_management/sessions/logout", params=params, allow_redirects=False, timeout=5
    )
    assert response.status_code == 422 and response.json()["message"]


def test_logout_without_return_to_answers_200(url):
    sid = claims(url, exchange(url, "carol@example.com").json()["access_token"])["sid"]
    response = requests.get(
        f"{url}/user_management/sessions/logout", params={"session_id": sid}, timeout=5
    )
    assert response.status_code == 200


# JWKS


def test_jwks_is_public_rs256_with_the_token_kid(url):
    keys = requests.get(f"{url}/sso/jwks/{CLIENT}", timeout=5).json()["keys"]
    assert len(keys) == 1
    assert {"kty", "use", "alg", "kid", "n", "e"} <= set(keys[0])
    assert (keys[0]["kty"], keys[0]["use"], keys[0]["alg"]) == ("RSA", "sig", "RS256")
    token = exchange(url, "alice@acme.com").json()["access_token"]
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": keys[0]["kid"], "typ": "JWT"}


def test_jwks_key_carries_its_self_signed_certificate(url):
    (key,) = requests.get(f"{url}/sso/jwks/{CLIENT}", timeout=5).json()["keys"]
    (der,) = (base64.b64decode(c, validate=True) for c in key["x5c"])
    cert = x509.load_der_x509_certificate(der)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert key["x5t#S256"] == thumbprint
    # The certificate holds the JWK's key and verifies under it (self-signed).
    assert cert.public_key().public_numbers() == jwt.PyJWK(key).key.public_numbers()
    assert cert.subject == cert.issuer
    cert.verify_directly_issued_by(cert)


# organization memberships, users, organizations


def memberships(url: str, **params) -> requests.Response:
    return requests.get(
        f"{url}/user_management/organization_memberships", params=params, headers=API, timeout=5
    )


def test_memberships_of_a_user_have_the_full_shape(url):
    body = memberships(url, user_id="user_bob").json()
    assert body["object"] == "list" and set(body["list_metadata"]) == {"before", "after"}
    assert body["list_metadata"] == {"before": None, "after": None}
    assert [m["organization_id"] for m in body["data"]] == ["org_globex", "org_acme"]
    item = body["data"][0]
    assert set(item) >= {
        "object",
        "id",
        "user_id",
        "organization_id",
        "organization_name",
        "status",
        "directory_managed",
        "role",
        "roles",
        "user",
        "created_at",
        "updated_at",
    }
    assert item["object"] == "organization_membership" and item["id"].startswith("om_")
    assert item["organization_name"] == "Globex" and item["status"] == "active"
    assert item["directory_managed"] is False
    assert item["role"] == {"slug": "admin"} and item["roles"] == [{"slug": "admin"}]
    assert USER_KEYS <= set(item["user"])


def test_memberships_by_organization_and_statuses(url, state):
    assert [m["user_id"] for m in memberships(url, organization_id="org_acme").json()["data"]] == [
        "user_bob",
        "user_alice",
    ]
    state.add_membership("user_carol", "org_acme", status="inactive")
    active = memberships(url, organization_id="org_acme").json()["data"]
    assert "user_carol" not in [m["user_id"] for m in active]
    both = memberships(url, organization_id="org_acme", statuses="active,inactive").json()
    assert [m["user_id"] for m in both["data"]][0] == "user_carol"
    assert len(both["data"]) == 3
    only = memberships(
        url, user_id="user_carol", organization_id="org_acme", statuses="inactive"
    ).json()["data"]
    assert [m["status"] for m in only] == ["inactive"]


def test_memberships_paginate_with_cursors_in_both_orders(url):
    first = memberships(url, organization_id="org_acme", limit=1).json()
    assert [m["user_id"] for m in first["data"]] == ["user_bob"]
    assert first["list_metadata"] == {"before": None, "after": first["data"][0]["id"]}
    second = memberships(
        url, organization_id="org_acme", limit=1, after=first["list_metadata"]["after"]
    ).json()
    assert [m["user_id"] for m in second["data"]] == ["user_alice"]
    assert second["list_metadata"] == {"before": second["data"][0]["id"], "after": None}
    back = memberships(
        url, organization_id="org_acme", limit=1, before=second["list_metadata"]["before"]
    ).json()
    assert [m["user_id"] for m in back["data"]] == ["user_bob"]
    ascending = memberships(url, organization_id="org_acme", order="asc").json()["data"]
    assert [m["user_id"] for m in ascending] == ["user_alice", "user_bob"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "missing_user_id_or_organization_id"),
        ({"user_id": "user_bob", "limit": "0"}, 422, "invalid_request_parameters"),
        ({"user_id": "user_bob", "limit": "101"}, 422, "invalid_request_parameters"),
        ({"user_id": "user_bob", "statuses": "active,gone"}, 422, "invalid_request_parameters"),
        ({"user_id": "user_bob", "order": "sideways"}, 422, "invalid_request_parameters"),
    ],
)
def test_memberships_reject_bad_parameters(url, params, status, code):
    response = memberships(url, **params)
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["message"]


def test_get_user_and_organization(url):
    user = requests.get(f"{url}/user_management/users/user_carol", headers=API, timeout=5)
    assert user.status_code == 200 and USER_KEYS <= set(user.json())
    assert (user.json()["email"], user.json()["first_name"]) == ("carol@example.com", "Carol")
    org = requests.get(f"{url}/organizations/org_globex", headers=API, timeout=5).json()
    assert set(org) >= {
        "object",
        "id",
        "name",
        "domains",
        "metadata",
        "external_id",
        "created_at",
        "updated_at",
    }
    assert org["object"] == "organization" and org["name"] == "Globex"
    assert org["domains"][0]["domain"] == "globex.com"


@pytest.mark.parametrize("path", ["/user_management/users/user_nobody", "/organizations/org_x"])
def test_unknown_user_or_organization_is_404_with_message(url, path):
    response = requests.get(url + path, headers=API, timeout=5)
    assert response.status_code == 404 and "not found" in response.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/user_management/users/user_alice",
        "/organizations/org_acme",
        "/user_management/organization_memberships?user_id=user_alice",
    ],
)
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer sk_wrong"}, {"Authorization": f"Basic {KEY}"}]
)
def test_rest_routes_need_the_api_key(url, path, headers):
    response = requests.get(url + path, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized" and response.json()["message"]
