"""Authenticated encryption of small secrets with keys derived from SECRET_KEY."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from service.core.keys import derive


class Sealer:
    """Fernet (AES-128-CBC + HMAC-SHA256) under a key derived for one purpose."""

    def __init__(self, secret_key: str, purpose: str, fallbacks: Iterable[str] = ()):
        # One derived key per purpose, so a value sealed for one use never opens in another.
        # Seals under secret_key; opens under it or any former key (SECRET_KEY_FALLBACKS).
        self._fernet = MultiFernet(
            [
                Fernet(base64.urlsafe_b64encode(derive(key, purpose)))
                for key in (secret_key, *fallbacks)
            ]
        )

    def seal(self, plaintext: str) -> str:
        """Encrypt and authenticate plaintext."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def unseal(self, sealed: str, max_age: int | None = None) -> str | None:
        """Decrypt; None when tampered, sealed under another key, or older than max_age."""
        try:
            return self._fernet.decrypt(sealed.encode(), ttl=max_age).decode()
        except (InvalidToken, ValueError, TypeError):
            return None
