"""The token route's body, written out by hand for speed: always the JSON json.dumps would give."""

from __future__ import annotations

import json
import string
import time

from hypothesis import given
from hypothesis import strategies as st

from service.tokens.broker import IssuedToken
from service.web.api import json_token, token_body, utc_iso

T0 = 1_700_000_000.25
JWT_LIKE = st.text(alphabet=string.ascii_letters + string.digits + "-_.", max_size=2000)


@given(
    token=st.one_of(JWT_LIKE, st.text(max_size=200)),
    organization_id=st.text(max_size=200),
    left=st.floats(min_value=-10, max_value=10_000, allow_nan=False),
)
def test_the_body_is_the_json_of_its_fields(token, organization_id, left):
    issued = IssuedToken(token, time.time() + left, organization_id, cached=True)
    before = time.time()
    body = token_body(issued, organization_id)
    after = time.time()
    parsed = json.loads(body)
    assert parsed == {
        "token": token,
        "expires_at": utc_iso(issued.expires_at),
        "expires_in": parsed["expires_in"],
        "organization_id": organization_id,
    }
    assert issued.expires_in(after) <= parsed["expires_in"] <= issued.expires_in(before)
    assert body.isascii()  # what json.dumps gives by default: non-ASCII escaped


def test_expires_in_counts_whole_seconds_from_now():
    issued = IssuedToken("t", time.time() + 100.5, "org_a", cached=True)
    assert json.loads(token_body(issued, "org_a"))["expires_in"] in (99, 100)


@given(JWT_LIKE)
def test_a_jwt_is_quoted_as_it_is(token):
    assert json_token(token) == f'"{token}"' == json.dumps(token)


@given(st.text(max_size=200))
def test_any_other_token_is_escaped_as_json_dumps_would(token):
    assert json_token(token) == json.dumps(token)


def test_utc_iso_ends_in_z():
    assert utc_iso(0.0) == "1970-01-01T00:00:00Z"
    assert utc_iso(T0) == "2023-11-14T22:13:20.250000Z"
