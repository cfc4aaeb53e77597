"""RedisTokenStore against a real redis-server: names, sealing, expiry, eviction, locks, outages."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import threading
import time

import pytest
import redis

from devstack.stack import start_redis
from service.core.redis_link import RedisLink
from service.tokens.broker import TokenBroker
from service.tokens.redis_store import RedisTokenStore, make_token_store
from service.tokens.store import CachedToken, MemoryTokenStore
from tests.support import FakeClock, require_tool

SECRET = "unit-test-secret-key-0123456789abcdef0123"
T0 = 1_700_000_000.0
SESSION, USER, ORG, OTHER_ORG = "sess-4f2a9c", "user_01HALICE", "org_01HACME", "org_01HGLOBEX"
KEY = (SESSION, USER, ORG)
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzAxSEFMSUNFIn0.c2lnbmF0dXJlLXNlY3JldA"


def entry(token: str = TOKEN, serve_for: float = 240.0, now: float = T0) -> CachedToken:
    return CachedToken(token, now + serve_for + 60, now + serve_for)


@pytest.fixture
def stores():
    """Build stores (each one 'process'); all are closed afterwards."""
    made: list[RedisTokenStore] = []

    def build(url: str, **options) -> RedisTokenStore:
        options.setdefault("clock", FakeClock(T0))
        # Outage options belong to the link, the rest to the store.
        link_options = {
            name: options.pop(name)
            for name in ("monotonic", "retry_interval", "socket_timeout", "on_state_change")
            if name in options
        }
        link = RedisLink(url, **link_options)
        store = RedisTokenStore(link, options.pop("secret_key", SECRET), **options)
        made.append(store)
        return store

    yield build
    for store in made:
        store.close()


@pytest.fixture
def warnings_logged():
    """WARNING records of service.tokens.redis_store and redis_link (a handler of their own:
    "service" may not propagate to the root once an app has configured logging)."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    loggers = [
        logging.getLogger(f"service.{name}") for name in ("tokens.redis_store", "core.redis_link")
    ]
    for logger in loggers:
        logger.addHandler(handler)
    yield records
    for logger in loggers:
        logger.removeHandler(handler)


def token_names(raw) -> list[str]:
    return sorted(k.decode() for k in raw.keys("gts:tok:*"))


def test_key_names_are_hashed_and_reveal_nothing(raw, redis_server, stores):
    store = stores(redis_server)
    store.put(KEY, entry())
    store.put((SESSION, USER, OTHER_ORG), entry("other"))
    with store.lock(KEY):
        names = [k.decode() for k in raw.keys("*")]
    assert len(names) == 4  # two tokens, the session index, the lock
    for name in names:
        assert re.fullmatch(
            r"gts:(tok|lock):\{[0-9a-f]{64}\}:[0-9a-f]{32}|gts:sess:\{[0-9a-f]{64}\}", name
        ), name
        for secret in (SESSION, USER, ORG, OTHER_ORG, "4f2a9c", "ALICE", "ACME"):
            assert secret.lower() not in name.lower()


def test_names_are_stable_for_one_secret_and_differ_across_secrets(raw, redis_server, stores):
    stores(redis_server).put(KEY, entry())
    stores(redis_server).put(KEY, entry())
    assert len(token_names(raw)) == 1
    stores(redis_server, secret_key="another-secret-key-0123456789abcdef").put(KEY, entry())
    assert len(token_names(raw)) == 2


def test_values_are_sealed_not_the_token_in_clear(raw, redis_server, stores):
    stores(redis_server).put(KEY, entry())
    [name] = token_names(raw)
    value = raw.get(name)
    payload = TOKEN.split(".")[1]
    assert TOKEN.encode() not in value and payload.encode() not in value
    assert value.startswith(b"gAAAAA")  # a Fernet token: version byte 0x80, base64


def test_expiry_follows_serve_until_and_the_index_its_longest_member(raw, redis_server, stores):
    store = stores(redis_server)
    store.put(KEY, entry(serve_for=100))
    [name] = token_names(raw)
    assert 99_000 < raw.pttl(name) <= 100_000
    [index] = [k for k in raw.keys("gts:sess:*")]
    assert 99_000 < raw.pttl(index) <= 100_000
    store.put((SESSION, USER, OTHER_ORG), entry("other", serve_for=300))
    assert 299_000 < raw.pttl(index) <= 300_000
    store.put((SESSION, USER, "org_third"), entry("third", serve_for=50))
    assert 299_000 < raw.pttl(index) <= 300_000  # never shortened below a member's life


def test_an_entry_past_serve_until_is_not_stored(raw, redis_server, stores):
    stores(redis_server).put(KEY, entry(serve_for=-1))
    assert raw.keys("*") == []


def test_get_rereads_expiry_against_its_own_clock(redis_server, stores):
    clock = FakeClock(T0)
    writer, reader = stores(redis_server), stores(redis_server, clock=clock, local_ttl=0)
    writer.put(KEY, entry(serve_for=100))
    assert reader.get(KEY) == entry(serve_for=100)
    clock.advance(100)  # Redis still holds it (real time), but its serve_until has passed
    assert reader.get(KEY) is None


def test_evict_by_session_and_by_organization(raw, redis_server, stores):
    store = stores(redis_server)
    other_session = ("sess-other", USER, ORG)
    store.put(KEY, entry("a"))
    store.put((SESSION, USER, OTHER_ORG), entry("b"))
    store.put(other_session, entry("c"))

    assert store.evict(SESSION, OTHER_ORG) == 1
    assert store.get((SESSION, USER, OTHER_ORG)) is None
    assert store.get(KEY) == entry("a")
    assert len(token_names(raw)) == 2

    assert store.evict_session(SESSION) == 1
    assert store.get(KEY) is None
    assert store.get(other_session) == entry("c")
    assert len(token_names(raw)) == 1 and len(raw.keys("gts:sess:*")) == 1  # index gone too
    assert store.evict_session(SESSION) == 0


def test_delete_drops_one_key(raw, redis_server, stores):
    store = stores(redis_server)
    store.put(KEY, entry("a"))
    store.put((SESSION, USER, OTHER_ORG), entry("b"))
    assert store.delete(KEY) is True
    assert store.delete(KEY) is False
    assert store.get(KEY) is None and store.get((SESSION, USER, OTHER_ORG)) == entry("b")


@pytest.mark.parametrize("tamper", ["garbage", "other_secret", "moved", "flipped"])
def test_a_value_that_does_not_open_is_a_miss(raw, redis_server, stores, tamper):
    store = stores(redis_server, local_ttl=0)
    store.put(KEY, entry())
    [name] = token_names(raw)
    if tamper == "garbage":
        raw.set(name, b"\xff not a fernet token")
    elif tamper == "other_secret":
        stranger = stores(redis_server, secret_key="another-secret-key-0123456789abcdef")
        stranger.put(KEY, entry("forged"))
        [forged] = [n for n in token_names(raw) if n != name]
        raw.set(name, raw.get(forged))
    elif tamper == "moved":  # a value sealed for another session's key, copied over ours
        store.put(("sess-attacker", USER, ORG), entry("attacker's"))
        [theirs] = [n for n in token_names(raw) if n != name]
        raw.set(name, raw.get(theirs))
    else:
        value = bytearray(raw.get(name))
        value[40] = ord("A") if value[40] != ord("A") else ord("B")
        raw.set(name, bytes(value))
    reader = stores(redis_server, local_ttl=0)
    assert reader.get(KEY) is None
    assert store.get(KEY) is None  # and the writer's fallback copy is dropped with it


def test_two_instances_share_entries_and_evictions(redis_server, stores):
    a, b = stores(redis_server, local_ttl=0), stores(redis_server, local_ttl=0)
    a.put(KEY, entry())
    assert b.get(KEY) == entry()
    assert b.evict_session(SESSION) == 1
    assert a.get(KEY) is None


def test_the_local_copy_bounds_how_late_another_instances_eviction_applies(redis_server, stores):
    clock = FakeClock(T0)
    a, b = stores(redis_server, clock=clock, local_ttl=1.0), stores(redis_server)
    a.put(KEY, entry())
    b.evict_session(SESSION)
    assert a.get(KEY) == entry()  # from the L1, for at most local_ttl
    clock.advance(1.0)
    assert a.get(KEY) is None


def test_the_local_copy_never_outlives_the_shared_entry(redis_server, stores):
    clock = FakeClock(T0)
    store = stores(redis_server, clock=clock, local_ttl=5.0)
    store.put(KEY, entry(serve_for=2.0))
    assert store.get(KEY) is not None
    clock.advance(2.0)
    assert store.get(KEY) is None


def test_the_lock_gives_single_flight_across_instances(redis_server, stores):
    """Two 'processes' (a store and a broker each), 20 concurrent cold gets: one mint."""
    mints: list[str] = []
    guard = threading.Lock()

    def mint(user_id: str, organization_id: str) -> str:
        time.sleep(0.2)  # keep the mint in flight while the others arrive
        with guard:
            mints.append(organization_id)
            return f"token-{len(mints)}"

    brokers = [TokenBroker(mint, store=stores(redis_server, clock=time.time)) for _ in range(2)]
    start = threading.Barrier(20)
    tokens: list[str] = []

    def fetch(broker: TokenBroker) -> None:
        start.wait(timeout=10)
        issued = broker.get(*KEY)
        with guard:
            tokens.append(issued.token)

    threads = [threading.Thread(target=fetch, args=(brokers[i % 2],)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert mints == [ORG]
    assert tokens == ["token-1"] * 20


def test_a_lock_held_past_lock_wait_is_skipped(redis_server, stores, warnings_logged):
    holder = stores(redis_server)
    waiter = stores(redis_server, lock_wait=0.1)
    with holder.lock(KEY):
        started = time.monotonic()
        with waiter.lock(KEY):
            waited = time.monotonic() - started
    assert 0.05 <= waited < 1.0
    assert "minting without the lock" in warnings_logged[0].getMessage()


def test_a_lock_that_expired_while_held_is_released_quietly(raw, redis_server, stores):
    store = stores(redis_server, lock_timeout=0.05)
    with store.lock(KEY):
        time.sleep(0.1)
        other = stores(redis_server)
        with other.lock(KEY):  # free again: the first holder's lock expired
            pass
    assert raw.keys("gts:lock:*") == []


def test_a_new_process_gets_a_new_connection_pool(redis_server, stores, monkeypatch):
    store = stores(redis_server, local_ttl=0)
    store.put(KEY, entry())
    parent = store._link._client
    monkeypatch.setattr("service.core.redis_link.os.getpid", lambda: -1)  # as if forked
    assert store.get(KEY) == entry()
    assert store._link._client is not parent
    parent.close()


def test_outage_serves_from_memory_then_shares_again(tmp_path, stores, warnings_logged):
    require_tool("redis-server", "apt-get install redis-server")
    proc, url = start_redis(tmp_path)
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    monotonic, changes = FakeClock(0.0), []
    store = stores(
        url, monotonic=monotonic, retry_interval=5.0, local_ttl=0, on_state_change=changes.append
    )
    try:
        store.put(KEY, entry("before"))
        proc.stop()

        assert store.get(KEY) == entry("before")  # Redis fails: process memory answers
        assert store.degraded and changes == [True]
        store.put((SESSION, USER, OTHER_ORG), entry("during"))
        assert store.get((SESSION, USER, OTHER_ORG)) == entry("during")
        with store.lock(KEY):  # in-process only
            pass
        assert store.health() == {"backend": "redis", "ok": True, "degraded": True}
        assert len(warnings_logged) == 1  # once, not per call
        assert "Redis unreachable" in warnings_logged[0].getMessage()

        monotonic.advance(5.0)
        assert store.get(KEY) == entry("before")  # the one retry of this interval fails
        assert len(warnings_logged) == 2 and changes == [True]

        proc, _ = start_redis(tmp_path, port=port)
        assert store.get(KEY) == entry("before") and store.degraded  # no retry due yet
        monotonic.advance(5.0)
        assert store.health() == {"backend": "redis", "ok": True, "degraded": False}
        assert changes == [True, False]
        assert "reachable again" in warnings_logged[-1].getMessage()

        other = stores(url, local_ttl=0)
        other.put(("sess-new", USER, ORG), entry("shared"))
        assert store.get(("sess-new", USER, ORG)) == entry("shared")
        assert store.get(KEY) is None  # the restarted Redis is empty; memory follows it
    finally:
        proc.stop()


class Stalled:
    """A private redis-server that a test can stall (SIGSTOP: timeouts, data kept)."""

    def __init__(self, proc, url: str, store: RedisTokenStore, monotonic: FakeClock):
        self.proc, self.url, self.store, self.monotonic = proc, url, store, monotonic
        self.raw = redis.Redis.from_url(url)

    @contextlib.contextmanager
    def stalled(self):
        self.proc.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.proc.signal(signal.SIGCONT)


@pytest.fixture
def stalling(tmp_path, stores):
    """A store on a redis-server of its own, retrying Redis every 5 s of a fake clock."""
    require_tool("redis-server", "apt-get install redis-server")
    proc, url = start_redis(tmp_path)
    monotonic = FakeClock(0.0)
    store = stores(url, monotonic=monotonic, retry_interval=5.0, socket_timeout=0.1, local_ttl=0)
    server = Stalled(proc, url, store, monotonic)
    yield server
    server.raw.close()
    proc.stop()


def test_evictions_during_an_outage_are_replayed(stalling, stores):
    """A stalled Redis misses a logout; it is replayed when Redis answers again."""
    store, raw = stalling.store, stalling.raw
    store.put(KEY, entry())
    store.put(("sess-kept", USER, ORG), entry())
    with stalling.stalled():
        assert store.evict_session(SESSION) == 1  # counted in memory
        assert store.degraded
        assert store.get(KEY) is None
    assert len(token_names(raw)) == 2  # Redis missed the eviction
    stalling.monotonic.advance(5.0)
    assert store.get(("sess-kept", USER, ORG)) == entry()  # back: replays the eviction
    assert not store.degraded
    assert len(token_names(raw)) == 1
    assert stores(stalling.url).get(KEY) is None


def test_a_failing_state_callback_is_logged_not_raised(tmp_path, stores):
    require_tool("redis-server", "apt-get install redis-server")
    proc, url = start_redis(tmp_path)
    proc.stop()

    def broken(degraded: bool) -> None:
        raise RuntimeError("metrics down")

    store = stores(url, on_state_change=broken)
    store.put(KEY, entry())
    assert store.get(KEY) == entry() and store.degraded


def test_make_token_store_picks_the_backend(redis_server):
    assert isinstance(make_token_store(None, SECRET, 10), MemoryTokenStore)
    store = make_token_store(RedisLink(redis_server), SECRET, 10, time.time, local_ttl=0.5)
    try:
        assert isinstance(store, RedisTokenStore)
        assert store.health() == {"backend": "redis", "ok": True, "degraded": False}
    finally:
        store.close()
