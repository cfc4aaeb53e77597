"""A client of a running emulator for `make run` and `make bench`: its request log, latency,
rate limit and webhooks, and the AuthKit redirect (tests/emulator_control.py adds the rest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

# The emulator's default credentials (python -m emulator --api-key, --client-id).
API_KEY = "sk_test_default"
CLIENT_ID = "client_emulator"
MINT = "POST /client/token"  # the widget token mint, as the request log names the route


class EmulatorControl:
    """One emulator, reached over its real port."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, self.url + path, timeout=10, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def counts(self) -> dict[str, int]:
        return self._call("GET", "/_emulate/requests")["counts"]

    def count(self, route: str = MINT) -> int:
        return self.counts().get(route, 0)

    def requests_log(self) -> list[dict]:
        return self._call("GET", "/_emulate/requests")["requests"]

    def clear_log(self) -> None:
        self._call("DELETE", "/_emulate/requests")

    def set_latency(self, ms: int) -> None:
        self._call("PUT", "/_emulate/latency", json={"ms": ms})

    def set_rate_limit(self, limit: str | None) -> None:
        """Limit calls per API key ("N/minute"), or lift the limit (None)."""
        self._call("PUT", "/_emulate/rate_limit", json={"limit": limit})

    def authorize(self, authorize_url: str) -> str:
        """Follow the AuthKit redirect as a browser would; returns the callback path+query."""
        response = requests.get(authorize_url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["Location"])
        return f"{location.path}?{location.query}"

    def add_webhook(self, endpoint_url: str, secret: str, events: Sequence[str] = ()) -> dict:
        """Register a webhook endpoint (POST /webhook_endpoints); the endpoint object."""
        response = self.http.post(
            self.url + "/webhook_endpoints",
            json={"endpoint_url": endpoint_url, "secret": secret, "events": list(events)},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()
