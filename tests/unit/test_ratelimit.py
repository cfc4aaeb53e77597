"""The token route's rate limit: counted per caller, in memory or shared through Redis."""

import logging
import re

import pytest
from limits import parse_many

from devstack.stack import start_redis
from service.core.redis_link import RedisLink
from service.web.errors import ApiError
from service.web.ratelimit import MemoryWindows, RateLimit
from tests.support import FakeClock, require_tool

SECRET = "unit-test-secret-key-0123456789abcdef0123"


def test_counts_per_caller_and_answers_429_with_retry_after():
    limit = RateLimit("3/minute", None, SECRET)
    for _ in range(3):
        limit.check("user:a")
    with pytest.raises(ApiError) as info:
        limit.check("user:a")
    error = info.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert 1 <= error.retry_after <= 60
    limit.check("user:b")  # another caller has a budget of its own


def test_several_limits_all_apply():
    limit = RateLimit("5/minute;2/second", None, SECRET)
    limit.check("u")
    limit.check("u")
    with pytest.raises(ApiError):
        limit.check("u")


@pytest.fixture
def redis_url(tmp_path):
    require_tool("redis-server", "apt-get install redis-server")
    proc, url = start_redis(tmp_path)
    yield proc, url
    proc.stop()


def test_counters_are_shared_through_redis_and_name_no_user(redis_url):
    import redis

    links = [RedisLink(redis_url[1]), RedisLink(redis_url[1])]
    one, two = (RateLimit("2/minute;50/hour", link, SECRET) for link in links)
    try:
        one.check("user:user_alice")
        two.check("user:user_alice")
        with pytest.raises(ApiError) as info:
            one.check("user:user_alice")  # the second process's request counted too
        assert 55 <= info.value.retry_after <= 60
    finally:
        for link in links:
            link.close()
    client = redis.Redis.from_url(redis_url[1])
    keys = sorted(k.decode() for k in client.keys("*"))
    ttls = [client.pttl(k) for k in keys]
    client.close()
    # One key per window, both with the caller's hash tag (one cluster slot), naming no user.
    assert [re.sub(r"\{[0-9a-f]{32}\}", "{k}", k) for k in keys] == [
        "gts:rl:{k}:2-1-minute",
        "gts:rl:{k}:50-1-hour",
    ]
    assert keys[0].split(":")[2] == keys[1].split(":")[2]
    assert 59_000 < ttls[0] <= 60_000 and 3_599_000 < ttls[1] <= 3_600_000


def test_redis_down_falls_back_to_memory_and_comes_back(redis_url, caplog):
    proc, url = redis_url
    monotonic, changes = FakeClock(0.0), []
    link = RedisLink(url, monotonic=monotonic, on_state_change=changes.append)
    limit = RateLimit("100/minute", link, SECRET)
    limit.check("u")
    proc.stop()
    # pytest captures non-propagating loggers too (the service's, once an app configured it).
    with caplog.at_level(logging.WARNING, logger="service.core.redis_link"):
        for _ in range(5):
            limit.check("u")  # answered from memory, no error
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    assert changes == [True]  # the degraded metric's callback: a rate-limit outage shows
    proc2, _ = start_redis(proc.log_path.parent, port=int(url.rsplit(":", 1)[1].split("/")[0]))
    try:
        limit.check("u")  # no retry due: memory
        monotonic.advance(5.0)
        limit.check("u")  # the probe succeeds: Redis counts again (it restarted empty)
        assert changes == [True, False]
        [name] = link.client.keys("gts:rl:*")
        assert link.client.get(name) == b"1"
    finally:
        link.close()
        proc2.stop()


def test_memory_windows_reset_when_the_window_ends():
    clock = FakeClock(60 * 16_667 + 20.0)  # 20 s into a minute window
    limit = RateLimit("2/minute", None, SECRET)
    limit._local = MemoryWindows(parse_many("2/minute"), clock=clock)
    limit.check("u")
    limit.check("u")
    with pytest.raises(ApiError):
        limit.check("u")
    clock.advance(40)  # the next minute window
    limit.check("u")
