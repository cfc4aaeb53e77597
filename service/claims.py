"""The one reader of JWT claims that this service does not verify (WorkOS verifies them)."""

from __future__ import annotations

from jwt import PyJWTError
from jwt import decode as jwt_decode

# Longer strings are not worth parsing (and bound the JSON decoded from an opaque token).
MAX_TOKEN = 16384


def unverified_claims(token: str | None) -> dict[str, object]:
    """The payload of a JWT without verifying it; {} for anything that is not one.

    Only for tokens that came straight from WorkOS over TLS in answer to our own authenticated
    call: their signature protects nobody here, and their claims only size a cache or name
    a session.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        return {}
    try:
        claims = jwt_decode(token, options={"verify_signature": False})
    except (PyJWTError, ValueError, TypeError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}
