"""The value stores' shared contract (memory, SQLite, Redis): applied event ids, named values
and leases, and the names they keep them under (a deployment's existing data must still be
read)."""

from __future__ import annotations

import pytest

from devstack.stack import free_port
from service.core.keys import derive, mac
from service.core.redis_link import RedisLink
from service.sessions.records import SessionStoreUnavailable
from service.sessions.redis_values import RedisValueStore
from service.sessions.sqlite_values import SqliteValueStore
from service.sessions.values import EVENT_MEMORY_SECONDS, MemoryValueStore
from tests.support import FakeClock

SECRET = "unit-test-secret-key-0123456789abcdef0123"
OTHER = "another-secret-key-0123456789abcdef0123"
T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kind(request):
    return request.param


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def make_values(kind, clock, tmp_path, request):
    """Value stores of one kind sharing one backend (as two processes of a host would)."""
    links = []
    memory = MemoryValueStore(clock)

    def make(secret=SECRET, fallbacks=()):
        if kind == "memory":
            return memory
        if kind == "sqlite":
            path = tmp_path / "sessions.sqlite3"
            return SqliteValueStore(path, secret, clock, fallbacks=fallbacks)
        link = RedisLink(request.getfixturevalue("redis_server"))
        links.append(link)
        return RedisValueStore(link, secret, fallbacks=fallbacks)

    if kind == "redis":
        request.getfixturevalue("raw")  # an empty Redis for each test
    yield make
    for link in links:
        link.close()


@pytest.fixture
def values(make_values):
    return make_values()


def test_an_event_is_claimed_once_until_released(values):
    assert not values.event_applied("event_01")
    assert values.claim_event("event_01")
    assert values.event_applied("event_01")
    assert not values.claim_event("event_01")
    assert values.claim_event("event_02")
    values.release_event("event_01")
    assert not values.event_applied("event_01")
    assert values.claim_event("event_01")


def test_a_claim_is_remembered_for_three_days(values, kind, clock):
    values.claim_event("event_01")
    if kind != "redis":  # Redis expires on its own clock, not the injected one
        clock.advance(EVENT_MEMORY_SECONDS - 1)
        assert values.event_applied("event_01")
        clock.advance(1)
        assert not values.event_applied("event_01")
        assert values.claim_event("event_01")


def test_values_are_single_use_when_popped(values):
    assert values.get_value("cursor") is None
    values.set_value("cursor", "event_01", 60)
    assert values.get_value("cursor") == "event_01"
    assert values.pop_value("cursor") == "event_01"
    assert values.pop_value("cursor") is None


def test_a_value_expires(values, kind, clock):
    values.set_value("pick:abc", "sealed", 600)
    if kind != "redis":
        clock.advance(600)
        assert values.get_value("pick:abc") is None
        assert values.pop_value("pick:abc") is None


def test_a_lease_has_one_holder_at_a_time(values, kind, clock):
    assert values.lease("poller", "a", 30)
    assert not values.lease("poller", "b", 30)
    assert values.lease("poller", "a", 30)  # renewed by its holder
    if kind != "redis":
        clock.advance(31)
        assert values.lease("poller", "b", 30)


def test_two_processes_share_the_values(make_values):
    a, b = make_values(), make_values()
    a.set_value("events-cursor", "event_07", 60)
    assert b.get_value("events-cursor") == "event_07"
    assert a.claim_event("event_07") and b.event_applied("event_07")
    assert not b.claim_event("event_07")
    assert a.lease("events-poller", "a", 30) and not b.lease("events-poller", "b", 30)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])  # memory keeps no names
def test_another_secret_reads_nothing_and_a_rotation_keeps_everything(make_values, kind):
    before = make_values()
    before.set_value("events-cursor", "event_07", 60)
    before.claim_event("event_07")
    assert make_values(OTHER).get_value("events-cursor") is None
    rotated = make_values(OTHER, fallbacks=[SECRET])
    assert rotated.get_value("events-cursor") == "event_07"
    assert rotated.event_applied("event_07") and not rotated.claim_event("event_07")
    assert rotated.pop_value("events-cursor") == "event_07"
    assert before.get_value("events-cursor") is None


def test_sqlite_names_are_those_a_deployed_file_holds(tmp_path, clock):
    """The kv rows keep the names the session store wrote before the split."""
    values = SqliteValueStore(tmp_path / "s.sqlite3", SECRET, clock)
    values.set_value("organizations:user_01HALICE", "sealed", 60)
    values.claim_event("event_01")
    assert values.lease("events-poller", "me", 30)
    key = derive(SECRET, "session-store-names")
    with values._file.read() as db:
        names = {row[0] for row in db.execute("SELECT name FROM kv")}
    assert names == {
        "v:" + mac(key, "v", "organizations:user_01HALICE"),
        "event:" + mac(key, "e", "event_01"),
        "v:" + mac(key, "v", "lease:events-poller"),
    }
    values.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in ("user_01HALICE", "event_01", "events-poller"):
        assert secret.encode() not in data


def test_sqlite_values_written_in_clear_by_an_older_version_are_still_read(tmp_path, clock):
    """The Events API cursor survives the upgrade that started naming values by HMAC."""
    values = SqliteValueStore(tmp_path / "s.sqlite3", SECRET, clock)
    with values._file.write() as db:
        db.execute("INSERT INTO kv VALUES ('events:cursor', 'event_01', ?)", (T0 + 60,))
    assert values.get_value("events:cursor") == "event_01"
    assert values.pop_value("events:cursor") == "event_01"
    assert values.get_value("events:cursor") is None


def test_sqlite_purges_expired_values_as_it_writes(tmp_path, clock):
    values = SqliteValueStore(tmp_path / "s.sqlite3", SECRET, clock)
    values.set_value("a", "1", 10)
    clock.advance(3600)
    values.set_value("b", "2", 10)
    with values._file.read() as db:
        assert db.execute("SELECT count(*) FROM kv").fetchone()[0] == 1


def test_redis_names_are_those_a_rolling_deploy_reads(raw, redis_server):
    """gts:v:<hmac> and gts:ev:<hmac>, as docs/deployment.md lists them."""
    link = RedisLink(redis_server)
    values = RedisValueStore(link, SECRET)
    values.set_value("organizations:user_01HALICE", "sealed", 60)
    values.claim_event("event_01")
    assert values.lease("events-poller", "me", 30)
    key = derive(SECRET, "session-store-names")
    assert {k.decode() for k in raw.keys("*")} == {
        "gts:v:" + mac(key, "v", "organizations:user_01HALICE"),
        "gts:ev:" + mac(key, "e", "event_01"),
        "gts:v:" + mac(key, "v", "lease:events-poller"),
    }
    assert 59_000 < raw.pttl("gts:v:" + mac(key, "v", "organizations:user_01HALICE")) <= 60_000
    link.close()


def test_redis_down_fails_closed():
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0")
    values = RedisValueStore(link, SECRET)
    with pytest.raises(SessionStoreUnavailable):
        values.get_value("events-cursor")
    with pytest.raises(SessionStoreUnavailable):
        values.claim_event("event_01")
    assert link.down and values.health() == {"backend": "redis", "ok": False}
