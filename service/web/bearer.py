"""Callers of the token routes: a cookie session, or an AuthKit access token (AUTHKIT_BEARER).

A bearer caller needs no cookie and no X-CSRF header: a browser attaches neither an
Authorization header to a cross-site form nor sends it cross-origin without a CORS preflight
that only CORS_ALLOWED_ORIGINS are granted. Everything after the caller (rate limit, cache
key, single flight, budget) is the same for both kinds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

from service.sessions.records import SessionRecord
from service.sessions.revoked import Revoked, RevokedSessions
from service.web.errors import ApiError
from service.workos.access_tokens import AccessTokenVerifier, InvalidAccessToken

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class Caller(NamedTuple):
    """Who asks for a token: their cache session, user and organization (None: none)."""

    token_session: str
    user_id: str
    organization_id: str | None
    record: SessionRecord | None  # None for a bearer caller: no record to change

    @classmethod
    def of_record(cls, record: SessionRecord) -> Caller:
        """The caller of a cookie session."""
        organization = record.organization
        return cls(
            record.token_session,
            record.user_id,
            organization["id"] if organization else None,
            record,
        )


class BearerAuth:
    """Turns an Authorization: Bearer access token into a Caller, or a 401 invalid_token."""

    def __init__(self, verifier: AccessTokenVerifier, revoked: RevokedSessions):
        self.verifier = verifier
        self.revoked = revoked

    def caller(self, token: str) -> Caller:
        """The caller the access token names (WorkOSError when the keys are unreachable)."""
        try:
            claims = self.verifier.verify(token)
            token_session = self.revoked.token_session(claims.sid)
        except InvalidAccessToken as exc:
            log.info("bearer token refused: %s", exc)
            raise invalid_token(f"The access token is not valid ({exc}).") from None
        except Revoked:
            raise invalid_token("The access token's session was revoked.") from None
        return Caller(token_session, claims.user_id, claims.organization_id, None)


def invalid_token(message: str) -> ApiError:
    """The 401 of RFC 6750 for a bad, expired or revoked access token."""
    return ApiError(401, "invalid_token", message, headers=CHALLENGE)


def bearer_token(environ: Mapping[str, object]) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None (no such header)."""
    value = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(value, str):
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise invalid_token("Authorization: Bearer needs a token.")
    return token
