"""POST /webhooks/workos: WorkOS events by signed webhook (docs/workos.md#webhook-deliveries).

`WorkOS-Signature: t=<issued at, milliseconds>, v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
The route needs no session and no CSRF header: the signature is its authentication.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from service.components import current
from service.sessions.events import NotAnEvent, parse_event
from service.web.errors import ApiError

bp = Blueprint("webhooks", __name__)

TOLERANCE_SECONDS = 180  # the SDKs' default: older (or as far ahead) signatures are refused
MAX_BODY = 64 * 1024
MAX_HEADER = 2048
# ASCII digits only: str.isdigit() also accepts '²' and '１', which int() refuses or reads.
STAMP = re.compile(r"[0-9]{1,16}")


class InvalidSignature(ValueError):
    """A missing, malformed, wrong or stale WorkOS-Signature."""


def verify_signature(
    header: str | None, body: bytes, secret: str, now: float | None = None
) -> None:
    """Return when header signs body with secret within the tolerance; InvalidSignature else."""
    if not header or len(header) > MAX_HEADER:
        raise InvalidSignature("missing")
    stamp, signatures = None, []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            if stamp is not None:
                raise InvalidSignature("malformed")
            stamp = value
        elif name == "v1":
            signatures.append(value)
    if stamp is None or not STAMP.fullmatch(stamp) or not signatures:
        raise InvalidSignature("malformed")
    age = (time.time() if now is None else now) - int(stamp) / 1000
    if abs(age) > TOLERANCE_SECONDS:
        raise InvalidSignature("timestamp outside the tolerance")
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    # Any v1 may match: WorkOS may sign with a new and an old secret while one is rolled.
    if not any(hmac.compare_digest(expected, given) for given in _ascii(signatures)):
        raise InvalidSignature("no signature matches")


def _ascii(values: list[str]) -> list[str]:
    return [v for v in values if v.isascii()]


@bp.post("/webhooks/workos")
def receive() -> ResponseReturnValue:
    """Verify a WorkOS event and apply it (once per event id)."""
    secret = current().settings.workos_webhook_secret
    if not secret:
        raise ApiError(404, "not_found", "Webhooks are not enabled (WORKOS_WEBHOOK_SECRET).")
    if (request.content_length or 0) > MAX_BODY:
        raise ApiError(413, "payload_too_large", "An event is at most 64 KiB.")
    body = request.get_data(cache=True)
    if len(body) > MAX_BODY:
        raise ApiError(413, "payload_too_large", "An event is at most 64 KiB.")
    try:
        verify_signature(request.headers.get("WorkOS-Signature"), body, secret)
    except InvalidSignature as exc:
        raise ApiError(401, "invalid_signature", f"WorkOS-Signature is {exc}.") from None
    try:
        event = parse_event(json.loads(body))
    except (ValueError, RecursionError) as exc:
        message = str(exc) if isinstance(exc, NotAnEvent) else "the body is not JSON"
        raise ApiError(400, "invalid_event", f"Not a WorkOS event: {message}.") from None
    outcome = current().events.apply(event)
    return jsonify(status=outcome)
