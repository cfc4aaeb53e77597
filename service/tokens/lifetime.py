"""How long a minted token is served: its lifetime from the claims, and the refresh margin."""

from __future__ import annotations

import math

from service.core.claims import unverified_claims

# A token claiming to live longer than a day is garbled or hostile; never cache that long.
MAX_LIFETIME = 86400.0
DEFAULT_MARGIN = 60.0
SHORT_TOKEN_MARGIN = 30.0
SHORT_TOKEN_LIFETIME = 300.0


def _claim_number(value: object) -> float | None:
    """A positive finite number from a JSON claim, else None (bools and strings are garbled)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def token_lifetime(token: str, fallback_ttl: float, now: float | None = None) -> float:
    """Seconds the token lives: exp - iat, else fallback_ttl; within [0, MAX_LIFETIME]."""
    # exp without iat gives no duration; exp - now would trust WorkOS's clock, so it may only
    # shorten the fallback (a short-lived token must not be cached for the fallback's length).
    claims = unverified_claims(token)
    exp = _claim_number(claims.get("exp"))
    iat = _claim_number(claims.get("iat"))
    if exp is None:
        lifetime = fallback_ttl
    elif iat is not None:
        lifetime = exp - iat
    elif now is not None:
        lifetime = min(fallback_ttl, exp - now)
    else:
        lifetime = fallback_ttl
    return min(max(lifetime, 0.0), MAX_LIFETIME)


def refresh_margin(lifetime: float, configured: float | None) -> float:
    """The configured margin when set, else 30 s for tokens of 5 minutes or less, else 60 s."""
    if configured is not None:
        return configured
    return SHORT_TOKEN_MARGIN if lifetime <= SHORT_TOKEN_LIFETIME else DEFAULT_MARGIN
