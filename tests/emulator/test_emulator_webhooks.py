"""Emulator webhook endpoints and signed deliveries, received by a real HTTP server."""

from __future__ import annotations

import re
import time

import pytest
import requests

from devstack import dev
from devstack.stack import free_port
from tests.webhook_receiver import Receiver, verify

KEY = "sk_test_default"
API = {"Authorization": f"Bearer {KEY}"}
SECRET = "whsec_test_0123456789"
EVENT_ID = re.compile(r"^event_[0-9A-Z]{26}$")
CAROL_ACME = {"user_id": "user_carol", "organization_id": "org_acme"}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def register(url: str, endpoint_url: str, **extra) -> dict:
    body = {"endpoint_url": endpoint_url, "secret": SECRET, "events": [], **extra}
    response = requests.post(f"{url}/webhook_endpoints", json=body, headers=API, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def add_carol(url: str, **extra) -> requests.Response:
    """Fires organization_membership.created (or .updated) through the control route."""
    return requests.post(f"{url}/_emulate/memberships", json={**CAROL_ACME, **extra}, timeout=5)


def deliveries(url: str) -> list[dict]:
    return requests.get(f"{url}/_emulate/deliveries", timeout=5).json()["deliveries"]


def wait_deliveries(url: str, count: int, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(found := deliveries(url)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(found) >= count, found
    return found


# endpoints


def test_endpoint_create_list_get_delete(url):
    created = register(url, "http://127.0.0.1:9/hook", events=["session.revoked"])
    assert created["id"].startswith("we_") and created["object"] == "webhook_endpoint"
    assert {k: created[k] for k in ("endpoint_url", "secret", "status", "events")} == {
        "endpoint_url": "http://127.0.0.1:9/hook",
        "secret": SECRET,
        "status": "enabled",
        "events": ["session.revoked"],
    }
    assert created["created_at"] == created["updated_at"]
    one = requests.get(f"{url}/webhook_endpoints/{created['id']}", headers=API, timeout=5)
    assert one.status_code == 200 and one.json() == created  # the secret too, as WorkOS
    listed = requests.get(f"{url}/webhook_endpoints", headers=API, timeout=5).json()
    assert listed["object"] == "list" and listed["data"] == [created]
    assert listed["list_metadata"] == {"before": None, "after": None}
    path = f"{url}/webhook_endpoints/{created['id']}"
    assert requests.delete(path, headers=API, timeout=5).status_code == 204
    assert requests.delete(path, headers=API, timeout=5).status_code == 404
    gone = requests.get(path, headers=API, timeout=5)
    assert gone.status_code == 404 and gone.json()["code"] == "entity_not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/webhook_endpoints"), ("GET", "/webhook_endpoints"), ("GET", "/events")],
)
def test_routes_need_the_api_key(url, method, path):
    headers = {"Authorization": "Bearer sk_test_wrong"}
    response = requests.request(method, url + path, json={}, headers=headers, timeout=5)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secret": SECRET}, "endpoint_url"),
        ({"endpoint_url": "not a url", "secret": SECRET}, "endpoint_url"),
        ({"endpoint_url": "ftp://x.test/h", "secret": SECRET}, "endpoint_url"),
        ({"endpoint_url": "http://x.test/h", "secret": ""}, "secret"),
        ({"endpoint_url": "http://x.test/h", "secret": 7}, "secret"),
        ({"endpoint_url": "http://x.test/h", "secret": SECRET, "events": "user.deleted"}, "events"),
        ({"endpoint_url": "http://x.test/h", "secret": SECRET, "enabled": "yes"}, "enabled"),
    ],
)
def test_invalid_endpoint_is_400(url, body, field):
    response = requests.post(f"{url}/webhook_endpoints", json=body, headers=API, timeout=5)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert response.json()["errors"] == [{"field": field, "code": "invalid"}]


def test_without_a_secret_one_is_made_up_and_answered(url, receiver):
    body = {"endpoint_url": receiver.url, "events": []}
    response = requests.post(f"{url}/webhook_endpoints", json=body, headers=API, timeout=5)
    assert response.status_code == 201, response.text
    secret = response.json()["secret"]
    assert re.fullmatch(r"whsec_[\w-]{32}", secret)
    add_carol(url)
    (delivery,) = receiver.wait_for(1)
    verify(secret, delivery.headers["Workos-Signature"], delivery.body)


# signed deliveries


def test_delivery_is_signed_json_with_a_millisecond_timestamp(url, receiver):
    register(url, receiver.url)
    before_ms = time.time() * 1000
    assert add_carol(url).status_code == 201
    (delivery,) = receiver.wait_for(1)
    assert delivery.headers["Content-Type"] == "application/json"
    t = verify(SECRET, delivery.headers["Workos-Signature"], delivery.body)
    assert before_ms - 1000 <= t <= time.time() * 1000 + 1000  # milliseconds, not seconds
    body = delivery.json()
    assert list(body) == ["id", "event", "data", "created_at"]
    assert EVENT_ID.match(body["id"]) and body["event"] == "organization_membership.created"
    assert body["data"]["user_id"] == "user_carol"
    with pytest.raises(AssertionError):
        verify("whsec_other", delivery.headers["Workos-Signature"], delivery.body)


def test_subscription_filter_and_disabled_endpoints(url, receiver):
    other = Receiver()
    try:
        register(url, receiver.url, events=["organization_membership.deleted"])
        register(url, other.url)
        assert register(url, other.url + "/disabled", enabled=False)["status"] == "disabled"
        add_carol(url)
        requests.delete(f"{url}/_emulate/memberships", json=CAROL_ACME, timeout=5)
        assert [e["event"] for e in other.events(2)] == [
            "organization_membership.created",
            "organization_membership.deleted",
        ]
        assert [e["event"] for e in receiver.events(1)] == ["organization_membership.deleted"]
        time.sleep(0.2)
        assert len(receiver.received) == 1 and len(other.received) == 2
    finally:
        other.stop()


def test_failed_delivery_is_retried_and_order_is_kept(url, receiver):
    register(url, receiver.url)
    receiver.statuses.extend([500])
    add_carol(url)
    add_carol(url, role="admin")
    first, retried, second = receiver.wait_for(3)
    assert first.json() == retried.json() and second.json()["event"].endswith(".updated")
    assert retried.at - first.at >= 0.4  # the first backoff is 0.5 s
    assert verify(SECRET, retried.headers["Workos-Signature"], retried.body) >= verify(
        SECRET, first.headers["Workos-Signature"], first.body
    )
    attempts = wait_deliveries(url, 3)
    assert [(a["attempt"], a["status"], a["delivered"]) for a in attempts] == [
        (1, 500, False),
        (2, 200, True),
        (1, 200, True),
    ]
    assert attempts[0]["event_id"] == first.json()["id"] and attempts[0]["error"] is None


def test_delivery_gives_up_after_the_last_retry(url, state, receiver):
    state.events.retry_delays = (0.01, 0.01)
    register(url, receiver.url)
    receiver.statuses.extend([503] * 5)
    add_carol(url)
    receiver.wait_for(3)
    time.sleep(0.3)
    assert len(receiver.received) == 3
    assert [a["attempt"] for a in wait_deliveries(url, 3)] == [1, 2, 3]


def test_unreachable_endpoint_records_the_error(url, state):
    state.events.retry_delays = (0.01,)
    register(url, f"http://127.0.0.1:{free_port()}/hook")
    add_carol(url)
    attempts = wait_deliveries(url, 2)
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, None), (2, None)]
    assert "ConnectionError" in attempts[0]["error"] and not attempts[1]["delivered"]


def test_delivery_does_not_block_the_route(url, receiver):
    register(url, receiver.url)
    receiver.delay = 1.5
    started = time.monotonic()
    assert add_carol(url).status_code == 201
    assert time.monotonic() - started < 1.0
    assert receiver.events(1)[0]["event"] == "organization_membership.created"


def test_reset_clears_endpoints_events_and_deliveries(url, receiver):
    register(url, receiver.url)
    add_carol(url)
    wait_deliveries(url, 1)
    assert requests.post(f"{url}/_emulate/reset", timeout=5).status_code == 204
    assert requests.get(f"{url}/webhook_endpoints", headers=API, timeout=5).json()["data"] == []
    assert requests.get(f"{url}/events", headers=API, timeout=5).json()["data"] == []
    assert deliveries(url) == []
    add_carol(url)  # no endpoint any more: nothing is sent
    time.sleep(0.2)
    assert len(receiver.received) == 1


def test_make_run_registers_the_service_webhook(url, receiver):
    dev.register_webhook(url, receiver.base_url, SECRET)
    add_carol(url)
    (delivery,) = receiver.wait_for(1)
    verify(SECRET, delivery.headers["Workos-Signature"], delivery.body)
