"""WorkOS's answers and failures turned into values or our errors, and safe request paths."""

from __future__ import annotations

import email.utils
import json as jsonlib
import re
import time
from collections.abc import Sequence
from datetime import UTC
from typing import Any, NamedTuple
from urllib.parse import quote

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.exceptions import ProxyError as Urllib3ProxyError

from service.workos.errors import (
    OrganizationSelectionRequired,
    WorkOSResponseError,
    WorkOSStatusError,
)

MAX_RETRY_AFTER = 60.0
_MAX_MESSAGE = 300
# Response fields kept out of an error's .body (the pending token has its own attribute).
_SECRET_BODY_FIELDS = frozenset(
    {"access_token", "refresh_token", "token", "pending_authentication_token", "oauth_tokens"}
)
_REDACTED = "[redacted]"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_SECONDS = re.compile(r"\d+(\.\d+)?")


class Reply(NamedTuple):
    """A 2xx answer: its route, status, WorkOS request id and JSON object body."""

    route: str
    status: int
    request_id: str | None
    body: dict


TRANSPORT_ERRORS = (
    requests.ConnectionError,  # also ConnectTimeout, SSLError, ProxyError
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


def segment(value: str) -> str:
    """One path segment, percent-encoded so an id cannot add a path, query or fragment."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError("a WorkOS path segment must be a non-empty string other than . or ..")
    return quote(value, safe="")


def fill(path_template: str, segments: Sequence[str]) -> str:
    """The path with each {placeholder} replaced by the next encoded segment."""
    count = len(_PLACEHOLDER.findall(path_template))
    if count != len(segments):
        raise ValueError(f"{path_template} takes {count} segments, got {len(segments)}")
    encoded = iter([segment(s) for s in segments])
    return _PLACEHOLDER.sub(lambda _: next(encoded), path_template)


def unsent(exc: requests.RequestException) -> bool:
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


def retry_after_seconds(value: str | None) -> float | None:
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
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def reply_of(
    route: str, response: requests.Response, retry_after: float | None, secrets: set[str]
) -> Reply:
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
        return Reply(route, status, request_id, parsed)

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


def shape_error(reply: Reply) -> WorkOSResponseError:
    """The error for a 2xx answer whose body is not the expected shape."""
    return WorkOSResponseError(
        f"WorkOS {reply.route} answered {reply.status} with an unexpected body",
        route=reply.route,
        status=reply.status,
        request_id=reply.request_id,
    )
