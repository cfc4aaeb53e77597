"""Names and sealed values of the Redis token store, under SECRET_KEY and its fallbacks.

Every name carries an HMAC-SHA256 under a key derived from SECRET_KEY, so names are the same on
every host that shares SECRET_KEY and say nothing about sessions, users or organizations; {s}
is the session's hash tag (`keys.session_tag`, shared with the session store's record), so a
session's keys sit in one slot of a Redis Cluster. Values are Fernet-sealed and bound to the
name they were written under.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from service.core.keys import derive, mac, session_tag
from service.core.sealing import Sealer
from service.tokens.store import CachedToken, TokenKey

Keys = tuple[bytes, bytes]  # (names key, hash-tag key) of one SECRET_KEY
# Hex digits of an HMAC kept in a token's name, index entry and organization tag: 128 bits
# name an entry uniquely, and each of those strings is stored two or three times per token.
SHORT = 32


def _binding(name: str) -> str:
    """What a sealed value carries of its name: the name's own HMAC part (the session's tag
    is in it too, through the MAC), so a value copied under another name does not open."""
    return name.rpartition(":")[2]


class TokenNames:
    """Redis names and sealed values for token entries, the current key's first."""

    def __init__(self, secret_key: str, fallbacks: Sequence[str] = (), prefix: str = "gts"):
        self._prefix = prefix
        # (names, tags) keys per SECRET_KEY, the current one first. Entries written under a
        # former key's names are read (and evicted) until they expire: a rotation mints nothing.
        self.keysets: list[Keys] = [
            (derive(key, "redis-keys"), derive(key, "session-store-names"))
            for key in (secret_key, *fallbacks)
        ]
        self._sealer = Sealer(secret_key, "redis-token-values", fallbacks)

    def _mac(self, *parts: str, keys: Keys | None = None) -> str:
        return mac((keys or self.keysets[0])[0], *parts)

    def _tag(self, session: str, keys: Keys | None = None) -> str:
        # The broker's session part is the record's `token_session`, "<id>.<gen>": the tag
        # comes from the id alone, so a session's tokens sit in its record's slot. Any other
        # form still gives one tag per session (placement, not correctness, relies on this).
        record_id = session.rpartition(".")[0] or session
        return "{" + session_tag((keys or self.keysets[0])[1], record_id) + "}"

    def token(self, key: TokenKey, keys: Keys | None = None) -> str:
        """The name of a token entry."""
        tag, name = self._tag(key[0], keys), self._mac("tok", *key, keys=keys)[:SHORT]
        return f"{self._prefix}:tok:{tag}:{name}"

    def session(self, token_session: str, keys: Keys | None = None) -> str:
        """The name of a session's token index."""
        return f"{self._prefix}:sess:{self._tag(token_session, keys)}"

    def lock(self, key: TokenKey) -> str:
        """The name of a token key's single-flight lock."""
        return f"{self._prefix}:lock:{self._tag(key[0])}:{self._mac('tok', *key)[:SHORT]}"

    def org(self, audience: str, keys: Keys | None = None) -> str:
        """An organization's tag in a session's token index."""
        return self._mac("org", audience, keys=keys)[:SHORT]

    def seal(self, name: str, entry: CachedToken) -> str:
        """The sealed value of an entry, bound to its name."""
        body = {
            "k": _binding(name),
            "token": entry.token,
            "expires_at": entry.expires_at,
            "serve_until": entry.serve_until,
        }
        return self._sealer.seal(json.dumps(body, separators=(",", ":")))

    def unseal(self, name: str, value: bytes) -> CachedToken | None:
        """The entry in a sealed value; None when it does not open or belongs to another name."""
        try:
            opened = self._sealer.unseal(value.decode("ascii"))
            body = json.loads(opened) if opened is not None else None
            # Bound to its key name: a value copied under another session's key is refused.
            if not isinstance(body, dict) or body.get("k") != _binding(name):
                return None
            token = body["token"]
            if not isinstance(token, str) or not token:
                return None
            entry = CachedToken(token, float(body["expires_at"]), float(body["serve_until"]))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None
        return entry
