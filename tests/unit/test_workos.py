"""service.workos.client: outgoing requests, error mapping, retries, sessions and real sockets."""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
import traceback
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from devstack.stack import free_port
from service.workos import transport as workos_transport
from service.workos.client import (
    OrganizationSelectionRequired,
    WorkOSClient,
    WorkOSError,
    WorkOSResponseError,
    WorkOSStatusError,
    WorkOSTimeout,
    WorkOSTransportError,
)
from tests.support import ThreadedServer

BASE = "https://api.workos.test"
API_KEY = "sk_test_SECRET_api_key_0123456789"
CLIENT_ID = "client_01TEST"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJl"
CODE = "auth_code_SECRET_4242"
VERIFIER = "pkce_verifier_SECRET_abcdefghijklmnopqrstuvwxyz"
PENDING = "pending_token_SECRET_7777"
ACCESS = "access_token_SECRET_8888"
REFRESH = "refresh_token_SECRET_9999"
SECRETS = (API_KEY, TOKEN, CODE, VERIFIER, PENDING, ACCESS, REFRESH)

TOKEN_URL = f"{BASE}/client/token"
AUTH_URL = f"{BASE}/user_management/authenticate"
MEMBERSHIPS_URL = f"{BASE}/user_management/organization_memberships"


def assert_no_secret(exc: BaseException) -> None:
    """Neither the message, the repr nor a formatted traceback may carry a secret."""
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def connect_refused() -> requests.ConnectionError:
    """What requests raises when nothing listens on the port (the request never left)."""
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    return requests.ConnectionError(MaxRetryError(None, "/", reason))


def dropped() -> requests.ConnectionError:
    """What requests raises when the server hangs up after the request was sent."""
    return requests.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError()))


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def observed():
    return []


@pytest.fixture
def client(observed):
    c = WorkOSClient(
        base_url=BASE + "/",
        api_key=API_KEY,
        client_id=CLIENT_ID,
        timeout=2.0,
        retry_delay=(0, 0),
        observer=lambda route, outcome, seconds: observed.append((route, outcome)),
    )
    yield c
    c.close()


# -- URLs built without HTTP ---------------------------------------------------------------


def test_authorization_url_carries_every_pkce_parameter(client):
    url = client.authorization_url(
        redirect_uri="https://app.test/callback?x=1",
        state="st&ate",
        code_challenge="challenge",
        login_hint="a+b@acme.com",
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/user_management/authorize"
    assert parse_qs(parts.query, strict_parsing=True) == {
        "client_id": [CLIENT_ID],
        "redirect_uri": ["https://app.test/callback?x=1"],
        "response_type": ["code"],
        "provider": ["authkit"],
        "state": ["st&ate"],
        "code_challenge": ["challenge"],
        "code_challenge_method": ["S256"],
        "login_hint": ["a+b@acme.com"],
    }


def test_authorization_url_without_login_hint(client):
    url = client.authorization_url(
        redirect_uri="https://app.test/cb", state="s", code_challenge="c"
    )
    assert "login_hint" not in parse_qs(urlsplit(url).query)


def test_logout_and_jwks_urls(client):
    url = client.logout_url(session_id="session_1", return_to="https://app.test/")
    parts = urlsplit(url)
    assert parts.path == "/user_management/sessions/logout"
    assert parse_qs(parts.query) == {
        "session_id": ["session_1"],
        "return_to": ["https://app.test/"],
    }
    assert client.jwks_url == f"{BASE}/sso/jwks/{CLIENT_ID}"
    odd = WorkOSClient(base_url=BASE, api_key=API_KEY, client_id="client/../x")
    assert odd.jwks_url == f"{BASE}/sso/jwks/client%2F..%2Fx"


def test_base_url_path_prefix_is_kept(rsps):
    rsps.add(responses.GET, "http://127.0.0.1:9/prefix/organizations/org_1", json={"id": "org_1"})
    c = WorkOSClient(base_url="http://127.0.0.1:9/prefix/", api_key=API_KEY, client_id=CLIENT_ID)
    assert c.get_organization("org_1") == {"id": "org_1"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_url": "api.workos.com"},
        {"api_key": ""},
        {"api_key": API_KEY + "\r\nX-Evil: 1"},
        {"api_key": "sk key"},
        {"client_id": ""},
        {"timeout": 0},
        {"retry_delay": (0.5, 0.1)},
    ],
)
def test_constructor_rejects_bad_settings_without_echoing_them(kwargs):
    settings = {"base_url": BASE, "api_key": API_KEY, "client_id": CLIENT_ID, **kwargs}
    with pytest.raises(ValueError) as info:
        WorkOSClient(**settings)
    assert_no_secret(info.value)


def test_client_repr_hides_the_api_key(client):
    assert API_KEY not in repr(client)
    assert CLIENT_ID in repr(client)


def test_a_netrc_entry_cannot_replace_the_bearer_key(client, rsps, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.workos.test login someone password other\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    rsps.add(responses.GET, f"{BASE}/organizations/o", json={"id": "o"})
    client.get_organization("o")
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


# -- exact outgoing requests -------------------------------------------------------------


def test_create_client_token_sends_the_documented_request(client, rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"token": TOKEN}, status=201)
    assert client.create_client_token(user_id="user_1", organization_id="org_1") == TOKEN
    (call,) = rsps.calls
    request = call.request
    assert request.method == "POST"
    assert request.url == TOKEN_URL
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["User-Agent"] == "graphql-token-service/1.0"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {"organization_id": "org_1", "user_id": "user_1"}
    assert call.request.req_kwargs["timeout"] == (2.0, 2.0)


def test_custom_user_agent(rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"token": TOKEN}, status=200)
    c = WorkOSClient(base_url=BASE, api_key=API_KEY, client_id=CLIENT_ID, user_agent="svc/2")
    assert c.create_client_token(user_id="u", organization_id="o") == TOKEN
    assert rsps.calls[0].request.headers["User-Agent"] == "svc/2"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (201, "not json"),
        (201, "{}"),
        (201, '{"token": ""}'),
        (201, '{"token": 5}'),
        (201, '{"token": null}'),
        (201, '["token"]'),
        (201, ""),
        (200, '{"tokens": "x"}'),
    ],
)
def test_client_token_bodies_of_the_wrong_shape(client, rsps, status, body):
    rsps.add(responses.POST, TOKEN_URL, body=body, status=status, headers={"x-request-id": "r1"})
    with pytest.raises(WorkOSResponseError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    assert str(info.value) == f"WorkOS POST /client/token answered {status} with an unexpected body"
    assert (info.value.status, info.value.request_id) == (status, "r1")
    assert len(rsps.calls) == 1
    assert_no_secret(info.value)


def test_authenticate_with_code_sends_grant_and_secrets_in_the_body(client, rsps):
    answer = {"user": {"id": "user_1"}, "access_token": ACCESS, "refresh_token": REFRESH}
    rsps.add(responses.POST, AUTH_URL, json=answer)
    result = client.authenticate_with_code(
        code=CODE, code_verifier=VERIFIER, ip_address="203.0.113.9", user_agent="Firefox"
    )
    assert result == answer
    request = rsps.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.body) == {
        "client_id": CLIENT_ID,
        "client_secret": API_KEY,
        "grant_type": "authorization_code",
        "code": CODE,
        "code_verifier": VERIFIER,
        "ip_address": "203.0.113.9",
        "user_agent": "Firefox",
    }


def test_authenticate_omits_unset_optional_fields(client, rsps):
    rsps.add(responses.POST, AUTH_URL, json={"user": {"id": "u"}, "access_token": ACCESS})
    client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert set(json.loads(rsps.calls[0].request.body)) == {
        "client_id",
        "client_secret",
        "grant_type",
        "code",
        "code_verifier",
    }


def test_authenticate_with_organization_selection_body(client, rsps):
    rsps.add(responses.POST, AUTH_URL, json={"user": {"id": "u"}, "access_token": ACCESS})
    client.authenticate_with_organization_selection(
        pending_authentication_token=PENDING, organization_id="org_2"
    )
    assert json.loads(rsps.calls[0].request.body) == {
        "client_id": CLIENT_ID,
        "client_secret": API_KEY,
        "grant_type": "urn:workos:oauth:grant-type:organization-selection",
        "pending_authentication_token": PENDING,
        "organization_id": "org_2",
    }


@pytest.mark.parametrize(
    "answer",
    [
        {"access_token": ACCESS},
        {"user": {"id": "u"}},
        {"user": {"id": "u"}, "access_token": ""},
        {"user": "u", "access_token": ACCESS},
        {"user": {}, "access_token": ACCESS},
    ],
)
def test_authenticate_requires_user_and_access_token(client, rsps, answer):
    rsps.add(responses.POST, AUTH_URL, json=answer)
    with pytest.raises(WorkOSResponseError) as info:
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert_no_secret(info.value)


def test_get_organization_and_user(client, rsps):
    rsps.add(responses.GET, f"{BASE}/organizations/org_1", json={"id": "org_1", "name": "Acme"})
    rsps.add(responses.GET, f"{BASE}/user_management/users/user_1", json={"id": "user_1"})
    assert client.get_organization("org_1")["name"] == "Acme"
    assert client.get_user("user_1") == {"id": "user_1"}
    assert [c.request.method for c in rsps.calls] == ["GET", "GET"]
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Content-Type" not in rsps.calls[0].request.headers


def test_get_organization_without_an_id_is_a_response_error(client, rsps):
    rsps.add(responses.GET, f"{BASE}/organizations/org_1", json={"name": "Acme"})
    with pytest.raises(WorkOSResponseError):
        client.get_organization("org_1")


@pytest.mark.parametrize(
    ("identifier", "encoded"),
    [
        ("org/../admin", "org%2F..%2Fadmin"),
        ("org?x=1#f", "org%3Fx%3D1%23f"),
        ("a b%2F", "a%20b%252F"),
        ("..%2f", "..%252f"),
    ],
)
def test_ids_are_percent_encoded_into_one_segment(client, rsps, identifier, encoded):
    rsps.add(responses.GET, f"{BASE}/organizations/{encoded}", json={"id": identifier})
    client.get_organization(identifier)
    assert urlsplit(rsps.calls[0].request.url).path == f"/organizations/{encoded}"


@pytest.mark.parametrize("identifier", ["", ".", ".."])
def test_empty_and_dot_segments_are_refused_before_any_request(client, rsps, identifier):
    with pytest.raises(ValueError):
        client.get_user(identifier)
    with pytest.raises(ValueError):
        client.get_organization(identifier)
    assert len(rsps.calls) == 0


# -- error mapping -----------------------------------------------------------------------


STATUS_CASES = [
    # status, body, expected .code, expected .message
    (400, {"message": "Organization not found: 'org_1'"}, None, "Organization not found: 'org_1'"),
    (400, {"error": "invalid_grant", "error_description": "Bad"}, "invalid_grant", "Bad"),
    (401, {"message": "Unauthorized"}, None, "Unauthorized"),
    (403, {"code": "forbidden", "message": "No permission"}, "forbidden", "No permission"),
    (404, {"message": "No user", "code": "entity_not_found"}, "entity_not_found", "No user"),
    (422, {"message": ["bad user_id", "bad org"]}, None, "bad user_id; bad org"),
    (429, {"code": "rate_limited", "message": "Slow down"}, "rate_limited", "Slow down"),
    (500, {"message": "Internal"}, None, "Internal"),
    (502, "<html>Bad Gateway</html>", None, ""),
    (503, {"message": "Unavailable"}, None, "Unavailable"),
    (504, "", None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "code", "message"), STATUS_CASES)
def test_status_errors(client, rsps, observed, status, body, code, message):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.add(responses.POST, TOKEN_URL, status=status, headers={"x-request-id": "req_9"}, **kwargs)
    with pytest.raises(WorkOSStatusError) as info:
        client.create_client_token(user_id="user_1", organization_id="org_1")
    exc = info.value
    assert type(exc) is WorkOSStatusError
    assert str(exc) == f"WorkOS POST /client/token answered {status}"
    assert (exc.status, exc.code, exc.message) == (status, code, message)
    assert exc.request_id == "req_9"
    assert exc.route == "POST /client/token"
    assert exc.body == (body if isinstance(body, dict) else {})
    assert exc.retry_after is None
    # 502/503/504 get one quick retry; 4xx, 429 and 500 none.
    attempts = 2 if status in (502, 503, 504) else 1
    assert len(rsps.calls) == attempts
    assert observed == [("POST /client/token", status)] * attempts
    assert_no_secret(exc)


def test_organization_selection_required(client, rsps):
    body = {
        "code": "organization_selection_required",
        "message": "The user must choose an organization to finish their authentication.",
        "pending_authentication_token": PENDING,
        "organizations": [{"id": "org_1", "name": "Acme"}, {"id": "org_2", "name": "Globex"}],
        "user": {"id": "user_1", "email": "bob@globex.com"},
    }
    rsps.add(responses.POST, AUTH_URL, json=body, status=403, headers={"x-request-id": "req_1"})
    with pytest.raises(OrganizationSelectionRequired) as info:
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    exc = info.value
    assert isinstance(exc, WorkOSStatusError)
    assert exc.pending_authentication_token == PENDING
    assert exc.organizations == [{"id": "org_1", "name": "Acme"}, {"id": "org_2", "name": "Globex"}]
    assert exc.user == {"id": "user_1", "email": "bob@globex.com"}
    assert (exc.status, exc.code, exc.request_id) == (
        403,
        "organization_selection_required",
        "req_1",
    )
    assert exc.body["pending_authentication_token"] == "[redacted]"
    assert PENDING not in json.dumps(exc.body)
    assert len(rsps.calls) == 1
    assert_no_secret(exc)


def test_organization_selection_via_error_key_and_odd_organizations(client, rsps):
    body = {
        "error": "organization_selection_required",
        "pending_authentication_token": PENDING,
        "organizations": [{"id": "org_1"}, "junk", {"name": "no id"}],
    }
    rsps.add(responses.POST, AUTH_URL, json=body, status=403)
    with pytest.raises(OrganizationSelectionRequired) as info:
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert info.value.organizations == [{"id": "org_1", "name": None}]
    assert info.value.user == {}


def test_organization_selection_without_pending_token_is_a_plain_403(client, rsps):
    rsps.add(responses.POST, AUTH_URL, json={"code": "organization_selection_required"}, status=403)
    with pytest.raises(WorkOSStatusError) as info:
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert type(info.value) is WorkOSStatusError


def test_secrets_echoed_in_a_workos_message_are_redacted(client, rsps):
    message = f"Invalid code '{CODE}' for verifier {VERIFIER} with key {API_KEY}"
    rsps.add(
        responses.POST, AUTH_URL, json={"error": "invalid_grant", "message": message}, status=400
    )
    with pytest.raises(WorkOSStatusError) as info:
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert info.value.message == (
        "Invalid code '[redacted]' for verifier [redacted] with key [redacted]"
    )
    assert_no_secret(info.value)


def test_long_messages_are_bounded(client, rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"message": "x" * 5000}, status=400)
    with pytest.raises(WorkOSStatusError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    assert len(info.value.message) == 300


def test_redirects_are_not_followed(client, rsps):
    rsps.add(responses.GET, f"{BASE}/organizations/o", status=302, headers={"Location": "/x"})
    with pytest.raises(WorkOSStatusError) as info:
        client.get_organization("o")
    assert info.value.status == 302


# -- Retry-After -------------------------------------------------------------------------


def http_date(offset: float) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=offset), usegmt=True)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("7", 7, 7),
        (" 1.5 ", 1.5, 1.5),
        ("0", 0, 0),
        ("3600", 60, 60),
        ("99999999999999999999999", 60, 60),
        (None, None, None),
        ("soon", None, None),
        ("-5", None, None),
        ("1e3", None, None),
        ("nan", None, None),
        ("", None, None),
    ],
)
def test_retry_after_seconds(client, rsps, header, low, high):
    headers = {} if header is None else {"Retry-After": header}
    rsps.add(responses.POST, TOKEN_URL, status=429, json={}, headers=headers)
    with pytest.raises(WorkOSStatusError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    if low is None:
        assert info.value.retry_after is None
    else:
        assert low <= info.value.retry_after <= high


@pytest.mark.parametrize(("offset", "low", "high"), [(30, 27, 30), (-30, 0, 0), (7200, 60, 60)])
def test_retry_after_http_date(client, rsps, offset, low, high):
    rsps.add(
        responses.POST, TOKEN_URL, status=429, json={}, headers={"Retry-After": http_date(offset)}
    )
    with pytest.raises(WorkOSStatusError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    assert low <= info.value.retry_after <= high
    assert len(rsps.calls) == 1  # 429 is never retried


def test_a_503_asking_for_a_long_wait_is_not_retried(client, rsps):
    rsps.add(responses.POST, TOKEN_URL, status=503, json={}, headers={"Retry-After": "5"})
    with pytest.raises(WorkOSStatusError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    assert info.value.retry_after == 5
    assert len(rsps.calls) == 1


def test_retry_after_is_never_slept_on(client, rsps, monkeypatch):
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    rsps.add(responses.POST, TOKEN_URL, status=429, json={}, headers={"Retry-After": "30"})
    with pytest.raises(WorkOSStatusError):
        client.create_client_token(user_id="u", organization_id="o")
    assert sleeps == []


# -- retries -----------------------------------------------------------------------------


def test_one_retry_on_503_then_success(client, rsps, observed, monkeypatch):
    sleeps = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    c = WorkOSClient(
        base_url=BASE,
        api_key=API_KEY,
        client_id=CLIENT_ID,
        retry_delay=(0.05, 0.25),
        observer=lambda route, outcome, seconds: observed.append((route, outcome)),
    )
    rsps.add(responses.POST, TOKEN_URL, status=503, json={})
    rsps.add(responses.POST, TOKEN_URL, status=201, json={"token": TOKEN})
    assert c.create_client_token(user_id="u", organization_id="o") == TOKEN
    assert len(rsps.calls) == 2
    assert observed == [("POST /client/token", 503), ("POST /client/token", 201)]
    (pause,) = sleeps
    assert 0.05 <= pause <= 0.25
    # Both attempts send the same request.
    assert rsps.calls[0].request.body == rsps.calls[1].request.body


def test_two_503s_fail_after_exactly_two_calls(client, rsps):
    rsps.add(responses.POST, TOKEN_URL, status=503, json={"message": "down"})
    rsps.add(responses.POST, TOKEN_URL, status=503, json={"message": "still down"})
    with pytest.raises(WorkOSStatusError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    assert info.value.status == 503
    assert info.value.message == "still down"
    assert len(rsps.calls) == 2


def test_500_is_not_retried(client, rsps):
    rsps.add(responses.POST, TOKEN_URL, status=500, json={})
    with pytest.raises(WorkOSStatusError):
        client.create_client_token(user_id="u", organization_id="o")
    assert len(rsps.calls) == 1


def test_429_is_not_retried(client, rsps):
    rsps.add(responses.GET, f"{BASE}/organizations/o", status=429, json={})
    with pytest.raises(WorkOSStatusError):
        client.get_organization("o")
    assert len(rsps.calls) == 1


def test_connect_failure_is_retried_once_even_for_post(client, rsps, observed):
    rsps.add(responses.POST, TOKEN_URL, body=connect_refused())
    rsps.add(responses.POST, TOKEN_URL, status=201, json={"token": TOKEN})
    assert client.create_client_token(user_id="u", organization_id="o") == TOKEN
    assert len(rsps.calls) == 2
    assert observed == [("POST /client/token", "connection_error"), ("POST /client/token", 201)]


def test_two_connect_failures_raise_a_transport_error(client, rsps, observed):
    rsps.add(responses.POST, TOKEN_URL, body=connect_refused())
    rsps.add(responses.POST, TOKEN_URL, body=connect_refused())
    with pytest.raises(WorkOSTransportError) as info:
        client.create_client_token(user_id="u", organization_id="o")
    exc = info.value
    assert not isinstance(exc, WorkOSTimeout)
    assert str(exc) == "WorkOS POST /client/token connection failed"
    assert (exc.status, exc.code, exc.retry_after) == (None, None, None)
    assert isinstance(exc.__cause__, requests.ConnectionError)
    assert len(rsps.calls) == 2
    assert_no_secret(exc)


def test_connect_timeout_is_retried_even_for_post(client, rsps):
    rsps.add(responses.POST, TOKEN_URL, body=requests.ConnectTimeout("connect timed out"))
    rsps.add(responses.POST, TOKEN_URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(WorkOSTimeout) as info:
        client.create_client_token(user_id="u", organization_id="o")
    assert str(info.value) == "WorkOS POST /client/token timed out"
    assert len(rsps.calls) == 2


def test_read_timeout_on_post_is_not_retried(client, rsps, observed):
    rsps.add(responses.POST, TOKEN_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(WorkOSTimeout):
        client.create_client_token(user_id="u", organization_id="o")
    assert len(rsps.calls) == 1
    assert observed == [("POST /client/token", "timeout")]


def test_read_timeout_on_get_is_retried_once(client, rsps, observed):
    url = f"{BASE}/user_management/users/u"
    rsps.add(responses.GET, url, body=requests.ReadTimeout("read timed out"))
    rsps.add(responses.GET, url, json={"id": "u"})
    assert client.get_user("u") == {"id": "u"}
    assert observed == [("GET /user_management/users/{id}", "timeout")] + [
        ("GET /user_management/users/{id}", 200)
    ]


def test_dropped_connection_on_post_is_not_retried(client, rsps):
    rsps.add(responses.POST, AUTH_URL, body=dropped())
    with pytest.raises(WorkOSTransportError) as info:
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert len(rsps.calls) == 1
    assert_no_secret(info.value)


def test_dropped_connection_on_get_is_retried_once(client, rsps):
    rsps.add(responses.GET, f"{BASE}/organizations/o", body=dropped())
    rsps.add(responses.GET, f"{BASE}/organizations/o", body=dropped())
    with pytest.raises(WorkOSTransportError):
        client.get_organization("o")
    assert len(rsps.calls) == 2


def test_a_failing_observer_does_not_fail_the_call(rsps, caplog):
    def broken(route, outcome, seconds):
        raise RuntimeError("metrics down")

    rsps.add(responses.POST, TOKEN_URL, status=201, json={"token": TOKEN})
    c = WorkOSClient(base_url=BASE, api_key=API_KEY, client_id=CLIENT_ID, observer=broken)
    assert c.create_client_token(user_id="u", organization_id="o") == TOKEN
    assert "observer failed for POST /client/token" in caplog.text


def test_observer_gets_route_outcome_and_seconds(rsps):
    seen = []
    rsps.add(responses.GET, f"{BASE}/organizations/o", json={"id": "o"})
    c = WorkOSClient(
        base_url=BASE, api_key=API_KEY, client_id=CLIENT_ID, observer=lambda *a: seen.append(a)
    )
    c.get_organization("o")
    ((route, outcome, seconds),) = seen
    assert (route, outcome) == ("GET /organizations/{id}", 200)
    assert 0 <= seconds < 5


def test_logs_never_carry_secrets(client, rsps, caplog):
    caplog.set_level("DEBUG")
    rsps.add(responses.POST, AUTH_URL, status=503, json={"message": CODE})
    rsps.add(responses.POST, AUTH_URL, status=503, json={"message": CODE})
    with pytest.raises(WorkOSStatusError):
        client.authenticate_with_code(code=CODE, code_verifier=VERIFIER)
    assert "retrying once" in caplog.text
    workos_lines = [r.getMessage() for r in caplog.records if r.name.startswith("service.workos")]
    assert workos_lines
    for secret in SECRETS:
        assert all(secret not in line for line in workos_lines)


# -- pagination --------------------------------------------------------------------------


def membership(n: int) -> dict:
    return {"id": f"om_{n}", "user_id": "user_1", "organization_id": f"org_{n}"}


def test_memberships_follow_every_page(client, rsps):
    pages = [
        ([membership(1), membership(2)], "om_2"),
        ([membership(3), membership(4)], "om_4"),
        ([membership(5)], None),
    ]
    for data, after in pages:
        rsps.add(
            responses.GET,
            MEMBERSHIPS_URL,
            json={
                "object": "list",
                "data": data,
                "list_metadata": {"before": None, "after": after},
            },
        )
    result = client.list_organization_memberships(
        user_id="user/1", statuses=("active", "pending"), limit=2
    )
    assert [m["id"] for m in result] == ["om_1", "om_2", "om_3", "om_4", "om_5"]
    queries = [parse_qs(urlsplit(c.request.url).query) for c in rsps.calls]
    base = {"user_id": ["user/1"], "statuses": ["active,pending"], "limit": ["2"]}
    assert queries == [base, {**base, "after": ["om_2"]}, {**base, "after": ["om_4"]}]


def test_memberships_default_to_active_and_a_full_page(client, rsps):
    rsps.add(responses.GET, MEMBERSHIPS_URL, json={"data": [], "list_metadata": {"after": None}})
    assert client.list_organization_memberships(user_id="user_1") == []
    query = parse_qs(urlsplit(rsps.calls[0].request.url).query)
    assert query == {"user_id": ["user_1"], "statuses": ["active"], "limit": ["100"]}


def test_memberships_stop_on_a_repeated_cursor(client, rsps):
    page = {"data": [membership(1)], "list_metadata": {"after": "om_1"}}
    rsps.add(responses.GET, MEMBERSHIPS_URL, json=page)
    rsps.add(responses.GET, MEMBERSHIPS_URL, json=page)
    with pytest.raises(WorkOSResponseError):
        client.list_organization_memberships(user_id="user_1")
    assert len(rsps.calls) == 2


def test_memberships_are_capped_at_fifty_pages(client, rsps):
    counter = iter(range(1000))

    def endless(request):
        n = next(counter)
        return 200, {}, json.dumps({"data": [membership(n)], "list_metadata": {"after": f"c{n}"}})

    rsps.add_callback(responses.GET, MEMBERSHIPS_URL, callback=endless)
    with pytest.raises(WorkOSResponseError) as info:
        client.list_organization_memberships(user_id="user_1")
    assert len(rsps.calls) == 50
    assert "more than 50 pages" in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        {"list_metadata": {"after": None}},
        {"data": "x"},
        {"data": [1]},
        {"data": [], "list_metadata": 3},
    ],
)
def test_memberships_of_the_wrong_shape(client, rsps, body):
    rsps.add(responses.GET, MEMBERSHIPS_URL, json=body)
    with pytest.raises(WorkOSResponseError):
        client.list_organization_memberships(user_id="user_1")


def test_memberships_limit_is_checked(client):
    with pytest.raises(ValueError):
        client.list_organization_memberships(user_id="u", limit=0)
    with pytest.raises(ValueError):
        client.list_organization_memberships(user_id="u", limit=101)


# -- sessions ----------------------------------------------------------------------------


def test_one_session_per_thread_with_no_adapter_retries(client):
    mine = client._session()
    assert client._session() is mine
    adapter = mine.get_adapter("https://api.workos.test")
    assert adapter.max_retries.total == 0
    others = []
    thread = threading.Thread(target=lambda: others.append(client._session()))
    thread.start()
    thread.join()
    assert others[0] is not mine
    others[0].close()


def test_a_fork_gets_a_new_session(client, monkeypatch):
    before = client._session()
    monkeypatch.setattr(workos_transport.os, "getpid", lambda: -1)
    after = client._session()
    assert after is not before
    assert client._session() is after


def test_close_drops_this_threads_session(client):
    first = client._session()
    client.close()
    client.close()  # twice is fine
    assert client._session() is not first


# -- real sockets ------------------------------------------------------------------------


class RawServer:
    """A loopback TCP listener whose handler decides what (if anything) to answer."""

    def __init__(self, handler):
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        # Closing a socket does not wake a blocked accept(): poll a stop flag instead.
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            self.accepted += 1
            self._held.append(conn)
            self._handler(conn)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for conn in self._held:
            conn.close()


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk


@pytest.fixture
def raw_server():
    servers = []

    def start(handler):
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def real_client(url: str, observed: list, timeout: float = 0.3) -> WorkOSClient:
    return WorkOSClient(
        base_url=url,
        api_key=API_KEY,
        client_id=CLIENT_ID,
        timeout=timeout,
        retry_delay=(0, 0.01),
        observer=lambda route, outcome, seconds: observed.append((route, outcome)),
    )


@pytest.mark.timeout(10)
def test_real_server_round_trips_though_each_connection_is_closed():
    # werkzeug answers "Connection: close": the pooled connection must be replaced each time.
    seen = []

    def app(environ, start_response):
        seen.append((environ["REQUEST_METHOD"], environ["RAW_URI"], environ["HTTP_AUTHORIZATION"]))
        body = json.dumps({"token": TOKEN}).encode()
        start_response("201 Created", [("Content-Type", "application/json")])
        return [body]

    server = ThreadedServer(app).start()
    c = real_client(server.url, [], timeout=2)
    try:
        for _ in range(3):
            assert c.create_client_token(user_id="u", organization_id="o") == TOKEN
    finally:
        c.close()
        server.stop()
    assert seen == [("POST", "/client/token", f"Bearer {API_KEY}")] * 3


@pytest.mark.timeout(10)
def test_server_that_never_answers_times_out_a_post_once(raw_server):
    server = raw_server(lambda conn: None)
    observed = []
    c = real_client(server.url, observed)
    started = time.monotonic()
    try:
        with pytest.raises(WorkOSTimeout) as info:
            c.create_client_token(user_id="u", organization_id="o")
    finally:
        c.close()
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 0.3 * 2
    assert server.accepted == 1
    assert observed == [("POST /client/token", "timeout")]
    assert_no_secret(info.value)


@pytest.mark.timeout(10)
def test_server_that_never_answers_times_out_a_get_after_one_retry(raw_server):
    server = raw_server(lambda conn: None)
    observed = []
    c = real_client(server.url, observed)
    started = time.monotonic()
    try:
        with pytest.raises(WorkOSTimeout):
            c.get_organization("org_1")
    finally:
        c.close()
    elapsed = time.monotonic() - started
    assert 0.55 <= elapsed < 0.3 * 2 + 0.4
    assert server.accepted == 2
    assert observed == [("GET /organizations/{id}", "timeout")] * 2


@pytest.mark.timeout(10)
def test_nothing_listening_is_a_transport_error_after_one_retry():
    observed = []
    c = real_client(f"http://127.0.0.1:{free_port()}", observed)
    try:
        with pytest.raises(WorkOSTransportError) as info:
            c.create_client_token(user_id="u", organization_id="o")
    finally:
        c.close()
    assert not isinstance(info.value, WorkOSTimeout)
    assert observed == [("POST /client/token", "connection_error")] * 2
    assert_no_secret(info.value)


def cut_mid_response(conn: socket.socket) -> None:
    read_request(conn)
    head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    conn.sendall(head + b'{"token": "eyJ')
    conn.close()


@pytest.mark.timeout(10)
def test_connection_closed_mid_response(raw_server):
    server = raw_server(cut_mid_response)
    observed = []
    c = real_client(server.url, observed, timeout=2)
    try:
        with pytest.raises(WorkOSTransportError) as info:
            c.create_client_token(user_id="u", organization_id="o")
    finally:
        c.close()
    assert not isinstance(info.value, WorkOSTimeout)
    assert server.accepted == 1  # the POST may have been executed: no retry
    assert observed == [("POST /client/token", "connection_error")]
    assert_no_secret(info.value)


@pytest.mark.timeout(10)
def test_connection_closed_before_any_answer_on_get_is_retried(raw_server):
    def hang_up(conn):
        read_request(conn)
        conn.close()

    server = raw_server(hang_up)
    c = real_client(server.url, [], timeout=2)
    try:
        with pytest.raises(WorkOSTransportError):
            c.get_user("user_1")
    finally:
        c.close()
    assert server.accepted == 2


def test_every_error_is_a_workos_error():
    for cls in (
        WorkOSTransportError,
        WorkOSTimeout,
        WorkOSStatusError,
        OrganizationSelectionRequired,
        WorkOSResponseError,
    ):
        assert issubclass(cls, WorkOSError)
    assert issubclass(WorkOSTimeout, WorkOSTransportError)


@pytest.mark.timeout(10)
def test_a_pooled_connection_closed_while_idle_is_replaced_not_failed(raw_server):
    # max_retries=0 and no POST retry after send: urllib3 must notice the idle close itself.
    def answer_then_hang_up(conn):
        read_request(conn)
        body = json.dumps({"token": TOKEN}).encode()
        head = f"HTTP/1.1 201 Created\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        conn.sendall(head + body)
        conn.close()

    server = raw_server(answer_then_hang_up)
    c = real_client(server.url, [], timeout=2)
    try:
        assert c.create_client_token(user_id="u", organization_id="o") == TOKEN
        time.sleep(0.05)  # let the FIN arrive while the connection sits in the pool
        assert c.create_client_token(user_id="u", organization_id="o") == TOKEN
    finally:
        c.close()
    assert server.accepted == 2


def test_proxy_and_ca_bundle_come_from_the_environment_once(client, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = client._session()
    assert session.trust_env is False  # requests no longer re-reads os.environ per call
    assert session.proxies[BASE.split(":")[0]] == "http://proxy.internal:3128"
    assert session.verify == str(bundle)
