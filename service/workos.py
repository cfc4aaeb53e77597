"""The one HTTP client of WorkOS: every call goes through ``WorkOSClient._request``.

Errors it raises (the message names the route and status only, never a secret)::

    WorkOSError                          .route .status .code .request_id .retry_after
    ├── WorkOSTransportError             no answer: refused, reset, dropped mid-response, DNS
    │   └── WorkOSTimeout                connect or read timeout
    ├── WorkOSStatusError                a non-2xx answer; .message (safe text), .body
    │   └── OrganizationSelectionRequired  403 organization_selection_required
    ├── WorkOSResponseError              a 2xx answer whose body is not the expected shape
    └── WorkOSRefused                    not sent: the gate refused it (budget spent, or this
                                         kind of call paused after a WorkOS 429)

Every call has a kind ("signin", "mint", "memberships", "events"): the gate passed to the
client (service/budget.py) admits or refuses each attempt by kind, and hears of every 429.

The module imports nothing from the rest of ``service`` and never reads ``current_app``:
the app factory passes its configuration in.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote, urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError

__all__ = [
    "OrganizationSelectionRequired",
    "WorkOSClient",
    "WorkOSError",
    "WorkOSRefused",
    "WorkOSResponseError",
    "WorkOSStatusError",
    "WorkOSTimeout",
    "WorkOSTransportError",
]

log = logging.getLogger(__name__)

# Retry policy (design.md §6): at most one quick, jittered retry per call.
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
_MAX_RETRY_AFTER = 60.0
_MAX_PAGES = 50
_MAX_MESSAGE = 300

# Request fields whose values must never surface, even echoed back inside a WorkOS message.
_SECRET_REQUEST_FIELDS = frozenset(
    {"client_secret", "code", "code_verifier", "pending_authentication_token", "refresh_token"}
)
# Response fields kept out of an error's .body (the pending token has its own attribute).
_SECRET_BODY_FIELDS = frozenset(
    {"access_token", "refresh_token", "token", "pending_authentication_token", "oauth_tokens"}
)
_REDACTED = "[redacted]"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_SECONDS = re.compile(r"\d+(\.\d+)?")
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class WorkOSError(Exception):
    """Base of every WorkOS failure; carries the route and what WorkOS said, never a secret."""

    def __init__(
        self,
        summary: str,
        *,
        route: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(summary)
        self.route = route
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.args[0]!r}, status={self.status!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class WorkOSTransportError(WorkOSError):
    """WorkOS could not be reached or the connection broke before a full answer."""


class WorkOSTimeout(WorkOSTransportError):
    """WorkOS did not connect or answer within the timeout."""


class WorkOSStatusError(WorkOSError):
    """WorkOS answered with a non-2xx status."""

    def __init__(
        self, summary: str, *, message: str = "", body: dict | None = None, **kwargs: Any
    ) -> None:
        super().__init__(summary, **kwargs)
        self.message = message
        self.body = body if body is not None else {}


class OrganizationSelectionRequired(WorkOSStatusError):
    """WorkOS needs the user to pick an organization to finish signing in."""

    def __init__(
        self,
        summary: str,
        *,
        pending_authentication_token: str,
        organizations: list[dict],
        user: dict,
        **kwargs: Any,
    ) -> None:
        super().__init__(summary, **kwargs)
        self.pending_authentication_token = pending_authentication_token
        self.organizations = organizations
        self.user = user


class WorkOSResponseError(WorkOSError):
    """WorkOS answered 2xx with a body that is not the expected shape."""


class WorkOSRefused(WorkOSError):
    """The call was not sent: the gate refused its kind; .retry_after says when to retry."""


class Gate(Protocol):
    """Admits each attempt by kind and hears of every 429 (service/budget.py)."""

    def admit(self, kind: str, route: str) -> None:
        """Return to send the attempt; raise WorkOSRefused to refuse it."""

    def throttled(self, kind: str, retry_after: float | None) -> float:
        """WorkOS answered 429 to a call of this kind; seconds it is paused for."""


class _Reply(NamedTuple):
    route: str
    status: int
    request_id: str | None
    body: dict


class _Bearer(AuthBase):
    """Bearer API key as a requests auth object, so a ~/.netrc entry can never replace it."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "_Bearer([redacted])"


class WorkOSClient:
    """WorkOS User Management and Client API calls over a per-thread requests session."""

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

    def __repr__(self) -> str:
        return f"WorkOSClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # -- URLs the browser is sent to (no HTTP from here) --------------------------------

    def authorization_url(
        self, *, redirect_uri: str, state: str, code_challenge: str, login_hint: str | None = None
    ) -> str:
        """The hosted AuthKit sign-in URL for one PKCE flow."""
        params = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "provider": "authkit",
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self.base_url}/user_management/authorize?{urlencode(params)}"

    def logout_url(self, *, session_id: str, return_to: str) -> str:
        """The URL that ends the WorkOS session and comes back to return_to."""
        params = {"session_id": session_id, "return_to": return_to}
        return f"{self.base_url}/user_management/sessions/logout?{urlencode(params)}"

    @property
    def jwks_url(self) -> str:
        """Where WorkOS publishes the keys that sign AuthKit access tokens."""
        return f"{self.base_url}/sso/jwks/{_segment(self.client_id)}"

    # -- API calls ----------------------------------------------------------------------

    def authenticate_with_code(
        self,
        *,
        code: str,
        code_verifier: str,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> dict:
        """Exchange an AuthKit authorization code (with its PKCE verifier) for the user."""
        return self._authenticate(
            grant_type="authorization_code",
            code=code,
            code_verifier=code_verifier,
            ip_address=ip_address,
            user_agent=user_agent,
        )

    def authenticate_with_organization_selection(
        self, *, pending_authentication_token: str, organization_id: str
    ) -> dict:
        """Finish a sign-in that WorkOS paused for an organization choice."""
        return self._authenticate(
            grant_type="urn:workos:oauth:grant-type:organization-selection",
            pending_authentication_token=pending_authentication_token,
            organization_id=organization_id,
        )

    def list_organization_memberships(
        self,
        *,
        user_id: str,
        statuses: Sequence[str] = ("active",),
        limit: int = 100,
        kind: str = "memberships",
    ) -> list[dict]:
        """Every membership of the user with one of the statuses, across all pages."""
        if isinstance(statuses, str):
            statuses = (statuses,)
        if not 1 <= limit <= 100:
            raise ValueError("limit must be between 1 and 100")
        params: dict[str, Any] = {"user_id": user_id, "statuses": ",".join(statuses)}
        params["limit"] = limit
        memberships: list[dict] = []
        seen: set[str] = set()
        after: str | None = None
        for _ in range(_MAX_PAGES):
            page = {**params, "after": after} if after else params
            reply = self._request(
                "GET", "/user_management/organization_memberships", params=page, kind=kind
            )
            data = reply.body.get("data")
            metadata = reply.body.get("list_metadata") or {}
            if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
                raise _shape_error(reply)
            if not isinstance(metadata, dict):
                raise _shape_error(reply)
            memberships.extend(data)
            after = metadata.get("after")
            if not after:
                return memberships
            # A cursor seen before would page forever; so would a non-string one.
            if not isinstance(after, str) or after in seen:
                raise _shape_error(reply)
            seen.add(after)
        raise WorkOSResponseError(
            f"WorkOS GET /user_management/organization_memberships had more than {_MAX_PAGES} "
            "pages",
            route="GET /user_management/organization_memberships",
        )

    def get_organization(self, organization_id: str, *, kind: str = "memberships") -> dict:
        """One organization by id."""
        reply = self._request("GET", "/organizations/{id}", organization_id, kind=kind)
        return self._object(reply)

    def get_user(self, user_id: str) -> dict:
        """One user by id."""
        reply = self._request("GET", "/user_management/users/{id}", user_id, kind="events")
        return self._object(reply)

    def create_client_token(self, *, user_id: str, organization_id: str) -> str:
        """Mint a Client API (Widgets) token for the user acting in the organization."""
        reply = self._request(
            "POST",
            "/client/token",
            json={"organization_id": organization_id, "user_id": user_id},
            kind="mint",
        )
        token = reply.body.get("token")
        if not isinstance(token, str) or not token:
            raise _shape_error(reply)
        return token

    def list_events(
        self,
        *,
        events: Sequence[str],
        after: str | None = None,
        limit: int = 100,
        order: str = "asc",
    ) -> list[dict]:
        """One page of the Events API: events of these types after the cursor `after`."""
        # The type list goes both ways: `events[]` (read by WorkOS's emulator) and `events`
        # (what the official SDK's HTTP client writes); workos-reference §7c.
        params: dict[str, Any] = {"events[]": list(events), "events": list(events)}
        params.update(limit=limit, order=order)
        if after:
            params["after"] = after
        reply = self._request("GET", "/events", params=params, kind="events")
        data = reply.body.get("data")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise _shape_error(reply)
        return data

    def close(self) -> None:
        """Close this thread's session; the next call opens a new one."""
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is not None:
            session.close()

    # -- internals ----------------------------------------------------------------------

    def _authenticate(self, **fields: str | None) -> dict:
        body = {"client_id": self.client_id, "client_secret": self._api_key}
        body.update({k: v for k, v in fields.items() if v is not None})
        reply = self._request("POST", "/user_management/authenticate", json=body, kind="signin")
        user = reply.body.get("user")
        token = reply.body.get("access_token")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            raise _shape_error(reply)
        if not isinstance(token, str) or not token:
            raise _shape_error(reply)
        return reply.body

    @staticmethod
    def _object(reply: _Reply) -> dict:
        if not isinstance(reply.body.get("id"), str):
            raise _shape_error(reply)
        return reply.body

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
    ) -> _Reply:
        """Send one call (plus at most one quick retry) and map every failure to WorkOSError."""
        route = f"{method} {path_template}"
        url = self.base_url + _fill(path_template, segments)
        secrets = {self._api_key}
        if json is not None:
            secrets.update(
                v for k, v in json.items() if k in _SECRET_REQUEST_FIELDS and isinstance(v, str)
            )
        for attempt in (1, 2):
            if self._gate is not None:
                self._gate.admit(kind, route)  # every attempt is a call WorkOS counts
            started = time.monotonic()
            try:
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
            except _TRANSPORT_ERRORS as exc:
                timed_out = isinstance(exc, requests.Timeout)
                self._observe(route, "timeout" if timed_out else "connection_error", started)
                if attempt == 1 and (_unsent(exc) or method in _IDEMPOTENT_METHODS):
                    self._pause(route, "timeout" if timed_out else "connection error")
                    continue
                error = WorkOSTimeout if timed_out else WorkOSTransportError
                what = "timed out" if timed_out else "connection failed"
                # The cause keeps the low-level reason (refused, DNS...); requests puts only
                # host, port and path in it, never headers or body.
                raise error(f"WorkOS {route} {what}", route=route) from exc
            status = response.status_code
            self._observe(route, status, started)
            retry_after = _retry_after(response.headers.get("Retry-After"))
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
            return _reply(route, response, retry_after, secrets)
        raise AssertionError("unreachable: the second attempt always returns or raises")

    def _pause(self, route: str, outcome: str) -> None:
        log.info("WorkOS %s failed with %s; retrying once", route, outcome)
        time.sleep(random.uniform(*self._retry_delay))

    def _observe(self, route: str, outcome: int | str, started: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(route, outcome, time.monotonic() - started)
        except Exception:
            # Metrics must never turn a good WorkOS answer into a failed request.
            log.warning("WorkOS observer failed for %s", route, exc_info=True)


_TRANSPORT_ERRORS = (
    requests.ConnectionError,  # also ConnectTimeout, SSLError, ProxyError
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def _segment(value: str) -> str:
    """One path segment, percent-encoded so an id cannot add a path, query or fragment."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError("a WorkOS path segment must be a non-empty string other than . or ..")
    return quote(value, safe="")


def _fill(path_template: str, segments: Sequence[str]) -> str:
    """The path with each {placeholder} replaced by the next encoded segment."""
    count = len(_PLACEHOLDER.findall(path_template))
    if count != len(segments):
        raise ValueError(f"{path_template} takes {count} segments, got {len(segments)}")
    encoded = iter([_segment(s) for s in segments])
    return _PLACEHOLDER.sub(lambda _: next(encoded), path_template)


def _unsent(exc: requests.RequestException) -> bool:
    """True when the failure happened while connecting, so WorkOS never saw the request."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    if isinstance(reason, Urllib3ProxyError):
        reason = reason.original_error
    # urllib3's own test for "the server did not receive the request" (Retry._is_connection_error);
    # it covers refused connections and DNS failures (NewConnectionError subclasses it).
    return isinstance(reason, ConnectTimeoutError)


def _retry_after(value: str | None) -> float | None:
    """Retry-After (seconds or HTTP-date) as seconds from now, capped; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 5322 "-0000": UTC
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _reply(
    route: str, response: requests.Response, retry_after: float | None, secrets: set[str]
) -> _Reply:
    """The parsed 2xx body, or the status error WorkOS's answer maps to."""
    status = response.status_code
    request_id = response.headers.get("x-request-id")
    try:
        parsed = jsonlib.loads(response.content)
    except ValueError:
        parsed = None
    if 200 <= status < 300:
        if not isinstance(parsed, dict):
            raise WorkOSResponseError(
                f"WorkOS {route} answered {status} with an unexpected body",
                route=route,
                status=status,
                request_id=request_id,
            )
        return _Reply(route, status, request_id, parsed)

    body = parsed if isinstance(parsed, dict) else {}
    secrets = secrets | {
        v for k, v in body.items() if k in _SECRET_BODY_FIELDS and isinstance(v, str)
    }
    code = body.get("code") or body.get("error")
    common: dict[str, Any] = {
        "route": route,
        "status": status,
        "code": code if isinstance(code, str) else None,
        "request_id": request_id,
        "retry_after": retry_after,
        "message": _safe_message(body, secrets),
        "body": {k: (_REDACTED if k in _SECRET_BODY_FIELDS else v) for k, v in body.items()},
    }
    summary = f"WorkOS {route} answered {status}"
    pending = body.get("pending_authentication_token")
    if status == 403 and code == "organization_selection_required" and pending:
        # Without a pending token the selection cannot be finished: a plain status error then.
        organizations = body.get("organizations")
        user = body.get("user")
        raise OrganizationSelectionRequired(
            summary,
            pending_authentication_token=str(pending),
            organizations=[
                {"id": o["id"], "name": o.get("name")}
                for o in (organizations if isinstance(organizations, list) else [])
                if isinstance(o, dict) and isinstance(o.get("id"), str)
            ],
            user=user if isinstance(user, dict) else {},
            **common,
        )
    raise WorkOSStatusError(summary, **common)


def _safe_message(body: dict, secrets: set[str]) -> str:
    """WorkOS's human message, with any echoed secret blanked out and the length bounded."""
    message = body.get("message") or body.get("error_description") or ""
    if isinstance(message, list):  # validation errors: {"message": ["a", "b"]}
        message = "; ".join(str(m) for m in message)
    message = str(message)
    for secret in secrets:
        if secret:
            message = message.replace(secret, _REDACTED)
    return message[:_MAX_MESSAGE]


def _shape_error(reply: _Reply) -> WorkOSResponseError:
    return WorkOSResponseError(
        f"WorkOS {reply.route} answered {reply.status} with an unexpected body",
        route=reply.route,
        status=reply.status,
        request_id=reply.request_id,
    )
