"""WorkOSTransport: the one way to WorkOS, a `_request` chokepoint over per-thread sessions.

Every call has a kind ("signin", "mint", "memberships", "events", "keys"): the gate passed in
(service/workos/budget.py) admits or refuses each attempt by kind, and hears of every 429.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from service.core import tracing
from service.workos import timing
from service.workos.errors import WorkOSTimeout, WorkOSTransportError
from service.workos.replies import (
    TRANSPORT_ERRORS,
    Reply,
    fill,
    reply_of,
    retry_after_seconds,
    unsent,
)

log = logging.getLogger(__name__)

# Retry policy (docs/workos.md#how-every-call-is-made): at most one quick, jittered retry per call.
# - Connect-phase failures (refused, DNS, connect timeout) are retried for every method:
#   nothing reached WorkOS, so nothing can have been executed.
# - 502/503/504 are retried for every method: WorkOS's edge answered that the service was
#   unavailable. A 502/504 may hide an executed POST, which is harmless for ours: a second
#   /client/token mint just yields another valid token, and a replayed authorization code
#   or pending token fails closed with invalid_grant.
# - Failures after the request was sent (read timeout, connection dropped mid-response) are
#   retried for GET only: a POST may have been executed. /client/token could be repeated
#   safely, but is deliberately not: a read timeout means WorkOS is slow, and a retry would
#   hold the request thread (and every single-flight waiter behind it) for a second full
#   timeout, while the caller already answers 503 + Retry-After and the browser retries.
# - 500 is not retried (a bug, not an outage), nor 429 (it asks us to back off), and a
#   Retry-After longer than our quick delay skips the retry: it is never slept on.
_RETRY_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT_METHODS = frozenset({"GET"})

# Request fields whose values must never surface, even echoed back inside a WorkOS message.
_SECRET_REQUEST_FIELDS = frozenset(
    {"client_secret", "code", "code_verifier", "pending_authentication_token", "refresh_token"}
)
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class Gate(Protocol):
    """Admits each attempt by kind and hears of every 429 (service/workos/budget.py)."""

    def admit(self, kind: str, route: str) -> None:
        """Return to send the attempt; raise WorkOSRefused to refuse it."""

    def throttled(self, kind: str, retry_after: float | None) -> float:
        """WorkOS answered 429 to a call of this kind; seconds it is paused for."""


class _Bearer(AuthBase):
    """Bearer API key as a requests auth object, so a ~/.netrc entry can never replace it."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "_Bearer([redacted])"


class WorkOSTransport:
    """Base URL, Bearer key, timeouts, one quick retry, typed errors: what every call shares."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        client_id: str,
        timeout: float = 5.0,
        user_agent: str = "graphql-token-service/1.0",
        retry_delay: tuple[float, float] = (0.05, 0.25),
        observer: Callable[[str, int | str, float], None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        # Messages name the argument, never its value: the key must not reach a log.
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        if not isinstance(api_key, str) or not _HEADER_SAFE.fullmatch(api_key):
            raise ValueError("api_key must be a non-empty string without spaces or controls")
        if not isinstance(client_id, str) or not _HEADER_SAFE.fullmatch(client_id):
            raise ValueError("client_id must be a non-empty string without spaces or controls")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        low, high = retry_delay
        if not 0 <= low <= high:
            raise ValueError("retry_delay must be (low, high) with 0 <= low <= high")
        if not user_agent or not user_agent.isprintable():
            raise ValueError("user_agent must be printable text")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.timeout = float(timeout)
        self._api_key = api_key
        self._retry_delay = (float(low), float(high))
        self._observer = observer
        self._gate = gate
        self._auth = _Bearer(api_key)
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._local = threading.local()

    def close(self) -> None:
        """Close this thread's session; the next call opens a new one."""
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is not None:
            session.close()

    def _session(self) -> requests.Session:
        """This thread's session, made on first use and again after a fork."""
        local = self._local
        session: requests.Session | None = getattr(local, "session", None)
        pid = os.getpid()
        if session is not None and local.pid == pid:
            return session
        if session is not None:
            # Inherited across a fork: closing drops only this process's copies of the
            # sockets (no shutdown, no TLS close_notify), the parent's pool is untouched.
            session.close()
        session = requests.Session()
        # The environment (proxies, CA bundle) is read once per session here rather than by
        # requests on every call, which scans os.environ each time (~0.1 ms a request).
        settings = session.merge_environment_settings(self.base_url, {}, None, None, None)
        session.trust_env = False
        session.proxies, session.verify = settings["proxies"], settings["verify"]
        # One thread sends one request at a time to one host, so a tiny pool suffices;
        # max_retries=0 because the loop in _request decides what is retried.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        local.session, local.pid = session, pid
        return session

    def _request(
        self,
        method: str,
        path_template: str,
        *segments: str,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        kind: str,
    ) -> Reply:
        """Send one call (plus at most one quick retry) and map every failure to WorkOSError."""
        route = f"{method} {path_template}"
        url = self.base_url + fill(path_template, segments)
        secrets = {self._api_key}
        if json is not None:
            secrets.update(
                v for k, v in json.items() if k in _SECRET_REQUEST_FIELDS and isinstance(v, str)
            )
        for attempt in (1, 2):
            if self._gate is not None:
                self._gate.admit(kind, route)  # every attempt is a call WorkOS counts
            started = time.monotonic()
            attempt_span = tracing.span(
                f"workos {route}",
                {
                    "gts.workos.kind": kind,
                    "gts.workos.route": route,
                    "gts.workos.attempt": attempt,
                    "gts.workos.retry": attempt > 1,
                },
                client=True,
            )
            try:
                with attempt_span as traced:
                    response = self._send(method, url, params, json, traced)
            except TRANSPORT_ERRORS as exc:
                timed_out = isinstance(exc, requests.Timeout)
                self._observe(route, "timeout" if timed_out else "connection_error", started)
                if attempt == 1 and (unsent(exc) or method in _IDEMPOTENT_METHODS):
                    self._pause(route, "timeout" if timed_out else "connection error")
                    continue
                error = WorkOSTimeout if timed_out else WorkOSTransportError
                what = "timed out" if timed_out else "connection failed"
                # The cause keeps the low-level reason (refused, DNS...); requests puts only
                # host, port and path in it, never headers or body.
                raise error(f"WorkOS {route} {what}", route=route) from exc
            status = response.status_code
            self._observe(route, status, started)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if status == 429 and self._gate is not None:
                # The gate's pause (WorkOS's Retry-After, or its default) is the wait to report.
                retry_after = self._gate.throttled(kind, retry_after)
            if (
                attempt == 1
                and status in _RETRY_STATUSES
                and (retry_after is None or retry_after <= self._retry_delay[1])
            ):
                response.close()
                self._pause(route, f"status {status}")
                continue
            return reply_of(route, response, retry_after, secrets)
        raise AssertionError("unreachable: the second attempt always returns or raises")

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Mapping[str, Any] | None,
        traced: Any,
    ) -> requests.Response:
        """One attempt; its span (when tracing) gets the status and Retry-After."""
        response = self._session().request(
            method,
            url,
            params=params,
            json=json,
            headers=self._headers,
            auth=self._auth,
            timeout=(self.timeout, self.timeout),
            allow_redirects=False,
        )
        if traced is not None:
            traced.set_attribute("http.response.status_code", response.status_code)
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            if retry_after is not None:
                traced.set_attribute("gts.workos.retry_after", retry_after)
            if response.status_code in _RETRY_STATUSES or response.status_code == 429:
                traced.set_attribute("gts.workos.retryable", response.status_code != 429)
        return response

    def _pause(self, route: str, outcome: str) -> None:
        log.info("WorkOS %s failed with %s; retrying once", route, outcome)
        time.sleep(random.uniform(*self._retry_delay))

    def _observe(self, route: str, outcome: int | str, started: float) -> None:
        elapsed = time.monotonic() - started
        timing.add(elapsed)
        if self._observer is None:
            return
        try:
            self._observer(route, outcome, elapsed)
        except Exception:
            # Metrics must never turn a good WorkOS answer into a failed request.
            log.warning("WorkOS observer failed for %s", route, exc_info=True)
