"""What the Widgets REST API remembers beyond the directory: codes, elevated access, passwords.

Kept in `state.widgets` and guarded by the state's lock like everything else. Times are epoch
seconds on the state's clock, so tests can move time instead of sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

# WorkOS's identity verification sends a six-digit code; both it and the elevated access it
# buys are short-lived. WorkOS documents neither lifetime; ten minutes is its usual for codes.
CODE_TTL = 600
ELEVATED_TTL = 600


@dataclass
class Verification:
    """A code "sent" to a user: for elevated access, or to confirm a new email address."""

    challenge_id: str
    user_id: str
    code: str
    expires_at: float
    purpose: str  # "elevated-access" or "email-change"
    new_email: str | None = None


@dataclass
class TotpFactor:
    """An authenticator app enrolled through UserSecurity (verified once a code matched)."""

    id: str
    secret: str  # base32, as authenticator apps take it
    challenge_id: str
    created_at: float
    verified: bool = False


@dataclass
class WidgetsState:
    """Per-user state of the Widgets REST API (call everything under the state's lock)."""

    verifications: dict[str, Verification] = field(default_factory=dict)
    elevated: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (user, exp)
    # Password hashes set through the widgets; seeded users sign in without one
    # (docs/development.md).
    passwords: dict[str, str] = field(default_factory=dict)
    locales: dict[str, str] = field(default_factory=dict)
    totp: dict[str, TotpFactor] = field(default_factory=dict)  # user id -> factor

    def send_code(
        self, user_id: str, now: float, purpose: str, new_email: str | None = None
    ) -> Verification:
        """A new code for the user; an earlier unused one of the same purpose is dropped."""
        for key in [
            k
            for k, v in self.verifications.items()
            if v.user_id == user_id and v.purpose == purpose
        ]:
            del self.verifications[key]
        verification = Verification(
            challenge_id=f"auth_challenge_{secrets.token_hex(13).upper()}",
            user_id=user_id,
            code=f"{secrets.randbelow(10**6):06d}",
            expires_at=now + CODE_TTL,
            purpose=purpose,
            new_email=new_email,
        )
        self.verifications[verification.challenge_id] = verification
        return verification

    def take_code(
        self, user_id: str, code: str, now: float, purpose: str, challenge_id: str | None = None
    ) -> Verification | None:
        """The matching live code, consumed; None if wrong, expired or someone else's."""
        for key, v in list(self.verifications.items()):
            if v.user_id != user_id or v.purpose != purpose:
                continue
            if challenge_id is not None and key != challenge_id:
                continue
            if v.expires_at <= now:
                del self.verifications[key]
                continue
            if hmac.compare_digest(v.code.encode(), code.encode()):
                del self.verifications[key]
                return v
        return None

    def grant_elevated(self, user_id: str, now: float) -> tuple[str, float]:
        """A fresh elevated-access token for the user and its expiry."""
        token = secrets.token_urlsafe(32)
        self.elevated[token] = (user_id, now + ELEVATED_TTL)
        return token, now + ELEVATED_TTL

    def is_elevated(self, user_id: str, token: str | None, now: float) -> bool:
        """Whether token is a live elevated-access token of this user."""
        held = self.elevated.get(token or "")
        return held is not None and held[0] == user_id and held[1] > now

    def set_password(self, user_id: str, password: str) -> None:
        """Remember a password (salted hash; the emulator never signs in with it)."""
        salt = secrets.token_hex(8)
        self.passwords[user_id] = f"{salt}${_hash(salt, password)}"

    def password_matches(self, user_id: str, password: str) -> bool:
        """Whether password is the user's; a user who never set one has none to match."""
        stored = self.passwords.get(user_id)
        if stored is None:
            return False
        salt, digest = stored.split("$", 1)
        return hmac.compare_digest(digest, _hash(salt, password))

    def verifications_json(self) -> list[dict]:
        """The live codes as the control API shows them, oldest first."""
        return [
            {
                "authentication_challenge_id": v.challenge_id,
                "user_id": v.user_id,
                "code": v.code,
                "purpose": v.purpose,
                "new_email": v.new_email,
                "expires_at": datetime.fromtimestamp(v.expires_at, UTC).isoformat(),
            }
            for v in self.verifications.values()
        ]


def _hash(salt: str, password: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 1000).hex()
