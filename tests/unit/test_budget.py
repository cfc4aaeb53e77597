"""The WorkOS request budget: a sliding window, the sign-in reserve, pauses after a 429."""

import time

import pytest

from devstack.stack import start_redis
from service.core.redis_link import RedisLink
from service.workos.budget import DEFAULT_PAUSE, MAX_PAUSE, TRANSIT_SECONDS, Budget
from service.workos.client import WorkOSRefused
from tests.support import FakeClock, require_tool

SECRET = "budget-test-secret-0123456789abcdef"


def take(budget: Budget, kind: str, n: int) -> int:
    """How many of n calls of kind were admitted."""
    admitted = 0
    for _ in range(n):
        try:
            budget.admit(kind, "POST /client/token")
            admitted += 1
        except WorkOSRefused:
            pass
    return admitted


def test_no_window_of_the_budget_holds_more_than_the_budget():
    clock = FakeClock(1000.0)
    budget = Budget("10/minute", 0, clock=clock, jitter=lambda: 0.0)
    # WorkOS's 60 s, plus the moment a call takes to reach WorkOS (TRANSIT_SECONDS)
    assert budget.window == 60 + TRANSIT_SECONDS
    assert take(budget, "mint", 6) == 6
    clock.advance(30)
    assert take(budget, "mint", 10) == 4  # a fixed window would have restarted here
    clock.advance(budget.window - 30 - 0.1)
    assert take(budget, "mint", 1) == 0  # just inside the window of the first six: still ten
    clock.advance(0.2)
    assert take(budget, "mint", 10) == 6  # the first six left the window, the four did not


def test_sign_ins_keep_their_reserve_mints_cannot_spend_it():
    budget = Budget("10/minute", 20, clock=FakeClock(0.0))
    assert (budget.total, budget.general) == (10, 8)
    assert take(budget, "mint", 20) == 8
    assert take(budget, "memberships", 5) == 0
    assert take(budget, "signin", 5) == 2  # the reserve
    assert take(budget, "signin", 1) == 0  # and never beyond the whole budget


def test_sign_ins_may_spend_the_whole_budget_when_their_ceiling_is_100():
    budget = Budget("10/minute", 20, signin_percent=100, clock=FakeClock(0.0))
    assert take(budget, "signin", 12) == 10
    assert take(budget, "mint", 1) == 0


def test_sign_ins_stop_at_their_ceiling_so_mints_keep_the_rest():
    """Anonymous callers start sign-ins: they must not spend what signed-in users mint with."""
    budget = Budget("10/minute", 20, signin_percent=50, clock=FakeClock(0.0))
    assert take(budget, "signin", 12) == 5
    assert take(budget, "mint", 12) == 5  # the rest: the whole budget, less the sign-ins
    assert take(budget, "signin", 1) == take(budget, "mint", 1) == 0


def test_through_redis_sign_ins_stop_at_their_ceiling_on_every_process(redis_url):
    one = Budget(
        "10/minute", 20, signin_percent=50, link=RedisLink(redis_url[1]), secret_key=SECRET
    )
    two = Budget(
        "10/minute", 20, signin_percent=50, link=RedisLink(redis_url[1]), secret_key=SECRET
    )
    assert take(one, "signin", 4) + take(two, "signin", 4) == 5
    assert take(two, "mint", 10) == 5


def test_a_refusal_says_when_room_comes_jittered():
    clock = FakeClock(0.0)
    # Every admission draws a rank (Redis needs it before it knows); a refusal a jitter too.
    spreads = iter([0.0, 0.0] + [0.0, 0.0, 0.0, 1.0])  # two admitted, two (rank, jitter)
    budget = Budget("2/minute", 0, clock=clock, jitter=lambda: next(spreads))
    take(budget, "mint", 1)
    clock.advance(20)
    take(budget, "mint", 1)
    waits = []
    for _ in range(2):
        with pytest.raises(WorkOSRefused) as info:
            budget.admit("mint", "POST /client/token")
        waits.append(info.value.retry_after)
    left = budget.window - 20  # the first call leaves the window then
    assert waits[0] == pytest.approx(left)
    assert waits[1] == pytest.approx(left + 5)  # plus up to JITTER seconds, by the jitter


def test_refusals_wait_for_calls_drawn_over_the_whole_window():
    """A refusal waits for the call at its drawn rank: the refused come back as calls leave."""
    clock = FakeClock(0.0)
    draws = iter([0.0] * 4 + [0.0, 0.0, 0.5, 0.0, 0.99, 0.0])  # 4 admitted, 3 (rank, jitter)
    budget = Budget("4/minute", 0, clock=clock, jitter=lambda: next(draws))
    for _ in range(4):
        take(budget, "mint", 1)
        clock.advance(10)
    waits = []
    for _ in range(3):
        with pytest.raises(WorkOSRefused) as info:
            budget.admit("mint", "POST /client/token")
        waits.append(info.value.retry_after)
    # Calls at 0, 10, 20, 30; now 40: they leave at window, window + 10, + 20, + 30.
    assert waits == pytest.approx([budget.window - 40 + d for d in (0, 20, 30)])


def test_without_redis_each_process_spends_its_share():
    budget = Budget("100/minute", 20, processes=4, clock=FakeClock(0.0))
    assert take(budget, "mint", 100) == 20  # 25 a process, 20 of them outside the reserve
    assert take(budget, "signin", 100) == 5


def test_a_429_pauses_its_kind_only_for_retry_after_or_5_s_at_most_60():
    clock = FakeClock(0.0)
    budget = Budget("100/minute", 0, clock=clock)
    budget.throttled("mint", None)
    with pytest.raises(WorkOSRefused) as info:
        budget.admit("mint", "POST /client/token")
    assert info.value.retry_after == pytest.approx(DEFAULT_PAUSE)
    assert take(budget, "signin", 1) == 1  # another kind goes on
    clock.advance(DEFAULT_PAUSE)
    assert take(budget, "mint", 1) == 1
    budget.throttled("memberships", 3600)
    with pytest.raises(WorkOSRefused) as info:
        budget.admit("memberships", "GET /user_management/organization_memberships")
    assert info.value.retry_after == pytest.approx(MAX_PAUSE)


def test_observer_hears_spent_left_refused_and_throttled():
    heard = []
    budget = Budget("5/minute", 20, clock=FakeClock(0.0), observer=lambda *a, **k: heard.append(a))
    take(budget, "mint", 5)
    budget.throttled("mint", 1)
    events = [e for e, _ in heard]
    assert events.count("spent") == 4 and events.count("refused") == 1
    assert events[-1] == "throttled"


# -- through Redis -----------------------------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path):
    require_tool("redis-server", "apt-get install redis-server")
    proc, url = start_redis(tmp_path)
    yield proc, url
    proc.stop()


def shared(url: str, **kwargs) -> Budget:
    return Budget("10/minute", 20, link=RedisLink(url), secret_key=SECRET, processes=4, **kwargs)


def test_processes_share_one_budget_and_its_reserve_through_redis(redis_url):
    one, two = shared(redis_url[1]), shared(redis_url[1])
    assert take(one, "mint", 5) + take(two, "mint", 5) == 8  # not 2 x (10 / 4) shares
    assert take(two, "mint", 1) == 0
    assert take(one, "signin", 1) + take(two, "signin", 5) == 2
    assert take(one, "signin", 1) == 0


def test_a_429_on_one_host_pauses_that_kind_on_every_host(redis_url):
    one, two = shared(redis_url[1]), shared(redis_url[1])
    one.throttled("mint", 30)
    with pytest.raises(WorkOSRefused) as info:
        two.admit("mint", "POST /client/token")
    assert 29 < info.value.retry_after <= 30
    assert take(two, "signin", 1) == 1


def test_redis_keys_name_nothing_and_expire(redis_url):
    import redis

    budget = shared(redis_url[1])
    take(budget, "mint", 2)
    budget.throttled("signin", 2)
    client = redis.Redis.from_url(redis_url[1])
    try:
        keys = client.keys("*")
        assert keys and all(k.startswith(b"gts:wb:{") for k in keys)
        assert all(b"mint" not in k and b"signin" not in k for k in keys)
        assert all(0 < client.pttl(k) <= budget.window * 1000 for k in keys)
    finally:
        client.close()


def test_redis_down_falls_back_to_the_process_share(redis_url):
    proc, url = redis_url
    budget = shared(url)
    proc.stop()
    assert take(budget, "mint", 10) == 2  # 10 / 4 processes = 2, none of it the reserve


def test_through_redis_a_refusal_waits_for_the_call_at_its_drawn_rank(redis_url):
    draws = iter([0.0] * 8 + [0.0, 0.0, 0.99, 0.0])  # 8 admitted, then 2 refusals
    budget = shared(redis_url[1], jitter=lambda: next(draws))
    assert take(budget, "mint", 4) == 4
    time.sleep(1.0)
    assert take(budget, "mint", 4) == 4  # the general cap (8 of 10) is reached
    waits = []
    for _ in range(2):
        with pytest.raises(WorkOSRefused) as info:
            budget.admit("mint", "POST /client/token")
        waits.append(info.value.retry_after)
    # The oldest call left 1 s before the newest: the drawn ranks find both.
    assert waits[1] - waits[0] == pytest.approx(1.0, abs=0.2)
