"""Keys derived from SECRET_KEY, one per purpose, and keyed names made with them."""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive(secret_key: str, purpose: str) -> bytes:
    """A 32-byte key for one purpose: a value made for one use never serves another."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret_key.encode()
    )


def mac(key: bytes, *parts: str) -> str:
    """Hex HMAC-SHA256 of the parts (JSON-joined, so ("a", "bc") and ("ab", "c") differ)."""
    message = json.dumps(parts, separators=(",", ":")).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def session_tag(names_key: bytes, session_id: str) -> str:
    """A session's Redis hash tag: its record, tokens and locks share one cluster slot."""
    # The session store's record name; names_key = derive(SECRET_KEY, "session-store-names").
    return mac(names_key, "s", session_id)
