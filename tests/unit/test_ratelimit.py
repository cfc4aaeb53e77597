"""The token route's rate limit: counted per caller, in memory or shared through Redis."""

import logging

import pytest

from service.errors import ApiError
from service.ratelimit import RETRY_INTERVAL, MemoryWindows, RateLimit
from tests.support import FakeClock, require_tool, start_redis


def test_counts_per_caller_and_answers_429_with_retry_after():
    limit = RateLimit("3/minute", None)
    for _ in range(3):
        limit.check("user:a")
    with pytest.raises(ApiError) as info:
        limit.check("user:a")
    error = info.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert 1 <= error.retry_after <= 60
    limit.check("user:b")  # another caller has a budget of its own


def test_several_limits_all_apply():
    limit = RateLimit("5/minute;2/second", None)
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

    one, two = RateLimit("2/minute", redis_url[1]), RateLimit("2/minute", redis_url[1])
    try:
        one.check("user:user_alice")
        two.check("user:user_alice")
        with pytest.raises(ApiError):
            one.check("user:user_alice")  # the second process's request counted too
    finally:
        one.close()
        two.close()
    client = redis.Redis.from_url(redis_url[1])
    keys = [k.decode() for k in client.keys("*")]
    client.close()
    assert keys and all("user_alice" not in k for k in keys)


def test_redis_down_falls_back_to_memory_and_comes_back(redis_url, caplog):
    proc, url = redis_url
    clock = FakeClock(0.0)
    limit = RateLimit("100/minute", url, clock=clock)
    limit.check("u")
    proc.stop()
    # pytest captures non-propagating loggers too (the service's, once an app configured it).
    with caplog.at_level(logging.WARNING, logger="service.ratelimit"):
        for _ in range(5):
            limit.check("u")  # answered from memory, no error
    assert len([r for r in caplog.records if "fall back" in r.getMessage()]) == 1
    assert clock() < limit._down_until  # memory only, for now
    proc2, _ = start_redis(proc.log_path.parent, port=int(url.rsplit(":", 1)[1].split("/")[0]))
    try:
        clock.advance(RETRY_INTERVAL + 0.1)
        limit.check("u")  # tried again after the interval: Redis counts once more
        assert limit._shared.get_window_stats(limit._items[0], _key("u")).remaining == 99
    finally:
        limit.close()
        proc2.stop()


def _key(who: str, secret_key: str = "") -> str:
    from service.keys import derive, mac

    return mac(derive(secret_key, "rate-limit-names"), who)[:32]


def test_redis_keys_are_keyed_hmacs_nobody_without_the_secret_can_compute(redis_url):
    import hashlib

    import redis

    limit = RateLimit("5/minute", redis_url[1], secret_key="s" * 32)
    try:
        limit.check("user:user_alice")
    finally:
        limit.close()
    client = redis.Redis.from_url(redis_url[1])
    keys = b" ".join(client.keys("*")).decode()
    client.close()
    assert _key("user:user_alice", "s" * 32) in keys
    assert hashlib.sha256(b"user:user_alice").hexdigest()[:32] not in keys
    assert _key("user:user_alice") not in keys  # another secret, another name


def test_memory_windows_reset_when_the_window_ends():
    clock = FakeClock(60 * 16_667 + 20.0)  # 20 s into a minute window
    limit = RateLimit("2/minute", None)
    limit._local = MemoryWindows(limit._items, clock=clock)
    limit.check("u")
    limit.check("u")
    with pytest.raises(ApiError):
        limit.check("u")
    clock.advance(40)  # the next minute window
    limit.check("u")
