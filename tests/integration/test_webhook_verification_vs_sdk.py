"""The service's `POST /webhooks/workos` accepts what the official SDK's `verify_event` accepts.

Real deliveries of the emulator, caught by a receiver, then replayed as they came and changed
(body, timestamp, secret, header) to the service served on a real port, and handed to the
SDK's verification: the two agree on every case. Two headers differ on purpose (docs/workos.md): the
service takes several `v1` values (secret rollover) and a header without the space.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from workos import WorkOSClient, WorkOSError

from devstack.control_client import API_KEY
from emulator.events import signature
from tests.support import ThreadedServer
from tests.webhook_receiver import Delivery, Receiver


@pytest.fixture
def delivered(emulator, make_app):
    """(SDK client, endpoint secret, deliveries, service URL): two real signed deliveries."""
    sdk = WorkOSClient(
        api_key=API_KEY,
        client_id="client_emulator",
        base_url=emulator.url,
        max_retries=0,
        request_timeout=5,
    )
    receiver = Receiver()
    endpoint = sdk.webhooks.create_webhook_endpoint(endpoint_url=receiver.url, events=[])
    emulator.add_membership("user_carol", "org_acme")
    requests.delete(
        emulator.url + "/_emulate/memberships",
        json={"user_id": "user_carol", "organization_id": "org_acme"},
        timeout=5,
    ).raise_for_status()
    deliveries = receiver.wait_for(2)
    service = ThreadedServer(make_app(WORKOS_WEBHOOK_SECRET=endpoint.secret)).start()
    yield sdk, endpoint.secret, deliveries, service.url
    service.stop()
    receiver.stop()
    sdk.close()


def sdk_accepts(sdk: WorkOSClient, header: str | None, body: bytes, secret: str) -> bool:
    """Whether the SDK's verify_event returns an event for this delivery."""
    try:
        sdk.webhooks.verify_event(event_body=body, event_signature=header, secret=secret)
    except (ValueError, WorkOSError):
        return False
    return True


def service_accepts(service_url: str, header: str | None, body: bytes) -> bool:
    """Whether the service answers 200 (the event taken); a refusal is 401 or 400."""
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["WorkOS-Signature"] = header
    answer = requests.post(service_url + "/webhooks/workos", data=body, headers=headers, timeout=5)
    assert answer.status_code in (200, 400, 401), answer.text
    return answer.status_code == 200


def cases(
    secret: str, first: Delivery, second: Delivery
) -> list[tuple[str, str | None, bytes, bool]]:
    """(what, header, body, accepted) made from two real deliveries."""
    header, body = first.headers["Workos-Signature"], first.body
    now_ms = int(time.time() * 1000)
    t, v1 = (part.split("=", 1)[1] for part in header.split(", "))
    event = json.loads(body)
    event["data"]["note"] = "Zoë ✓"  # non-ASCII, sent as UTF-8
    unicode_body = json.dumps(event, ensure_ascii=False).encode()
    return [
        ("as delivered", header, body, True),
        ("the second, as delivered", second.headers["Workos-Signature"], second.body, True),
        ("a byte of the body changed", header, body.replace(b"user_carol", b"user_carox"), False),
        ("a newline after the body", header, body + b"\n", False),
        ("another delivery's header", second.headers["Workos-Signature"], body, False),
        ("signed with another secret", signature("whsec_other", now_ms, body), body, False),
        ("signed 170 s ago", signature(secret, now_ms - 170_000, body), body, True),
        ("signed 190 s ago", signature(secret, now_ms - 190_000, body), body, False),
        ("signed 170 s ahead", signature(secret, now_ms + 170_000, body), body, True),
        ("signed 190 s ahead", signature(secret, now_ms + 190_000, body), body, False),
        ("timestamp in seconds", signature(secret, now_ms // 1000, body), body, False),
        ("timestamp moved 1 ms", f"t={int(t) + 1}, v1={v1}", body, False),
        ("signature in upper case", f"t={t}, v1={v1.upper()}", body, False),
        ("a UTF-8 body, re-signed", signature(secret, now_ms, unicode_body), unicode_body, True),
        ("a Latin-1 body, re-signed", signature(secret, now_ms, b"\xe9"), b"\xe9", False),
        ("no v1", f"t={t}", body, False),
        ("no t", f"v1={v1}", body, False),
        ("an empty header", "", body, False),
        ("no header", None, body, False),
    ]


def test_the_service_and_the_sdk_agree_on_every_delivery(delivered):
    sdk, secret, (first, second), service_url = delivered
    table = cases(secret, first, second)
    found = [
        (what, sdk_accepts(sdk, header, body, secret), service_accepts(service_url, header, body))
        for what, header, body, _ in table
    ]
    assert found == [(what, ok, ok) for what, _, _, ok in table]


def test_headers_only_the_service_takes(delivered):
    """Differences on purpose: several v1 values (secret rollover) and no space after commas."""
    sdk, secret, (first, _), service_url = delivered
    header, body = first.headers["Workos-Signature"], first.body
    t, v1 = header.split(", ")
    for taken in (f"{t}, v1={'0' * 64}, {v1}", f"{t},{v1}"):
        assert not sdk_accepts(sdk, taken, body, secret)
        assert service_accepts(service_url, taken, body)
