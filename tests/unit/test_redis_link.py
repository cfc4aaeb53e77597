"""RedisLink's URLs (one Redis or a cluster) and the hash-tag layout of every Redis key."""

from __future__ import annotations

import pytest
from redis.cluster import key_slot

from service.config.settings import SettingsError, load_settings
from service.core.redis_link import RedisLink, check_url, cluster_nodes
from service.sessions.redis_store import RedisSessionStore
from service.tokens.redis_store import RedisTokenStore
from service.web.ratelimit import RateLimit

SECRET = "unit-test-secret-key-0123456789abcdef0123"
CLUSTER = "redis+cluster://10.0.0.1:7000,10.0.0.2:7001,redis-3.internal:7002"


def test_cluster_urls_name_their_startup_nodes():
    nodes, options = cluster_nodes(CLUSTER)
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("redis-3.internal", 7002)]
    assert options == {"ssl": False}
    nodes, options = cluster_nodes("rediss+cluster://app:p%40ss@[::1]:6379/")
    assert nodes == [("::1", 6379)]
    assert options == {"ssl": True, "username": "app", "password": "p@ss"}
    assert cluster_nodes("redis+cluster://:secret@h:1")[1]["password"] == "secret"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+cluster://h1:7000,h2", "'h2' is not host:port"),
        ("redis+cluster://h1:7000,", "'' is not host:port"),
        ("redis+cluster://:7000", "':7000' is not host:port"),
        ("redis+cluster://h1:70000", "is not host:port"),
        ("redis+cluster://h1:7000/0", "no database number"),
        ("redis+cluster://h1:7000?ssl=true", "no database number, path or query"),
        ("memcached://h1:11211", "unknown scheme 'memcached'"),
        ("valkey+cluster://h1:7000", "unknown scheme"),
    ],
)
def test_bad_urls_say_why(url, reason):
    with pytest.raises(ValueError) as info:
        check_url(url)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["redis://h:6379/0", "rediss://u:p@h:6380/1", "unix:///run/redis.sock", CLUSTER],
)
def test_settings_accept_every_supported_form(url):
    env = {
        "WORKOS_API_KEY": "sk_test_x",
        "WORKOS_CLIENT_ID": "client_x",
        "SECRET_KEY": SECRET,
        "APP_BASE_URL": "https://app.example.com",
        "REDIS_URL": url,
    }
    assert load_settings(env).redis_url == url


def test_settings_refuse_a_bad_cluster_url_without_echoing_its_password():
    env = {
        "WORKOS_API_KEY": "sk_test_x",
        "WORKOS_CLIENT_ID": "client_x",
        "SECRET_KEY": SECRET,
        "APP_BASE_URL": "https://app.example.com",
        "REDIS_URL": "redis+cluster://:hunter2-secret@h1:7000,h2/0",
    }
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    message = str(info.value)
    assert "redis+cluster://host:port[,host:port...]" in message
    assert "'h2/0' is not host:port" in message or "no database number" in message
    assert "hunter2" not in message


def test_the_link_picks_the_client_kind_from_the_scheme():
    assert RedisLink(CLUSTER).cluster and not RedisLink("redis://h:6379/0").cluster


def session_keys(session_id: str) -> list[str]:
    """Every Redis key of one session: its record, its tokens, their index and locks."""
    link = RedisLink(CLUSTER)  # never connects: only names are made
    tokens = RedisTokenStore(link, SECRET)
    records = RedisSessionStore(link, SECRET)
    names = [records._record_name(records._k(session_id)), tokens._names.session(session_id)]
    for org in ("org_01HACME", "org_01HGLOBEX"):
        key = (f"{session_id}.3", "user_01HALICE", org)  # the record's token_session
        names += [tokens._names.token(key), tokens._names.lock(key)]
    return names


def test_a_sessions_keys_share_one_slot_and_sessions_spread():
    names = session_keys("sess-4f2a9c")
    assert len({key_slot(name.encode()) for name in names}) == 1
    slots = {key_slot(session_keys(f"sess-{n}")[0].encode()) for n in range(60)}
    # 60 sessions over 16384 slots: a clash is rare, and a 3-node cluster gets each a third.
    assert len(slots) >= 58
    assert len({slot * 3 // 16384 for slot in slots}) == 3


def test_the_hash_tag_reveals_no_id_and_depends_on_the_secret():
    names = session_keys("sess-4f2a9c")
    for name in names:
        assert "4f2a9c" not in name and "ALICE" not in name and "ACME" not in name
    other = RedisSessionStore(RedisLink(CLUSTER), "another-secret-key-0123456789abcdef")
    assert other._record_name(other._k("sess-4f2a9c")) != names[0]


def test_a_callers_rate_limit_windows_share_one_slot():
    limit = RateLimit("2/second;120/minute", RedisLink(CLUSTER), SECRET)
    captured = {}

    class Script:
        def __call__(self, keys, args, client):
            captured["keys"] = keys
            return [1, 1000] * len(keys)

    limit._shared._link.script = lambda source: Script()
    limit._shared._link.run = lambda op, skip_while_down: op(None)
    limit.check("user:user_01HALICE")
    assert len(captured["keys"]) == 2
    assert len({key_slot(k.encode()) for k in captured["keys"]}) == 1
    assert not any("ALICE" in k for k in captured["keys"])
