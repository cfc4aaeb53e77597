"""AuthKit access tokens verified against WorkOS's JWKS
(docs/workos.md#authkit-access-tokens-and-jwks).

A token is accepted when it is an RS256 JWT signed by a key of the JWKS of our client id,
issued by the configured issuer, not expired (a small leeway for clock skew), and carries
`sub` and `sid`. The JWKS is fetched through the service's WorkOS client (so the budget
counts it): on first use, when a token names an unknown `kid`, and after `max_age`; never
more than once per `refresh_every` seconds, whatever the tokens say. A token that verified is
remembered until its expiry, so a page that calls every few seconds costs one RSA check.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

import jwt
from cachetools import LRUCache

from service.workos.client import WorkOSError

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 10
REFRESH_EVERY = 30.0  # at most one JWKS fetch per process in this many seconds
MAX_KEY_AGE = 3600.0  # keys older than this are fetched again on the next token
# WorkOS's access tokens live 5 minutes by default (configurable in its dashboard); a longer
# one than this is refused, since revoked sessions are remembered this long (revoked.py).
MAX_LIFETIME = 86400
MAX_TOKEN_LENGTH = 8192
VERIFIED_MAX = 10000


class InvalidAccessToken(Exception):
    """The token is not one of WorkOS's for this client: why, for the log and the answer."""


class AccessClaims(NamedTuple):
    """What the token routes read from a verified access token."""

    user_id: str
    sid: str
    organization_id: str | None
    expires_at: float


class AccessTokenVerifier:
    """Verifies AuthKit access tokens; thread-safe, one per process."""

    def __init__(
        self,
        fetch_keys: Callable[[], list[dict]],
        issuer: str,
        *,
        leeway: float = LEEWAY_SECONDS,
        refresh_every: float = REFRESH_EVERY,
        max_age: float = MAX_KEY_AGE,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._fetch_keys = fetch_keys
        self._issuer = issuer
        self._leeway = leeway
        self._refresh_every = refresh_every
        self._max_age = max_age
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -max_age  # monotonic time of the keys held (never: long ago)
        self._tried_at = -refresh_every  # monotonic time of the last fetch attempt
        self._failure: WorkOSError | None = None  # the last attempt's, until the next one
        self._fetching = threading.Lock()
        self._verified: LRUCache = LRUCache(VERIFIED_MAX)
        self._lock = threading.Lock()  # cachetools caches are not thread-safe

    def verify(self, token: str) -> AccessClaims:
        """The token's claims; InvalidAccessToken, or WorkOSError when the keys are unreachable."""
        with self._lock:
            claims = self._verified.get(token)
        if claims is not None:
            if claims.expires_at + self._leeway > self._clock():
                return claims
            raise InvalidAccessToken("expired")
        claims = self._check(token)
        with self._lock:
            self._verified[token] = claims
        return claims

    def _check(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidAccessToken("too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidAccessToken("not a JWT") from None
        # The algorithm is ours to choose, never the token's ("none", HS256 with the RSA key).
        if header.get("alg") != "RS256":
            raise InvalidAccessToken("not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidAccessToken("no key id")
        key = self._key(kid)
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=self._leeway,
                # aud is not in WorkOS's documented claims; the key set is per client id.
                options={"require": ["exp", "iat", "iss", "sub", "sid"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidAccessToken("expired") from None
        except jwt.InvalidIssuerError:
            raise InvalidAccessToken("wrong issuer") from None
        except jwt.InvalidTokenError as exc:
            raise InvalidAccessToken(type(exc).__name__) from None
        return _claims(claims)

    def _key(self, kid: str) -> jwt.PyJWK:
        """The key named kid, fetching the JWKS when it is unknown or old (rate-limited)."""
        key = self._keys.get(kid)
        if key is not None and self._monotonic() - self._fetched_at < self._max_age:
            return key
        with self._fetching:  # one fetch at a time; the others then read its keys
            key = self._keys.get(kid)
            now = self._monotonic()
            fresh = now - self._fetched_at < self._max_age
            if key is not None and fresh:
                return key
            if now - self._tried_at >= self._refresh_every:
                self._tried_at = now
                self._refresh()
                key = self._keys.get(kid)
            if key is not None:
                return key  # fetched now, or old keys kept while WorkOS does not answer
            if self._failure is not None and not self._keys:
                raise self._failure  # nothing to verify with: WorkOS's outage, not the token's
            raise InvalidAccessToken("unknown key")

    def _refresh(self) -> None:
        try:
            keys = _usable_keys(self._fetch_keys())
        except WorkOSError as exc:
            log.warning("AuthKit JWKS fetch failed: %s", exc)
            self._failure = exc
            return
        self._failure = None
        if keys.keys() != self._keys.keys():
            with self._lock:
                self._verified.clear()  # a key that left the set verifies nothing any more
        self._keys, self._fetched_at = keys, self._monotonic()


def _usable_keys(jwks: list[dict]) -> dict[str, jwt.PyJWK]:
    """RSA signing keys of a JWKS by kid; others (and malformed ones) left out."""
    keys = {}
    for jwk in jwks:
        kid = jwk.get("kid")
        if jwk.get("kty") != "RSA" or jwk.get("alg", "RS256") != "RS256":
            continue
        if jwk.get("use", "sig") != "sig" or not isinstance(kid, str):
            continue
        try:
            keys[kid] = jwt.PyJWK(jwk, algorithm="RS256")
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            log.warning("AuthKit JWKS: a key that is not RSA was skipped")
    return keys


def _claims(claims: dict) -> AccessClaims:
    sub, sid, org = claims.get("sub"), claims.get("sid"), claims.get("org_id")
    if not isinstance(sub, str) or not sub or not isinstance(sid, str) or not sid:
        raise InvalidAccessToken("sub and sid must be strings")
    if org is not None and (not isinstance(org, str) or not org):
        raise InvalidAccessToken("org_id must be a string")
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise InvalidAccessToken("exp and iat must be numbers")
    if exp - iat > MAX_LIFETIME:
        raise InvalidAccessToken("lives longer than revocations are remembered")
    return AccessClaims(sub, sid, org, float(exp))
