"""AccessTokenVerifier: the JWKS is fetched on first use and on an unknown kid, rate-limited."""

from __future__ import annotations

import time

import pytest

from emulator.keys import SigningKey
from service.workos.access_tokens import AccessTokenVerifier, InvalidAccessToken
from service.workos.client import WorkOSTransportError

ISSUER = "https://api.workos.com"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def keys():
    return SigningKey.generate(), SigningKey.generate()


def token(key: SigningKey, **extra) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "user_1", "sid": "session_1", "iat": now, "exp": now + 300}
    return key.sign({**claims, **extra})


def verifier(published: list, fetched: list, clock: Clock) -> AccessTokenVerifier:
    def fetch() -> list[dict]:
        fetched.append(clock.now)
        if isinstance(published[0], Exception):
            raise published[0]
        return [k.jwks()["keys"][0] for k in published]

    return AccessTokenVerifier(fetch, ISSUER, monotonic=clock)


def test_keys_are_fetched_once_then_again_for_an_unknown_kid_at_most_every_30s(keys):
    first, second = keys
    published, fetched, clock = [first], [], Clock()
    check = verifier(published, fetched, clock)
    claims = check.verify(token(first, org_id="org_1"))
    assert (claims.user_id, claims.sid, claims.organization_id) == ("user_1", "session_1", "org_1")
    check.verify(token(first))
    assert fetched == [1000.0]
    published.append(second)  # WorkOS adds a key
    with pytest.raises(InvalidAccessToken, match="unknown key"):
        check.verify(token(second))  # too soon to ask again
    clock.now += 30
    assert check.verify(token(second)).user_id == "user_1"
    assert fetched == [1000.0, 1030.0]


def test_an_outage_before_any_key_is_the_upstreams_and_is_not_retried_per_request(keys):
    published, fetched, clock = (
        [WorkOSTransportError("down", route="GET /sso/jwks/{id}")],
        [],
        Clock(),
    )
    check = verifier(published, fetched, clock)
    for _ in range(3):
        with pytest.raises(WorkOSTransportError):
            check.verify(token(keys[0]))
    assert len(fetched) == 1


def test_claims_that_are_refused(keys):
    key = keys[0]
    check = verifier([key], [], Clock())
    with pytest.raises(InvalidAccessToken, match="expired"):
        check.verify(token(key, iat=int(time.time()) - 400, exp=int(time.time()) - 60))
    with pytest.raises(InvalidAccessToken, match="wrong issuer"):
        check.verify(token(key, iss="https://evil.example"))
    with pytest.raises(InvalidAccessToken):
        check.verify(token(key, sid=None))
    with pytest.raises(InvalidAccessToken, match="not a JWT"):
        check.verify("x" * 50)
    # Within the leeway an expiry a few seconds ago still passes (clock skew).
    assert check.verify(token(key, exp=int(time.time()) - 3)).user_id == "user_1"
