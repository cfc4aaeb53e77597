"""Sessions (the 1-second copy, ending, narrowing) and WorkOS events applied to them."""

from __future__ import annotations

import pytest

from service.sessions.events import EventApplier, NotAnEvent, parse_event
from service.sessions.lifecycle import Sessions
from service.sessions.records import MemorySessionStore, SessionStoreUnavailable
from service.sessions.values import MemoryValueStore
from service.tokens.broker import TokenBroker
from tests.support import FakeClock

T0 = 1_700_000_000.0
ACME = {"id": "org_acme", "name": "Acme Corp"}
GLOBEX = {"id": "org_globex", "name": "Globex"}
ALICE = {"id": "user_alice", "email": "alice@acme.com", "first_name": "Alice", "last_name": None}
BOB = {"id": "user_bob", "email": "bob@globex.com", "first_name": "Bob", "last_name": None}


class World:
    """Two 'processes' (Sessions) over one store and one value store, each with its own token
    broker."""

    def __init__(self):
        self.clock = FakeClock(T0)
        self.monotonic = FakeClock(0.0)
        self.store = MemorySessionStore(self.clock)
        self.values = MemoryValueStore(self.clock)
        self.mints = 0
        self.brokers = [TokenBroker(self._mint, clock=self.clock) for _ in range(2)]
        self.a, self.b = (
            Sessions(self.store, broker, 3600, clock=self.clock, monotonic=self.monotonic)
            for broker in self.brokers
        )

    def _mint(self, user_id: str, org_id: str) -> str:
        self.mints += 1
        return f"token-{self.mints}"

    def sign_in(self, user=ALICE, sid="session_1", orgs=(ACME, GLOBEX)):
        return self.a.start(user, sid, orgs[0] if orgs else None, list(orgs))

    def token(self, record, broker=0):
        current = self.store.get(record.id)
        return self.brokers[broker].get(current.token_session, current.user_id, ACME["id"])


@pytest.fixture
def world():
    return World()


def test_a_new_session_has_a_fresh_128_bit_id(world):
    ids = {world.sign_in().id for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 32 for i in ids)


def test_a_sign_out_elsewhere_reaches_this_process_within_the_copy_time(world):
    alice = world.sign_in()
    assert world.b.get(alice.id) == alice  # b keeps a copy now
    world.a.end(alice.id)
    assert world.a.get(alice.id) is None  # at once where it happened
    assert world.b.get(alice.id) == alice  # b's copy is at most COPY_SECONDS old
    world.monotonic.advance(1.0)
    assert world.b.get(alice.id) is None


def test_the_copy_never_outlives_the_record(world):
    alice = world.sign_in()
    world.b.get(alice.id)
    world.clock.advance(3600)
    assert world.b.get(alice.id) is None


def test_ending_a_session_drops_its_tokens(world):
    alice = world.sign_in()
    world.token(alice)
    assert len(world.brokers[0]) == 1
    world.a.end(alice.id)
    assert len(world.brokers[0]) == 0


def test_narrowing_makes_every_cached_token_unreachable_in_every_process(world):
    alice = world.sign_in()
    first = world.token(alice, broker=1)
    assert world.token(alice, broker=1).cached and world.mints == 1
    world.a.narrow(ACME["id"], user_id=ALICE["id"])
    record = world.store.get(alice.id)
    assert record.gen == 1 and [o["id"] for o in record.organizations] == [GLOBEX["id"]]
    assert record.organization == ACME  # WorkOS decides at the next mint
    again = world.token(alice, broker=1)
    assert not again.cached and again.token != first.token and world.mints == 2


def test_narrowing_an_organization_reaches_all_its_members_and_only_them(world):
    alice = world.sign_in()
    bob = world.sign_in(BOB, "session_2", orgs=(GLOBEX,))
    assert world.a.narrow(ACME["id"]) == 1
    assert world.store.get(alice.id).gen == 1 and world.store.get(bob.id).gen == 0


@pytest.mark.parametrize(
    "event, ended",
    [
        ({"event": "session.revoked", "data": {"id": "session_1"}}, {"alice1"}),
        ({"event": "user.deleted", "data": {"id": "user_alice"}}, {"alice1", "alice2"}),
        ({"event": "session.revoked", "data": {"id": "session_9"}}, set()),
    ],
)
def test_events_that_end_sessions(world, event, ended):
    sessions = {
        "alice1": world.sign_in(ALICE, "session_1"),
        "alice2": world.sign_in(ALICE, "session_2"),
        "bob": world.sign_in(BOB, "session_3"),
    }
    applier = EventApplier(world.a, world.values)
    assert applier.apply(parse_event({"id": "event_1", **event})) == "applied"
    gone = {name for name, r in sessions.items() if world.store.get(r.id) is None}
    assert gone == ended


@pytest.mark.parametrize(
    "event, narrowed",
    [
        ("organization_membership.deleted", True),
        ("organization_membership.updated", True),  # status inactive
        ("organization.deleted", True),
    ],
)
def test_events_that_narrow_sessions(world, event, narrowed):
    alice = world.sign_in()
    data = {"id": "om_1", "user_id": "user_alice", "organization_id": "org_acme"}
    if event == "organization_membership.updated":
        data["status"] = "inactive"
    if event == "organization.deleted":
        data = {"id": "org_acme", "name": "Acme Corp"}
    applier = EventApplier(world.a, world.values)
    outcome = applier.apply(parse_event({"id": "e1", "event": event, "data": data}))
    assert outcome == "applied"
    assert (world.store.get(alice.id).gen == 1) is narrowed


def test_a_repeated_event_id_is_applied_once(world):
    alice = world.sign_in()
    applier = EventApplier(world.a, world.values)
    event = parse_event(
        {
            "id": "event_1",
            "event": "organization_membership.deleted",
            "data": {"user_id": "user_alice", "organization_id": "org_acme"},
        }
    )
    assert applier.apply(event) == "applied"
    assert applier.apply(event) == "duplicate"
    other = EventApplier(world.b, world.values)
    assert other.apply(event) == "duplicate"  # another process sees the claim
    assert world.store.get(alice.id).gen == 1


def test_other_events_are_ignored(world):
    alice = world.sign_in()
    applier = EventApplier(world.a, world.values)
    for event in (
        {"id": "e1", "event": "user.created", "data": {"id": "user_alice"}},
        {"id": "e2", "event": "session.created", "data": {"id": "session_1"}},
        {
            "id": "e3",
            "event": "organization_membership.updated",
            "data": {"user_id": "user_alice", "organization_id": "org_acme", "status": "active"},
        },
    ):
        assert applier.apply(parse_event(event)) == "ignored"
    assert world.store.get(alice.id) == alice


def test_an_event_that_fails_is_applied_by_its_redelivery(world, monkeypatch):
    alice = world.sign_in()
    event = parse_event({"id": "e1", "event": "session.revoked", "data": {"id": "session_1"}})
    applier = EventApplier(world.a, world.values)
    real_find = world.store.find

    def down(**_):
        raise SessionStoreUnavailable("down")

    monkeypatch.setattr(world.store, "find", down)
    with pytest.raises(SessionStoreUnavailable):
        applier.apply(event)
    monkeypatch.setattr(world.store, "find", real_find)
    assert applier.apply(event) == "applied"
    assert world.store.get(alice.id) is None


@pytest.mark.parametrize(
    "body",
    [
        [],
        "event",
        {"event": "session.revoked", "data": {"id": "s"}},
        {"id": "", "event": "session.revoked", "data": {"id": "s"}},
        {"id": "e1", "data": {}},
        {"id": "e1", "event": "session.revoked", "data": []},
        {"id": "e1", "event": "session.revoked", "data": {}},
        {"id": "e1", "event": "organization_membership.deleted", "data": {"user_id": "u"}},
        {"id": "e1", "event": "user.deleted", "data": {"id": 5}},
    ],
)
def test_bodies_that_are_not_events(body):
    with pytest.raises(NotAnEvent):
        parse_event(body)
