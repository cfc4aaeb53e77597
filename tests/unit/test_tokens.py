"""TokenBroker and MemoryTokenStore: lifetime arithmetic, margins, eviction, single flight."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import math
import threading

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.tokens.broker import IssuedToken, TokenBroker, TokenUnavailable
from service.tokens.lifetime import MAX_LIFETIME, refresh_margin, token_lifetime
from service.tokens.store import CachedToken, MemoryTokenStore
from tests.support import FakeClock

SIGNING_KEY = "unit-test-signing-key-0123456789abcdef"  # 32+ bytes: PyJWT warns below that
T0 = 1_700_000_000.0
SYNC = 10  # seconds a thread may take to reach a synchronisation point before the test fails


class UpstreamError(Exception):
    """Shaped like a WorkOS status error: keyword-only attributes the lead's mapping reads."""

    def __init__(self, message: str, *, status: int, retry_after: object = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def signed(**claims: object) -> str:
    """An HS256 JWT; the broker never checks the signature."""
    return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


def unsigned(payload: bytes) -> str:
    """header.payload.signature with the payload bytes as given (may be garbage)."""

    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = part(b'{"alg": "none"}')
    return f"{header}.{part(payload)}.sig"


class Minter:
    """A scripted mint: JWTs living `lifetime` seconds stamped with a skewed clock, or errors."""

    def __init__(self, clock: FakeClock, lifetime: float = 600, skew: float = 0.0):
        self.clock = clock
        self.lifetime = lifetime
        self.skew = skew
        self.calls: list[tuple[str, str]] = []
        self.errors: list[Exception] = []
        self.tokens: list[str] = []
        self._serial = itertools.count()

    def __call__(self, user_id: str, organization_id: str) -> str:
        self.calls.append((user_id, organization_id))
        if self.errors:
            raise self.errors.pop(0)
        if self.tokens:
            return self.tokens.pop(0)
        iat = self.clock() + self.skew
        return signed(
            sub=user_id, org_id=organization_id, iat=iat, exp=iat + self.lifetime,
            jti=next(self._serial),
        )  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def minter(clock: FakeClock) -> Minter:
    return Minter(clock)


@pytest.fixture
def broker(minter: Minter, clock: FakeClock) -> TokenBroker:
    return TokenBroker(minter, clock=clock)


def run_threads(count: int, target) -> list[object]:
    """Run target(i) in count real threads; each slot holds a return value or an exception."""
    outcomes: list[object] = [None] * count

    def run(i: int) -> None:
        try:
            outcomes[i] = target(i)
        except BaseException as exc:  # the test inspects whatever was raised
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SYNC)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


# token_lifetime and refresh_margin


@pytest.mark.parametrize("iat", [1.0, T0 - 10_000_000, T0, T0 + 10_000_000, 4e9])
def test_lifetime_is_exp_minus_iat_whatever_the_clocks(iat: float):
    assert token_lifetime(signed(iat=iat, exp=iat + 900), 300, now=T0) == 900


@pytest.mark.parametrize(
    "payload",
    [
        b'{"iat": 1700000000}',
        b'{"exp": "1700000600", "iat": 1700000000}',
        b'{"exp": null, "iat": 1700000000}',
        b'{"exp": true, "iat": 1700000000}',
        b'{"exp": [1700000600], "iat": 1700000000}',
        b'{"exp": 0, "iat": 1700000000}',
        b'{"exp": -5, "iat": 1700000000}',
        b'{"exp": NaN, "iat": 1700000000}',
        b'{"exp": Infinity, "iat": 1700000000}',
        b'{"exp": 1e400, "iat": 1700000000}',
        b'{"exp": 1' + b"0" * 400 + b', "iat": 1700000000}',
        b"[1, 2, 3]",
        b"not json at all",
        b"\xff\xfe\x00",
        b"[" * 100_000,
    ],
)
def test_missing_or_garbled_exp_uses_the_fallback(payload: bytes):
    assert token_lifetime(unsigned(payload), 123, now=T0) == 123


@pytest.mark.parametrize(
    "token", ["opaque-client-token", "", "a.b", "a.b.c.d", "a..b", "é.é.é", "x.!!!.y", "x." * 9000]
)
def test_opaque_tokens_use_the_fallback(token: str):
    assert token_lifetime(token, 123, now=T0) == 123


def test_exp_without_iat_may_only_shorten_the_fallback():
    # Decided: without iat there is no duration; exp - now trusts WorkOS's clock, so it can
    # only make the lifetime shorter than the fallback, never longer.
    assert token_lifetime(signed(exp=T0 + 60), 300, now=T0) == 60
    assert token_lifetime(signed(exp=T0 + 9000), 300, now=T0) == 300
    assert token_lifetime(signed(exp=T0 - 60), 300, now=T0) == 0
    assert token_lifetime(signed(exp=T0 + 60), 300) == 300


def test_exp_before_iat_is_already_expired():
    assert token_lifetime(signed(iat=T0, exp=T0 - 1), 300) == 0


def test_absurd_lifetimes_are_capped_at_a_day():
    assert token_lifetime(signed(iat=1, exp=4e9), 300) == MAX_LIFETIME == 86400
    assert token_lifetime("opaque", 10**9) == MAX_LIFETIME


@pytest.mark.parametrize(
    ("lifetime", "configured", "margin"),
    [
        (60, None, 30),
        (300, None, 30),
        (300.5, None, 60),
        (3600, None, 60),
        (300, 5, 5),
        (3600, 5, 5),
        (3600, 0, 0),
        (100, 90, 90),
    ],
)
def test_refresh_margin(lifetime: float, configured: float | None, margin: float):
    assert refresh_margin(lifetime, configured) == margin


# serving from the cache


def test_first_get_mints_and_later_gets_hit(broker: TokenBroker, minter: Minter):
    first = broker.get("s1", "u1", "org_a")
    second = broker.get("s1", "u1", "org_a")
    assert (first.cached, second.cached) == (False, True)
    assert second.token == first.token
    assert second.audience == "org_a"
    assert minter.calls == [("u1", "org_a")]
    assert len(broker) == 1


@pytest.mark.parametrize(
    ("lifetime", "configured", "served_for"),
    [
        (600, None, 540),  # default margin 60
        (301, None, 241),
        (300, None, 270),  # 5 minutes or less: 30
        (120, None, 90),
        (600, 5, 595),  # configured: exactly that, whatever the lifetime
        (300, 5, 295),
        (300, 0, 300),
    ],
)
def test_served_only_while_more_than_the_margin_is_left(
    clock: FakeClock, lifetime: float, configured: float | None, served_for: float
):
    minter = Minter(clock, lifetime=lifetime)
    broker = TokenBroker(minter, clock=clock, refresh_margin=configured)
    first = broker.get("s1", "u1", "org_a")
    clock.now = T0 + served_for - 0.001
    assert broker.get("s1", "u1", "org_a").token == first.token
    clock.now = T0 + served_for
    assert broker.get("s1", "u1", "org_a").cached is False
    assert len(minter.calls) == 2


@pytest.mark.parametrize("skew", [-10_000_000, -3600, -1, 0, 1, 3600, 10_000_000])
def test_clock_skew_does_not_move_the_expiry(clock: FakeClock, skew: float):
    minter = Minter(clock, lifetime=600, skew=skew)
    broker = TokenBroker(minter, clock=clock)
    issued = broker.get("s1", "u1", "org_a")
    assert issued.expires_at == T0 + 600
    clock.advance(539)
    assert broker.get("s1", "u1", "org_a").cached is True
    clock.advance(1)
    assert broker.get("s1", "u1", "org_a").cached is False


def test_lifetime_counts_from_the_start_of_the_mint_call(clock: FakeClock):
    def slow_mint(user_id: str, organization_id: str) -> str:
        clock.advance(4)  # upstream latency: WorkOS stamps iat somewhere in here
        return signed(iat=clock() - 2, exp=clock() - 2 + 600)

    issued = TokenBroker(slow_mint, clock=clock).get("s1", "u1", "org_a")
    assert issued.expires_at == T0 + 600


@pytest.mark.parametrize(("lifetime", "configured"), [(20, None), (60, 60), (0, None)])
def test_token_within_the_margin_is_returned_but_not_cached(
    clock: FakeClock, lifetime: float, configured: float | None
):
    minter = Minter(clock, lifetime=lifetime)
    broker = TokenBroker(minter, clock=clock, refresh_margin=configured)
    issued = broker.get("s1", "u1", "org_a")
    assert issued.cached is False
    assert issued.expires_at == T0 + lifetime
    assert len(broker) == 0
    broker.get("s1", "u1", "org_a")
    assert len(minter.calls) == 2


@pytest.mark.parametrize(
    "token",
    ["opaque-client-token", unsigned(b'{"iat": 1700000000, "sub": "u1"}'), unsigned(b"garbage")],
)
def test_token_without_readable_exp_lives_the_fallback_ttl(clock: FakeClock, token: str):
    minter = Minter(clock)
    minter.tokens = [token]
    broker = TokenBroker(minter, clock=clock, fallback_ttl=120)
    issued = broker.get("s1", "u1", "org_a")
    assert issued.expires_at == T0 + 120
    clock.advance(89)  # 120 s is a short token: margin 30
    assert broker.get("s1", "u1", "org_a").token == token
    clock.advance(1)
    assert broker.get("s1", "u1", "org_a").cached is False


def test_mint_returning_no_token_is_a_failure(clock: FakeClock):
    broker = TokenBroker(lambda user_id, organization_id: "", clock=clock)
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    assert isinstance(raised.value.cause, ValueError) and "no token" in str(raised.value.cause)
    assert len(broker) == 0


def test_expires_in_is_whole_seconds_left_never_negative():
    issued = IssuedToken("t", expires_at=T0 + 100.9, audience="org_a", cached=False)
    assert issued.expires_in(T0) == 100
    assert issued.expires_in(T0 + 100.5) == 0
    assert issued.expires_in(T0 + 100.9) == 0
    assert issued.expires_in(T0 + 5000) == 0
    assert issued.expires_in(T0 - 10) == 110


def test_reprs_never_show_the_token():
    issued = IssuedToken("secret-token", T0, "org_a", cached=True)
    assert "secret-token" not in repr(issued)
    assert "secret-token" not in repr(CachedToken("secret-token", T0, T0))


def test_sessions_users_and_organizations_are_isolated(broker: TokenBroker, minter: Minter):
    tokens = {
        broker.get("s1", "u1", "org_a").token,
        broker.get("s2", "u1", "org_a").token,
        broker.get("s1", "u2", "org_a").token,
        broker.get("s1", "u1", "org_b").token,
    }
    assert len(tokens) == 4
    assert len(minter.calls) == 4
    assert broker.get("s2", "u1", "org_a").cached is True


def test_maxsize_evicts_the_least_recently_used(clock: FakeClock, minter: Minter):
    broker = TokenBroker(minter, clock=clock, maxsize=2)
    broker.get("s1", "u1", "org_a")
    broker.get("s2", "u2", "org_a")
    broker.get("s1", "u1", "org_a")  # s1 is now the most recently used
    broker.get("s3", "u3", "org_a")  # evicts s2
    assert len(broker) == 2
    assert broker.get("s1", "u1", "org_a").cached is True
    assert broker.get("s3", "u3", "org_a").cached is True
    assert broker.get("s2", "u2", "org_a").cached is False
    assert len(minter.calls) == 4


def test_evict_session_drops_only_that_sessions_tokens(broker: TokenBroker, minter: Minter):
    broker.get("s1", "u1", "org_a")
    broker.get("s1", "u1", "org_b")
    broker.get("s2", "u1", "org_a")
    assert broker.evict_session("s1") == 2
    assert broker.evict_session("s1") == 0
    assert broker.evict_session("nobody") == 0
    assert broker.get("s2", "u1", "org_a").cached is True
    assert broker.get("s1", "u1", "org_a").cached is False
    assert len(minter.calls) == 4


def test_evict_by_session_and_organization(broker: TokenBroker):
    broker.get("s1", "u1", "org_a")
    broker.get("s1", "u1", "org_b")
    broker.get("s2", "u1", "org_a")
    assert broker.evict("s1", "org_a") == 1
    assert broker.evict("s1", "org_a") == 0
    assert broker.get("s1", "u1", "org_b").cached is True
    assert broker.get("s2", "u1", "org_a").cached is True
    assert broker.get("s1", "u1", "org_a").cached is False


def test_broker_rejects_nonsense_settings(minter: Minter):
    for bad in [
        {"refresh_margin": -1},
        {"maxsize": 0},
        {"cooldown": -1},
        {"wait_timeout": 0},
        {"cooldown": 10, "max_cooldown": 5},
    ]:
        with pytest.raises(ValueError):
            TokenBroker(minter, **bad)


# the store


def test_store_index_forgets_evicted_and_expired_keys(clock: FakeClock):
    store = MemoryTokenStore(maxsize=2, clock=clock)
    for n in range(3):
        store.put((f"s{n}", "u", "org"), CachedToken(f"t{n}", T0 + 100 + n, T0 + 50 + n))
    assert len(store) == 2
    assert set(store._index) == {"s1", "s2"}  # the index must not outgrow the cache
    clock.advance(51)
    assert len(store) == 1
    assert set(store._index) == {"s2"}
    clock.advance(10)
    assert len(store) == 0
    assert store._index == {}


def test_store_keeps_nothing_already_past_its_time(clock: FakeClock):
    store = MemoryTokenStore(clock=clock)
    store.put(("s1", "u", "org"), CachedToken("t", T0 + 10, T0 - 1))
    store.put(("s1", "u", "org"), CachedToken("t", T0 + 10, T0))
    assert store.get(("s1", "u", "org")) is None
    assert len(store) == 0
    assert store._index == {}


def test_store_delete(clock: FakeClock):
    store = MemoryTokenStore(clock=clock)
    store.put(("s1", "u", "org"), CachedToken("t", T0 + 10, T0 + 5))
    assert store.delete(("s1", "u", "org")) is True
    assert store.delete(("s1", "u", "org")) is False
    assert store._index == {}


def test_the_minting_call_rereads_the_store_under_its_lock(clock: FakeClock, minter: Minter):
    class OtherProcessWins(MemoryTokenStore):
        """A shared store where another process stores the token while we take the lock."""

        locked = 0

        def lock(self, key):
            self.locked += 1
            self.put(key, CachedToken("theirs", T0 + 600, T0 + 540))
            return super().lock(key)

    events: list[str] = []
    store = OtherProcessWins(clock=clock)
    broker = TokenBroker(minter, store=store, clock=clock, observer=lambda e, **f: events.append(e))
    issued = broker.get("s1", "u1", "org_a")
    assert (issued.token, issued.cached, store.locked) == ("theirs", True, 1)
    assert minter.calls == []
    assert events == ["hit"]


# single flight, with real threads


def test_concurrent_misses_make_one_mint(clock: FakeClock):
    all_waiting = threading.Event()
    waits = itertools.count(1)
    events: list[str] = []

    def observe(event: str, **fields: object) -> None:
        events.append(event)
        if event == "wait" and next(waits) == 49:
            all_waiting.set()

    minter = Minter(clock)

    def mint(user_id: str, organization_id: str) -> str:
        assert all_waiting.wait(SYNC)
        return minter(user_id, organization_id)

    broker = TokenBroker(mint, clock=clock, observer=observe)
    outcomes = run_threads(50, lambda i: broker.get("s1", "u1", "org_a"))
    assert len(minter.calls) == 1
    assert len({outcome.token for outcome in outcomes}) == 1
    assert sorted(events) == ["miss"] + ["wait"] * 49
    # Only the minting call reports a miss; waiters were served without a WorkOS call.
    assert sorted(outcome.cached for outcome in outcomes) == [False] + [True] * 49
    assert broker.get("s1", "u1", "org_a").cached is True


def test_an_upstream_error_reaches_every_waiter(clock: FakeClock):
    all_waiting = threading.Event()
    waits = itertools.count(1)
    errors: list[tuple[str, object]] = []
    original = UpstreamError("WorkOS answered 503", status=503)

    def observe(event: str, **fields: object) -> None:
        if event == "error":
            errors.append((fields["reason"], fields["error"]))
        if event == "wait" and next(waits) == 49:
            all_waiting.set()

    calls = itertools.count()

    def mint(user_id: str, organization_id: str) -> str:
        next(calls)
        assert all_waiting.wait(SYNC)
        raise original

    broker = TokenBroker(mint, clock=clock, observer=observe)
    outcomes = run_threads(50, lambda i: broker.get("s1", "u1", "org_a"))
    assert next(calls) == 1
    for outcome in outcomes:
        assert type(outcome) is TokenUnavailable  # each caller its own, never a shared object
        assert outcome.cause is original and outcome.__cause__ is original
        assert outcome.retry_after == 1.0  # the clock did not move
    assert len({id(outcome) for outcome in outcomes}) == 50
    assert sorted(outcome.reason for outcome in outcomes) == ["mint"] + ["shared"] * 49
    assert sorted(reason for reason, _ in errors) == ["mint"] + ["shared"] * 49


def test_a_waiter_gives_up_after_wait_timeout(clock: FakeClock, minter: Minter):
    entered, release = threading.Event(), threading.Event()

    def mint(user_id: str, organization_id: str) -> str:
        entered.set()
        assert release.wait(SYNC)
        return minter(user_id, organization_id)

    broker = TokenBroker(mint, clock=clock, wait_timeout=0.05)
    leader = threading.Thread(target=broker.get, args=("s1", "u1", "org_a"))
    leader.start()
    assert entered.wait(SYNC)
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    assert (raised.value.cause, raised.value.reason) == (None, "timeout")
    assert raised.value.retry_after == 1
    release.set()
    leader.join(SYNC)
    assert broker.get("s1", "u1", "org_a").cached is True
    assert len(minter.calls) == 1


def test_waiters_retry_when_the_minting_call_dies_without_an_outcome(
    clock: FakeClock, minter: Minter
):
    class Abort(BaseException):
        """Like KeyboardInterrupt or a worker timeout: not a mint failure."""

    waiting = threading.Event()
    first = [True]

    def mint(user_id: str, organization_id: str) -> str:
        if first[0]:
            first[0] = False
            assert waiting.wait(SYNC)
            raise Abort
        return minter(user_id, organization_id)

    def observe(event: str, **fields: object) -> None:
        if event == "wait":
            waiting.set()

    broker = TokenBroker(mint, clock=clock, observer=observe)
    outcomes = run_threads(2, lambda i: broker.get("s1", "u1", "org_a"))
    assert sum(isinstance(outcome, Abort) for outcome in outcomes) == 1
    assert sum(isinstance(outcome, IssuedToken) for outcome in outcomes) == 1
    assert len(minter.calls) == 1


# cool-down


def test_cooldown_refuses_without_minting_then_mints_again(clock: FakeClock, minter: Minter):
    events: list[tuple[str, object]] = []
    broker = TokenBroker(
        minter, clock=clock, observer=lambda e, **f: events.append((e, f.get("reason")))
    )
    original = UpstreamError("down", status=503)
    minter.errors = [original]
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    first = raised.value
    assert (first.cause, first.reason, first.retry_after) == (original, "mint", 1.0)

    clock.advance(0.25)
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    refused = raised.value
    assert (refused.cause, refused.reason) == (original, "cooldown")
    assert refused.retry_after == pytest.approx(0.75)
    assert first.retry_after == 1.0  # each caller's own error, not a shared one
    assert len(minter.calls) == 1

    assert broker.get("s1", "u2", "org_a").cached is False  # other keys are not cooled down
    clock.advance(0.75)
    assert broker.get("s1", "u1", "org_a").cached is False
    assert len(minter.calls) == 3
    assert events == [
        ("miss", None), ("error", "mint"), ("error", "cooldown"), ("miss", None), ("miss", None)
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("retry_after", "cooldown"),
    [
        (10, 10),  # longer than the default: honoured
        ("7", 7),  # a header value that was not converted
        (3600, 30),  # capped by max_cooldown
        (0.2, 1),  # shorter than the default: the default still protects WorkOS
        ("Wed, 21 Oct 2015 07:28:00 GMT", 1),  # unusable: the default
        (True, 1),
        (float("nan"), 1),
        (-5, 1),
    ],
)
def test_retry_after_sets_the_cooldown(
    clock: FakeClock, minter: Minter, retry_after: object, cooldown: float
):
    broker = TokenBroker(minter, clock=clock, cooldown=1, max_cooldown=30)
    minter.errors = [UpstreamError("slow down", status=429, retry_after=retry_after)]
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    assert raised.value.retry_after == cooldown
    clock.now = T0 + cooldown - 0.01
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    assert raised.value.retry_after == pytest.approx(0.01)
    clock.now = T0 + cooldown
    assert broker.get("s1", "u1", "org_a").cached is False
    assert len(minter.calls) == 2


def test_zero_cooldown_disables_it(clock: FakeClock, minter: Minter):
    broker = TokenBroker(minter, clock=clock, cooldown=0)
    minter.errors = [UpstreamError("down", status=503)]
    with pytest.raises(TokenUnavailable) as raised:
        broker.get("s1", "u1", "org_a")
    assert raised.value.retry_after is None
    assert broker.get("s1", "u1", "org_a").cached is False


# the observer


def test_an_observer_that_fails_is_logged_and_ignored(
    clock: FakeClock, minter: Minter, caplog: pytest.LogCaptureFixture
):
    def observe(event: str, **fields: object) -> None:
        raise RuntimeError("metrics backend down")

    broker = TokenBroker(minter, clock=clock, observer=observe)
    with caplog.at_level(logging.ERROR, logger="service.tokens.broker"):
        assert broker.get("s1", "u1", "org_a").cached is False
        assert broker.get("s1", "u1", "org_a").cached is True
    assert len(caplog.records) == 2


# properties

finite = {"allow_nan": False, "allow_infinity": False}


@given(
    host_now=st.floats(min_value=1e9, max_value=3e9, **finite),
    iat=st.floats(min_value=1, max_value=4e9, **finite),
    lifetime=st.floats(min_value=0, max_value=200_000, **finite),
    latency=st.floats(min_value=0, max_value=30, **finite),
    configured=st.none() | st.floats(min_value=0, max_value=600, **finite),
    steps=st.lists(st.floats(min_value=0, max_value=5000, **finite), max_size=8),
)
def test_never_serves_with_the_margin_or_less_left(
    host_now, iat, lifetime, latency, configured, steps
):
    # The token's own clock (iat) is unrelated to the host's: any skew, either way.
    clock = FakeClock(host_now)
    started: dict[str, float] = {}
    exp = iat + lifetime
    expected_lifetime = min(max(exp - iat, 0.0), MAX_LIFETIME)
    serial = itertools.count()

    def mint(user_id: str, organization_id: str) -> str:
        start = clock()
        clock.advance(latency)
        token = signed(iat=iat, exp=exp, jti=next(serial))
        started[token] = start
        return token

    broker = TokenBroker(mint, clock=clock, refresh_margin=configured)
    margin = refresh_margin(expected_lifetime, configured)
    for step in [0.0, *steps]:
        clock.advance(step)
        issued = broker.get("s1", "u1", "org_a")
        # WorkOS issued the token after the call started, so it expires no earlier than this.
        assert issued.expires_at == started[issued.token] + expected_lifetime
        if issued.cached:
            assert clock() < issued.expires_at - margin


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(claims=st.fixed_dictionaries({"exp": json_values, "iat": json_values}), now=st.floats())
def test_lifetime_of_any_payload_is_bounded(claims: dict, now: float):
    token = unsigned(json.dumps(claims).encode())
    lifetime = token_lifetime(token, 300, now=now if math.isfinite(now) else None)
    assert 0 <= lifetime <= MAX_LIFETIME

    def usable(value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) and number > 0 else None

    exp, iat = usable(claims["exp"]), usable(claims["iat"])
    if exp is not None and iat is not None:
        assert lifetime == min(max(exp - iat, 0.0), MAX_LIFETIME)


@given(token=st.text())
def test_lifetime_of_any_string_is_bounded(token: str):
    assert 0 <= token_lifetime(token, 300) <= MAX_LIFETIME


def test_a_wall_clock_stepped_back_does_not_serve_an_expired_token(minter: Minter):
    """Expiry is decided on the monotonic clock; wall time only stamps expires_at."""
    wall, monotonic = FakeClock(T0), FakeClock(0.0)
    broker = TokenBroker(minter, clock=wall, monotonic=monotonic)
    first = broker.get("s1", "u1", "org_a")
    wall.advance(-3600)  # NTP steps the clock back an hour
    monotonic.advance(first.expires_at - T0)  # meanwhile the token's whole life has passed
    again = broker.get("s1", "u1", "org_a")
    assert not again.cached and again.token != first.token


def test_unverified_claims_agrees_with_pyjwt_and_refuses_what_is_not_a_jwt():
    import jwt as pyjwt

    from service.core.claims import unverified_claims

    token = pyjwt.encode({"exp": 2_000_000_000, "iat": 1_999_999_700, "sid": "s"}, "k" * 32)
    assert unverified_claims(token) == pyjwt.decode(token, options={"verify_signature": False})
    for junk in ("", "a.b", "a.b.c", "e30.e30.", "W10.e30.x", token + ".x", "é.é.é", None):
        assert unverified_claims(junk) == {}
