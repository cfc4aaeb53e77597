"""Emulator Client API over a real socket: `/client/token`, `/client/graphql` and its CORS."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator import sessions
from tests.emulator.conftest import APP_ORIGIN, Clock

KEY = "sk_test_default"
API = {"Authorization": f"Bearer {KEY}"}

ME = "{ me { id email firstName lastName } }"


def mint(
    url: str, user_id: str = "user_alice", org_id: str = "org_acme", headers: dict | None = None
) -> requests.Response:
    return requests.post(
        f"{url}/client/token",
        json={"organization_id": org_id, "user_id": user_id},
        headers=API if headers is None else headers,
        timeout=5,
    )


def token(url: str, user_id: str = "user_alice", org_id: str = "org_acme") -> str:
    response = mint(url, user_id, org_id)
    assert response.status_code == 201, response.text
    return response.json()["token"]


def graphql(
    url: str,
    query: str,
    bearer: str | None = None,
    variables: dict | None = None,
    origin: str | None = None,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if origin:
        headers["Origin"] = origin
    return requests.post(
        f"{url}/client/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=5,
    )


# POST /client/token


def test_token_is_201_rs256_jwt_that_the_jwks_verifies(url):
    response = mint(url)
    assert response.status_code == 201 and list(response.json()) == ["token"]
    value = response.json()["token"]
    keys = requests.get(f"{url}/sso/jwks/client_emulator", timeout=5).json()["keys"]
    header = jwt.get_unverified_header(value)
    assert header["alg"] == "RS256" and header["kid"] == keys[0]["kid"]
    claims = jwt.decode(value, jwt.PyJWK(keys[0]).key, algorithms=["RS256"])
    assert claims["sub"] == "user_alice" and claims["org_id"] == "org_acme"
    assert claims["sid"].startswith("session_") and claims["jti"]
    assert claims["exp"] - claims["iat"] == 300


def test_token_lifetime_follows_the_runtime_setting(url):
    requests.put(f"{url}/_emulate/config", json={"client_token_ttl": 42}, timeout=5)
    claims = jwt.decode(token(url), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 42


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk_wrong"}])
def test_token_needs_the_api_key(url, headers):
    response = mint(url, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized" and response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"organization_id": "org_acme"},
        {"user_id": "user_alice"},
        {"organization_id": 7, "user_id": "user_alice"},
    ],
)
def test_token_needs_organization_and_user(url, body):
    response = requests.post(f"{url}/client/token", json=body, headers=API, timeout=5)
    assert response.status_code == 400 and isinstance(response.json()["message"], str)


@pytest.mark.parametrize(
    ("user_id", "org_id", "status", "message"),
    [
        ("user_alice", "org_missing", 404, "Organization not found: 'org_missing'"),
        ("user_nobody", "org_acme", 404, "User not found: 'user_nobody'"),
        ("user_carol", "org_acme", 422, "not an active member"),
        ("user_alice", "org_globex", 422, "not an active member"),
    ],
)
def test_token_checks_organization_user_and_membership(url, user_id, org_id, status, message):
    response = mint(url, user_id, org_id)
    assert response.status_code == status and message in response.json()["message"]


def test_token_refused_for_an_inactive_membership(url, state):
    state.add_membership("user_alice", "org_acme", "admin", status="inactive")
    assert mint(url).status_code == 422


# POST /client/graphql


def test_graphql_me_organization_and_memberships(url):
    bob = token(url, "user_bob", "org_acme")
    me = graphql(url, ME, bob)
    assert me.status_code == 200
    assert me.json() == {
        "data": {
            "me": {
                "id": "user_bob",
                "email": "bob@globex.com",
                "firstName": "Bob",
                "lastName": "Brown",
            }
        }
    }
    org = graphql(
        url,
        "query Organization($id: ID!) { organization(id: $id) { id name } }",
        bob,
        variables={"id": "org_acme"},
    )
    assert org.json() == {"data": {"organization": {"id": "org_acme", "name": "Acme Corp"}}}
    members = graphql(url, "{ organizationMemberships { data { id email roles { slug } } } }", bob)
    assert members.json()["data"]["organizationMemberships"]["data"] == [
        {"id": "user_bob", "email": "bob@globex.com", "roles": [{"slug": "member"}]},
        {"id": "user_alice", "email": "alice@acme.com", "roles": [{"slug": "admin"}]},
    ]


def test_token_carries_the_permissions_of_the_members_role(url):
    claims = jwt.decode(token(url), options={"verify_signature": False})
    assert "widgets:users-table:manage" in claims["permissions"]
    bob = jwt.decode(token(url, "user_bob"), options={"verify_signature": False})
    assert bob["permissions"] == []


def foreign_token() -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return jwt.encode(
        {"sub": "user_alice", "org_id": "org_acme", "iat": now, "exp": now + 300},
        other,
        algorithm="RS256",
    )


@pytest.mark.parametrize("kind", ["missing", "garbage", "foreign", "expired", "api_key"])
def test_graphql_unauthorized_is_http_200_with_errors(url, state, kind):
    if kind == "expired":
        requests.put(f"{url}/_emulate/config", json={"client_token_ttl": 1}, timeout=5)
        bearer = token(url)
        clock = Clock()
        clock.now += 2
        state.clock = clock
    else:
        bearer = {
            "missing": None,
            "garbage": "not.a.jwt",
            "foreign": foreign_token(),
            "api_key": KEY,
        }[kind]
    response = graphql(url, "{ organizationMemberships { data { id } } }", bearer)
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Unauthorized",
                "path": ["organizationMemberships"],
                "extensions": {"code": "UNAUTHENTICATED"},
            }
        ],
    }


def test_graphql_unauthorized_path_names_the_first_field_through_aliases(url):
    response = graphql(url, 'query { who: me { id } org: organization(id: "x") { id } }')
    [error] = response.json()["errors"]
    assert (error["message"], error["path"]) == ("Unauthorized", ["who"])


def test_graphql_another_organization_is_forbidden_without_partial_data(url):
    body = graphql(url, '{ me { id } organization(id: "org_globex") { id } }', token(url)).json()
    assert body["data"] is None
    assert [(e["extensions"]["code"], e["path"]) for e in body["errors"]] == [
        ("FORBIDDEN", ["organization"])
    ]


def test_graphql_token_stops_working_when_the_membership_goes(url):
    bearer = token(url, "user_bob", "org_acme")
    requests.delete(
        f"{url}/_emulate/memberships",
        timeout=5,
        json={"user_id": "user_bob", "organization_id": "org_acme"},
    )
    assert graphql(url, ME, bearer).json()["errors"][0]["message"] == "Unauthorized"


def test_graphql_accepts_an_authkit_access_token_for_user_scoped_fields(url, state):
    # carol has no organization: `me` works, organization-scoped fields do not.
    code = sessions.issue_code(state, state.users["user_carol"], None)
    access = requests.post(
        f"{url}/user_management/authenticate",
        timeout=5,
        json={
            "client_id": "client_emulator",
            "client_secret": KEY,
            "grant_type": "authorization_code",
            "code": code,
        },
    ).json()["access_token"]
    assert graphql(url, ME, access).json()["data"]["me"]["email"] == "carol@example.com"
    body = graphql(url, "{ organizationMemberships { data { id } } }", access).json()
    assert body["data"] is None and body["errors"][0]["message"] == "Unauthorized"
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ me { id ", "Syntax Error"),
        ("{ nope }", "Cannot query field 'nope'"),
        ("mutation { me { id } }", "Cannot query field 'me' on type 'Mutation'"),
        ("subscription { me { id } }", "subscription operation is not supported"),
    ],
)
def test_graphql_malformed_query_is_200_with_graphql_errors(url, query, message):
    response = graphql(url, query, token(url))
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert message in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        "nonsense",
        "[1, 2]",
        '{"query": 5}',
        '{"query": "{ me { id } }", "variables": [1]}',
        '{"query": "{ me { id } }", "operationName": 7}',
    ],
)
def test_graphql_body_that_is_not_a_graphql_request_is_200_with_an_error(url, body):
    response = requests.post(
        f"{url}/client/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json()["data"] is None and response.json()["errors"][0]["message"]


def test_graphql_introspection_needs_no_token(url):
    body = graphql(url, "{ __schema { queryType { fields { name } } } }").json()
    names = {f["name"] for f in body["data"]["__schema"]["queryType"]["fields"]}
    assert {"me", "user", "organization", "organizationMemberships", "sessions"} <= names


# CORS


WIDGET_HEADERS = "authorization, content-type, workos-widgets-version, workos-widgets-type"


def preflight(url: str, origin: str) -> requests.Response:
    return requests.options(
        f"{url}/client/graphql",
        timeout=5,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": WIDGET_HEADERS,
        },
    )


def test_cors_preflight_from_an_allowed_origin(url):
    response = preflight(url, APP_ORIGIN)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == set(WIDGET_HEADERS.split(", "))
    assert response.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]


def test_cors_preflight_from_another_origin_is_refused(url):
    response = preflight(url, "http://evil.test")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_answers_a_request_with_the_widget_headers(url):
    response = requests.post(
        f"{url}/client/graphql",
        json={"query": ME},
        timeout=5,
        headers={
            "Authorization": f"Bearer {token(url)}",
            "Origin": APP_ORIGIN,
            "WorkOS-Widgets-Version": "1",
            "WorkOS-Widgets-Type": "users-management",
        },
    )
    assert response.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert response.json()["data"]["me"]["id"] == "user_alice"


def test_cors_headers_on_answers_only_for_allowed_origins(url):
    allowed = graphql(url, ME, token(url), origin=APP_ORIGIN)
    assert allowed.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    other = graphql(url, ME, token(url), origin="http://evil.test")
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]


def test_cors_origins_can_change_at_runtime(url):
    requests.put(f"{url}/_emulate/config", json={"allowed_origins": ["http://new.test"]}, timeout=5)
    assert preflight(url, "http://new.test").status_code == 204
    assert preflight(url, APP_ORIGIN).status_code == 403
