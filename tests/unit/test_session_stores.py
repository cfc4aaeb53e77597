"""The session stores' shared contract (memory, SQLite, Redis), and what each keeps on disk.
The values kept beside the records are tests/unit/test_value_stores.py's."""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from dataclasses import replace

import pytest

from devstack.stack import free_port
from service.core.redis_link import RedisLink
from service.sessions.records import MemorySessionStore, SessionRecord, SessionStoreUnavailable
from service.sessions.redis_store import RedisSessionStore
from service.sessions.sqlite_file import SqliteFile
from service.sessions.sqlite_store import SqliteSessionStore
from service.sessions.sqlite_values import SqliteValueStore
from tests.support import FakeClock

SECRET = "unit-test-secret-key-0123456789abcdef0123"
T0 = 1_700_000_000.0
ACME = {"id": "org_01HACME", "name": "Acme Corp"}
GLOBEX = {"id": "org_01HGLOBEX", "name": "Globex"}


def record(
    session_id="4f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
    user_id="user_01HALICE",
    sid="session_01HSID",
    lifetime=3600.0,
    **fields,
) -> SessionRecord:
    values = dict(
        id=session_id,
        user={"id": user_id, "email": "alice@acme.com", "first_name": "Alice", "last_name": None},
        sid=sid,
        organization=ACME,
        organizations=[ACME, GLOBEX],
        signed_in_at=T0,
        expires_at=T0 + lifetime,
    )
    values.update(fields)
    return SessionRecord(**values)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def kind(request):
    return request.param


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def make_store(kind, clock, tmp_path, request):
    """Stores of one kind sharing one backend (as two processes of a host would)."""
    links = []
    memory = MemorySessionStore(clock)

    def make(secret=SECRET):
        if kind == "memory":
            return memory
        if kind == "sqlite":
            return SqliteSessionStore(tmp_path / "sessions.sqlite3", secret, clock)
        url = request.getfixturevalue("redis_server")
        link = RedisLink(url)
        links.append(link)
        return RedisSessionStore(link, secret, clock=clock)

    if kind == "redis":
        request.getfixturevalue("raw")  # an empty Redis for each test
    yield make
    for link in links:
        link.close()


@pytest.fixture
def store(make_store):
    return make_store()


def test_a_record_round_trips(store):
    alice = record()
    store.create(alice)
    assert store.get(alice.id) == alice
    assert store.get("0" * 32) is None


def test_a_record_expires_with_the_session(store, clock):
    alice = record(lifetime=100)
    store.create(alice)
    clock.advance(99)
    assert store.get(alice.id) == alice
    clock.advance(1)
    assert store.get(alice.id) is None
    assert store.find(user_id=alice.user_id) == []


def test_update_changes_and_bumps_but_never_brings_a_record_back(store):
    alice = record()
    store.create(alice)
    changed = store.update(alice.id, lambda r: replace(r, organization=GLOBEX), bump=True)
    assert changed.organization == GLOBEX and changed.gen == 1
    assert store.get(alice.id) == changed
    assert store.update(alice.id, lambda r: r).gen == 1  # no bump: gen stays
    assert store.delete(alice.id) == changed
    assert store.update(alice.id, lambda r: r, bump=True) is None
    assert store.get(alice.id) is None and store.delete(alice.id) is None


def test_find_by_user_sid_and_organization(store):
    a = record()
    b = record(
        session_id="b" * 32, sid="session_other", organization=GLOBEX, organizations=[GLOBEX]
    )
    bob = record(session_id="c" * 32, user_id="user_bob", sid="session_bob")
    for r in (a, b, bob):
        store.create(r)
    assert {r.id for r in store.find(user_id="user_01HALICE")} == {a.id, b.id}
    assert [r.id for r in store.find(sid="session_bob")] == [bob.id]
    assert {r.id for r in store.find(organization_id=ACME["id"])} == {a.id, bob.id}
    assert {r.id for r in store.find(organization_id=GLOBEX["id"])} == {a.id, b.id, bob.id}
    store.update(a.id, lambda r: replace(r, organization=None, organizations=[]))
    store.delete(bob.id)
    assert store.find(organization_id=ACME["id"]) == []
    assert store.find(sid="session_bob") == []
    assert store.find(user_id="nobody") == []


def test_every_lists_the_live_records_only(store, clock):
    alice, bob = record(), record(session_id="b" * 32, user_id="user_01HBOB", lifetime=50)
    store.create(alice)
    store.create(bob)
    assert sorted(r.id for r in store.every()) == sorted([alice.id, bob.id])
    clock.advance(50)
    assert store.every() == [alice]
    store.delete(alice.id)
    assert store.every() == []


@pytest.mark.parametrize("kind", ["sqlite", "redis"])  # memory keeps objects, not seals
def test_another_secret_key_opens_no_record(make_store, kind):
    alice = record()
    make_store().create(alice)
    other = make_store("another-secret-key-0123456789abcdef0123")
    assert other.get(alice.id) is None
    assert other.find(user_id=alice.user_id) == []


def test_two_processes_share_the_store(make_store):
    a, b = make_store(), make_store()
    alice = record()
    a.create(alice)
    assert b.get(alice.id) == alice
    b.delete(alice.id)
    assert a.get(alice.id) is None


def test_sqlite_file_names_nobody(tmp_path, clock):
    file = SqliteFile(tmp_path / "s.sqlite3")
    store, values = SqliteSessionStore(file, SECRET, clock), SqliteValueStore(file, SECRET, clock)
    alice = record()
    store.create(alice)
    # Named values: the organization list kept for switches, a pending choice, the poller's.
    values.set_value("organizations:user_01HALICE", "sealed", 60)
    values.set_value("pick:org_01HACME", "sealed", 60)
    assert values.lease("events-poller:session_01HSID", "me", 30)
    assert values.get_value("organizations:user_01HALICE") == "sealed"
    store.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for secret in (alice.id, "user_01HALICE", "alice@acme.com", "session_01HSID", "org_01HACME"):
        assert secret.encode() not in data


def test_sqlite_records_and_values_share_one_file(tmp_path, clock):
    """One file, one connection per thread for both halves; a restart opens what they wrote."""
    file = SqliteFile(tmp_path / "s.sqlite3")
    store, values = SqliteSessionStore(file, SECRET, clock), SqliteValueStore(file, SECRET, clock)
    alice = record()
    store.create(alice)
    values.set_value("events-cursor", "event_01", 60)
    with file.read() as db:
        assert {row[0] for row in db.execute("SELECT name FROM sqlite_master")} >= {
            "sessions",
            "session_orgs",
            "kv",
        }
    store.close()
    reopened = tmp_path / "s.sqlite3"
    assert SqliteSessionStore(reopened, SECRET, clock).get(alice.id) == alice
    assert SqliteValueStore(reopened, SECRET, clock).get_value("events-cursor") == "event_01"
    assert store.health() == values.health() == {"backend": "sqlite", "ok": True}


def test_redis_keys_name_nobody(redis_server, raw, clock):
    link = RedisLink(redis_server)
    alice = record()
    RedisSessionStore(link, SECRET, clock=clock).create(alice)
    dump = b"".join([*raw.keys("*"), *(raw.hget(k, "b") or b"" for k in raw.keys("gts:s:*"))])
    for secret in (alice.id, "user_01HALICE", "alice@acme.com", "session_01HSID", "org_01HACME"):
        assert secret.encode() not in dump
    name = raw.keys("gts:s:*")[0]
    assert 3590_000 < raw.pttl(name) <= 3600_000  # expires with the session
    link.close()


def test_redis_down_fails_closed(clock):
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0")
    store = RedisSessionStore(link, SECRET, clock=clock)
    with pytest.raises(SessionStoreUnavailable):
        store.get("4f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d")
    with pytest.raises(SessionStoreUnavailable):
        store.create(record())
    assert link.down and store.health()["ok"] is False


def test_sqlite_that_cannot_be_read_fails_closed(tmp_path, clock):
    path = tmp_path / "s.sqlite3"
    store = SqliteSessionStore(path, SECRET, clock)
    store.create(record())
    store.close()
    path.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"s.sqlite3{suffix}").unlink(missing_ok=True)
    broken = SqliteSessionStore.__new__(SqliteSessionStore)
    broken.__dict__.update(store.__dict__)
    with pytest.raises(SessionStoreUnavailable):
        broken.get(record().id)
    assert broken.health()["ok"] is False


def _open_store_at(path: str, barrier, delay: float) -> None:
    """In a child process: wait for the others, then open (and so create) the store."""
    barrier.wait(timeout=30)
    time.sleep(delay)
    try:
        SqliteSessionStore(path, "unit-test-secret")
    except SessionStoreUnavailable:
        os._exit(1)
    os._exit(0)


def test_workers_booting_at_once_all_open_a_new_sqlite_file(tmp_path):
    """gunicorn starts its workers together: each turns the new file to WAL, and a worker that
    met "database is locked" there failed to boot, taking the master down (a CI run saw it).
    Two processes a few milliseconds apart failed about one attempt in four."""
    context = multiprocessing.get_context("fork")
    workers = 2
    jitter = random.Random(12)
    for attempt in range(60):
        path = str(tmp_path / f"sessions-{attempt}.sqlite3")
        barrier = context.Barrier(workers)
        children = [
            context.Process(target=_open_store_at, args=(path, barrier, jitter.random() / 250))
            for _ in range(workers)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(timeout=60)
        assert [child.exitcode for child in children] == [0] * workers, attempt


def test_sqlite_that_cannot_write_is_not_ready(tmp_path, clock):
    """A full disk: reads still answer while sign-ins and sign-outs fail, and /readyz said ok.
    SQLite's page limit gives the same SQLITE_FULL a full disk does."""
    store = SqliteSessionStore(tmp_path / "s.sqlite3", SECRET, clock)
    store.create(record())
    assert store.health() == {"backend": "sqlite", "ok": True}
    with store._file.read() as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(SessionStoreUnavailable):  # sign-ins fill what room the pages had
        for n in range(1000):
            store.create(record(session_id=f"{n:032x}", user_id=f"user_{n}"))
    assert store.get(record().id) is not None  # reads still answer
    assert store.health() == {"backend": "sqlite", "ok": False}
