"""The one reader of JWT claims that this service does not verify (WorkOS verifies them)."""

from __future__ import annotations

import binascii
import json
from base64 import urlsafe_b64decode

# Longer strings are not worth parsing (and bound the JSON decoded from an opaque token).
MAX_TOKEN = 16384


def unverified_claims(token: str | None) -> dict[str, object]:
    """The payload of a JWT without verifying it; {} for anything that is not one.

    Only for tokens that came straight from WorkOS over TLS in answer to our own authenticated
    call: their signature protects nobody here, and their claims only size a cache or name
    a session. Read here rather than by PyJWT's unverified decode, which also decodes and
    checks the signature segment and the header's algorithm: 80 us against 15 us on every
    cache miss and sign-in, for checks that protect nothing without the signature.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN or not token.isascii():
        return {}
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    header, claims = _segment(parts[0]), _segment(parts[1])
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        return {}
    return claims if isinstance(claims, dict) else {}


def _segment(text: str) -> object:
    """A base64url JSON segment, decoded; None when it is not one."""
    try:
        raw = urlsafe_b64decode(text + "=" * (-len(text) % 4))
        return json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
