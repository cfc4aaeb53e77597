"""The emulator's per-API-key request limit: off by default, 429 + Retry-After like WorkOS."""

from __future__ import annotations

import pytest
import requests

from emulator.ratelimit import parse_rate
from tests.emulator.test_emulator_cli import start

API = {"Authorization": "Bearer sk_test_default"}


def _get(url: str, headers=API) -> requests.Response:
    return requests.get(url + "/organizations/org_acme", headers=headers, timeout=5)


def test_off_by_default(url):
    assert requests.get(url + "/_emulate/rate_limit", timeout=5).json() == {"limit": None}
    assert all(_get(url).status_code == 200 for _ in range(20))


def test_the_limit_answers_429_in_workos_shape_in_any_window(url, clock):
    assert requests.put(url + "/_emulate/rate_limit", json={"limit": "3/minute"}, timeout=5).ok
    assert _get(url).status_code == 200
    clock.advance(10)
    assert [_get(url).status_code for _ in range(2)] == [200, 200]
    clock.advance(10)
    refused = _get(url)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limit_exceeded"
    assert "Rate limit exceeded" in refused.json()["message"]
    assert refused.headers["Retry-After"] == "40"  # until the first call leaves the minute
    clock.advance(40)
    assert _get(url).status_code == 200  # a sliding window: one slot came free, not three
    assert _get(url).status_code == 429
    log = requests.get(url + "/_emulate/requests", timeout=5).json()
    assert log["requests"][-1]["status"] == 429


def test_counted_per_api_key_not_for_client_tokens_or_the_browser(url):
    requests.put(url + "/_emulate/rate_limit", json={"limit": "1/minute"}, timeout=5)
    assert _get(url).status_code == 200
    assert _get(url).status_code == 429
    # authenticate carries the key as client_secret: it counts too.
    body = {"client_id": "client_emulator", "client_secret": "sk_test_default", "code": "x"}
    answer = requests.post(url + "/user_management/authenticate", json=body, timeout=5)
    assert answer.status_code == 429
    # No API key (a wrong one, or the browser's authorize page): not this key's limit.
    assert _get(url, {"Authorization": "Bearer sk_other"}).status_code == 401
    assert requests.get(url + "/user_management/authorize", timeout=5).status_code != 429


def test_control_route_changes_lifts_and_validates(url):
    put = lambda v: requests.put(url + "/_emulate/rate_limit", json={"limit": v}, timeout=5)  # noqa: E731
    assert put("2/second").json() == {"limit": "2/second"}
    assert requests.get(url + "/_emulate/config", timeout=5).json()["rate_limit"] == "2/second"
    assert put("lots").status_code == 400
    assert put(None).json() == {"limit": None}
    assert all(_get(url).status_code == 200 for _ in range(5))


def test_reset_restores_the_starting_limit(url):
    requests.put(url + "/_emulate/rate_limit", json={"limit": "1/minute"}, timeout=5)
    requests.post(url + "/_emulate/reset", timeout=5)
    assert requests.get(url + "/_emulate/rate_limit", timeout=5).json() == {"limit": None}


@pytest.mark.parametrize("value", ["0/minute", "5/fortnight", "five/minute", 5])
def test_bad_rates_are_refused(value):
    with pytest.raises(ValueError):
        parse_rate(value)


def test_command_line_option(tmp_path):
    proc, base = start(tmp_path, "--rate-limit", "2/minute")
    try:
        assert [_get(base).status_code for _ in range(3)] == [200, 200, 429]
    finally:
        proc.stop()
