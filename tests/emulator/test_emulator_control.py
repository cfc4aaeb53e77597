"""Emulator control routes over a real socket: hooks, request log, latency, config, reset."""

from __future__ import annotations

import time

import pytest
import requests

from tests.emulator.conftest import APP_ORIGIN

KEY = "sk_test_default"
API = {"Authorization": f"Bearer {KEY}"}
ALICE = {"organization_id": "org_acme", "user_id": "user_alice"}


def mint(url: str, body: dict = ALICE) -> requests.Response:
    return requests.post(f"{url}/client/token", json=body, headers=API, timeout=5)


def add_hook(url: str, **hook) -> dict:
    response = requests.post(f"{url}/_emulate/hooks", json=hook, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def test_health(url):
    response = requests.get(f"{url}/health", timeout=5)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_unknown_route_is_json_404(url):
    response = requests.get(f"{url}/nope", timeout=5)
    assert response.status_code == 404 and response.json()["message"] == "Not Found"


# hooks


def test_hook_answers_count_times_with_status_body_and_headers(url):
    hook = add_hook(
        url, method="POST", path="/client/token", status=503, count=2, headers={"Retry-After": "7"}
    )
    assert hook["id"].startswith("hook_") and hook["count"] == 2
    for _ in range(2):
        failed = mint(url)
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "7"
        assert failed.json() == {"message": "Service Unavailable", "code": "service_unavailable"}
    assert mint(url).status_code == 201
    assert requests.get(f"{url}/_emulate/hooks", timeout=5).json() == []


def test_hook_with_custom_body_and_glob_path_for_any_method(url):
    add_hook(
        url,
        method="*",
        path="/user_management/*",
        status=429,
        body={"message": "Rate limit exceeded.", "code": "rate_limit_exceeded"},
    )
    response = requests.get(f"{url}/user_management/users/user_alice", headers=API, timeout=5)
    assert response.status_code == 429 and response.json()["message"] == "Rate limit exceeded."
    assert requests.get(f"{url}/organizations/org_acme", headers=API, timeout=5).ok


def test_hook_matches_method_and_exact_path_only(url):
    add_hook(url, method="GET", path="/client/token", status=500)
    add_hook(url, method="POST", path="/client", status=500)
    assert mint(url).status_code == 201


def test_hook_delay_without_status_delays_then_answers_normally(url):
    add_hook(url, method="POST", path="/client/token", delay_ms=300, count=1)
    started = time.monotonic()
    response = mint(url)
    assert response.status_code == 201 and time.monotonic() - started >= 0.3


def test_hook_delay_with_status(url):
    add_hook(url, path="/client/token", status=504, delay_ms=200)
    started = time.monotonic()
    assert mint(url).status_code == 504 and time.monotonic() - started >= 0.2


def test_hook_drop_closes_the_connection_without_an_answer(url):
    add_hook(url, method="POST", path="/client/token", drop=True, count=1)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        mint(url)
    assert mint(url).status_code == 201
    log = requests.get(f"{url}/_emulate/requests", timeout=5).json()["requests"]
    assert [entry["status"] for entry in log] == [None, 201]


def test_hooks_list_and_delete(url):
    first = add_hook(url, path="/a", status=500)
    add_hook(url, path="/b", status=500)
    listed = requests.get(f"{url}/_emulate/hooks", timeout=5).json()
    assert [h["path"] for h in listed] == ["/a", "/b"]
    assert requests.delete(f"{url}/_emulate/hooks/{first['id']}", timeout=5).status_code == 204
    assert requests.delete(f"{url}/_emulate/hooks/{first['id']}", timeout=5).status_code == 404
    assert requests.delete(f"{url}/_emulate/hooks", timeout=5).status_code == 204
    assert requests.get(f"{url}/_emulate/hooks", timeout=5).json() == []


@pytest.mark.parametrize(
    "hook",
    [
        {"method": "POST", "status": 500},
        {"path": "/x"},
        {"path": "/x", "status": 700},
        {"path": "/x", "status": 500, "count": 0},
        {"path": "/x", "status": 500, "surprise": True},
    ],
)
def test_invalid_hook_is_400(url, hook):
    response = requests.post(f"{url}/_emulate/hooks", json=hook, timeout=5)
    assert response.status_code == 400 and response.json()["code"] == "bad_request"


def test_hooks_never_touch_control_routes_or_health(url):
    add_hook(url, path="*", status=500)
    assert requests.get(f"{url}/health", timeout=5).ok
    assert requests.get(f"{url}/_emulate/hooks", timeout=5).ok


# request log


def test_request_log_counts_per_route_template(url):
    mint(url)
    mint(url, {"organization_id": "org_acme", "user_id": "user_carol"})
    for org in ("org_acme", "org_globex"):
        requests.get(f"{url}/organizations/{org}", headers=API, timeout=5)
    requests.get(f"{url}/health", timeout=5)
    requests.post(
        f"{url}/user_management/authenticate",
        timeout=5,
        json={"client_id": "client_emulator", "client_secret": KEY},
    )
    body = requests.get(f"{url}/_emulate/requests", timeout=5).json()
    assert body["counts"] == {
        "POST /client/token": 2,
        "GET /organizations/{id}": 2,
        "POST /user_management/authenticate": 1,
    }
    first = body["requests"][0]
    assert (first["method"], first["path"], first["status"]) == ("POST", "/client/token", 201)
    assert first["body"] == ALICE and first["headers"]["Authorization"] == "Bearer [redacted]"
    assert [r["status"] for r in body["requests"]] == [201, 422, 200, 200, 400]
    assert body["requests"][-1]["body"]["client_secret"] == "[redacted]"
    assert requests.delete(f"{url}/_emulate/requests", timeout=5).status_code == 204
    assert requests.get(f"{url}/_emulate/requests", timeout=5).json() == {
        "requests": [],
        "counts": {},
    }


# latency and config


def test_latency_applies_to_emulated_routes_only(url):
    response = requests.put(f"{url}/_emulate/latency", json={"ms": 250}, timeout=5)
    assert response.json() == {"ms": 250}
    started = time.monotonic()
    mint(url)
    assert time.monotonic() - started >= 0.25
    started = time.monotonic()
    requests.get(f"{url}/health", timeout=5)
    requests.get(f"{url}/_emulate/latency", timeout=5)
    assert time.monotonic() - started < 0.25


def test_config_get_and_put(url):
    config = requests.get(f"{url}/_emulate/config", timeout=5).json()
    assert config == {
        "client_id": "client_emulator",
        "client_token_ttl": 300,
        "widget_token_ttl": 3600,
        "latency_ms": 0,
        "allowed_origins": [APP_ORIGIN],
        "rate_limit": None,
        "redirect_uris": [],
    }
    changed = requests.put(
        f"{url}/_emulate/config",
        timeout=5,
        json={
            "client_token_ttl": 5,
            "widget_token_ttl": 7,
            "latency_ms": 1,
            "allowed_origins": ["http://a.test"],
            "redirect_uris": ["http://a.test/callback"],
        },
    ).json()
    assert changed == {
        "client_id": "client_emulator",
        "client_token_ttl": 5,
        "widget_token_ttl": 7,
        "latency_ms": 1,
        "allowed_origins": ["http://a.test"],
        "rate_limit": None,
        "redirect_uris": ["http://a.test/callback"],
    }


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/_emulate/latency", {"ms": -1}),
        ("/_emulate/latency", {}),
        ("/_emulate/config", {"client_token_ttl": 0}),
        ("/_emulate/config", {"widget_token_ttl": 0}),
        ("/_emulate/config", {"api_key": "sk_other"}),
        ("/_emulate/config", {"allowed_origins": "http://a.test"}),
        ("/_emulate/config", [1]),
    ],
)
def test_invalid_settings_are_400(url, path, body):
    assert requests.put(url + path, json=body, timeout=5).status_code == 400


# memberships


def test_memberships_add_update_and_remove(url):
    carol = {"organization_id": "org_acme", "user_id": "user_carol"}
    assert mint(url, carol).status_code == 422
    added = requests.post(
        f"{url}/_emulate/memberships", json={**carol, "role": "member"}, timeout=5
    )
    assert added.status_code == 201 and added.json()["status"] == "active"
    assert mint(url, carol).status_code == 201
    listed = requests.get(
        f"{url}/user_management/organization_memberships",
        headers=API,
        params={"user_id": "user_carol"},
        timeout=5,
    ).json()["data"]
    assert [(m["organization_id"], m["role"]["slug"]) for m in listed] == [("org_acme", "member")]
    updated = requests.post(
        f"{url}/_emulate/memberships", json={**carol, "status": "inactive"}, timeout=5
    )
    assert updated.status_code == 200 and updated.json()["status"] == "inactive"
    assert mint(url, carol).status_code == 422
    assert requests.delete(f"{url}/_emulate/memberships", json=carol, timeout=5).status_code == 204
    assert requests.delete(f"{url}/_emulate/memberships", json=carol, timeout=5).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "user_nobody", "organization_id": "org_acme"},
        {"user_id": "user_carol", "organization_id": "org_nope"},
    ],
)
def test_membership_for_unknown_user_or_org_is_404(url, body):
    assert requests.post(f"{url}/_emulate/memberships", json=body, timeout=5).status_code == 404


# reset


def test_reset_restores_seed_hooks_log_and_settings(url, state):
    requests.post(
        f"{url}/_emulate/memberships",
        timeout=5,
        json={"organization_id": "org_acme", "user_id": "user_carol"},
    )
    requests.put(f"{url}/_emulate/config", json={"client_token_ttl": 9, "latency_ms": 5}, timeout=5)
    add_hook(url, path="/nothing", status=500)
    mint(url)
    assert requests.post(f"{url}/_emulate/reset", timeout=5).status_code == 204
    assert requests.get(f"{url}/_emulate/hooks", timeout=5).json() == []
    assert requests.get(f"{url}/_emulate/requests", timeout=5).json()["counts"] == {}
    config = requests.get(f"{url}/_emulate/config", timeout=5).json()
    assert (config["client_token_ttl"], config["latency_ms"]) == (300, 0)
    assert state.membership("user_carol", "org_acme") is None
