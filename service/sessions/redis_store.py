"""RedisSessionStore: session records shared by every worker and host through Redis (the values
beside them, on the same link, are redis_values.py's).

Layout (names carry keyed HMACs, `keys.mac`, and say nothing about sessions, users or
organizations; the braces are hash tags, so a session's keys stay in one cluster slot):

    gts:s:{<k>}     hash {b: sealed record, g: gen}; PX = time left until the record expires
    gts:su:<u>      sorted set of k by expiry: the sessions of a user
    gts:sx:<x>      sorted set of k by expiry: the sessions made from one WorkOS session
    gts:so:<o>      sorted set of k by expiry: the sessions listing an organization

Every script touches one key, so the layout works on a Redis Cluster as on one Redis. An index
drops members past their expiry whenever it is written, and expires with its last member; a
member whose record is gone is dropped when an event finds it. No record means signed out:
a FLUSHALL or a lost primary signs people out and never back in. Redis errors raise
SessionStoreUnavailable (fail closed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import cast

from redis.commands.core import Script
from redis.typing import EncodableT

from service.core.keys import mac, session_tag
from service.core.redis_link import Client, RedisLink
from service.core.sealing import Sealer
from service.sessions.backends import RedisBacked
from service.sessions.records import (
    Change,
    SessionRecord,
    SessionStoreUnavailable,
    organization_ids,
)

# Add a member, drop those past their expiry, and keep the set as long as its longest member.
_INDEX = """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
"""
# Compare-and-set a record: 0 when it is gone, -1 when someone changed it since it was read.
_SWAP = """
local held = redis.call('HMGET', KEYS[1], 'b', 'g')
if not held[1] then return 0 end
if held[1] ~= ARGV[1] or (held[2] or '0') ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], 'b', ARGV[3], 'g', ARGV[4])
return 1
"""
SWAP_ATTEMPTS = 8


class RedisSessionStore(RedisBacked):
    """SessionStore on Redis (standalone, with replicas, or a cluster)."""

    def __init__(
        self,
        link: RedisLink,
        secret_key: str,
        *,
        clock: Callable[[], float] = time.time,
        prefix: str = "gts",
        fallbacks: Sequence[str] = (),
    ):
        super().__init__(link, secret_key, prefix=prefix, fallbacks=fallbacks)
        self._clock = clock
        self._sealer = Sealer(secret_key, "session-records", fallbacks)

    # -- records ---------------------------------------------------------------------------

    def create(self, record: SessionRecord) -> None:
        """Store a new record, then index it by user, sid and organizations."""
        k = self._k(record.id)
        ttl_ms = self._ttl_ms(record.expires_at)
        if ttl_ms <= 0:
            return

        def write(r: Client) -> None:
            pipe = r.pipeline(transaction=True)
            pipe.delete(self._record_name(k))
            pipe.hset(self._record_name(k), mapping={"b": self._seal(record), "g": record.gen})
            pipe.pexpire(self._record_name(k), ttl_ms)
            pipe.execute()

        self._run(write)
        self._index(record, k, ttl_ms)

    def get(self, session_id: str) -> SessionRecord | None:
        """The live record, or None."""
        k = self._k(session_id)
        held = self._held(self._record_name(k))
        record = self._open(held, session_id)
        return record if record is not None or held[0] is not None else self._migrate(session_id)

    def update(self, session_id: str, change: Change, bump: bool = False) -> SessionRecord | None:
        """Read, change and compare-and-set the record; None when it is gone."""
        k = self._k(session_id)
        name = self._record_name(k)
        swap = self._script(_SWAP)
        self._migrate(session_id)
        for _ in range(SWAP_ATTEMPTS):
            held = self._held(name)
            record = self._open(held, session_id)
            if record is None:
                return None
            new = change(record)
            gen = record.gen + 1 if bump else record.gen
            new = replace(new, gen=gen)
            sealed = held[0]
            assert sealed is not None  # _open found the record in it
            args: list[EncodableT] = [sealed, held[1] or b"0", self._seal(new), gen]
            outcome = self._run(lambda r, a: swap(keys=[name], args=a, client=r), args)
            if outcome == 0:
                return None
            if outcome == 1:
                added = organization_ids(new) - organization_ids(record)
                if added:
                    self._index(new, k, self._ttl_ms(new.expires_at), only_orgs=added)
                return new
        raise SessionStoreUnavailable("session store: record changed too often to update")

    def delete(self, session_id: str) -> SessionRecord | None:
        """Remove a record and its index entries."""
        self._migrate(session_id)
        k = self._k(session_id)
        name = self._record_name(k)

        def take(r: Client) -> list[bytes | None]:
            pipe = r.pipeline(transaction=True)
            pipe.hmget(name, "b", "g")
            pipe.delete(name)
            return pipe.execute()[0]

        record = self._open(self._run(take), session_id)
        if record is not None:
            self._unindex(record, k)
        return record

    def find(
        self,
        *,
        user_id: str | None = None,
        sid: str | None = None,
        organization_id: str | None = None,
    ) -> list[SessionRecord]:
        """Live records by user id, WorkOS sid or organization id."""
        if user_id is not None:
            kind, value = "su", user_id
        elif sid is not None:
            kind, value = "sx", sid
        elif organization_id is not None:
            kind, value = "so", organization_id
        else:
            return []  # no index asked for: nothing matches (as in the other stores)
        found = []
        # Records not yet moved since a rotation are indexed under a former key's names.
        for key in (self._names, *self._old_names):
            index = self._index_name(kind, value, key)
            members = cast(
                "list[bytes]",
                self._run(lambda r, i: r.zrangebyscore(i, self._clock(), "+inf"), index),
            )
            gone = []
            for member in members:
                k = member.decode()
                held = self._held(self._record_name(k))
                record = self._open(held)
                if record is None:
                    gone.append(k)
                elif organization_id is None or organization_id in organization_ids(record):
                    found.append(record)
            if gone:
                self._run(lambda r, i, g: r.zrem(i, *g), index, gone)
        return found

    def every(self) -> list[SessionRecord]:
        """Every live record, by a SCAN of the record names (every primary of a cluster)."""
        pattern = f"{self._prefix}:s:{{*"
        names = cast(
            "list[bytes]", self._run(lambda r: list(r.scan_iter(match=pattern, count=1000)))
        )
        found = []
        for name in names:
            record = self._open(self._held(name.decode()))
            if record is not None:
                found.append(record)
        return found

    # -- helpers ---------------------------------------------------------------------------

    def _held(self, name: str) -> list[bytes | None]:
        """A record's sealed body and generation, as kept (the link's client does not decode
        responses, whatever redis-py's types allow)."""
        return cast("list[bytes | None]", self._run(lambda r: r.hmget(name, "b", "g")))

    def _script(self, source: str) -> Script:
        return self._link.script(source)

    def _k(self, session_id: str) -> str:
        return session_tag(self._names, session_id)

    def _record_name(self, k: str) -> str:
        return f"{self._prefix}:s:{{{k}}}"

    def _index_name(self, kind: str, value: str, key: bytes | None = None) -> str:
        return f"{self._prefix}:{kind}:{mac(key or self._names, kind, value)}"

    def _migrate(self, session_id: str) -> SessionRecord | None:
        """Move a record kept under a former key's names to the current ones; None if none."""
        for key in self._old_names:
            k = session_tag(key, session_id)
            held = self._held(self._record_name(k))
            record = self._open(held, session_id)
            if record is None:
                continue
            self.create(record)  # under the current names, indexed there
            self._run(lambda r, k: r.delete(self._record_name(k)), k)
            self._unindex(record, k, key)
            return record
        return None

    def _ttl_ms(self, expires_at: float) -> int:
        return math.ceil((expires_at - self._clock()) * 1000)

    def _seal(self, record: SessionRecord) -> str:
        return self._sealer.seal(record.to_json())

    def _open(
        self, held: Sequence[bytes | None] | None, session_id: str | None = None
    ) -> SessionRecord | None:
        if not held or held[0] is None:
            return None
        body = self._sealer.unseal(held[0].decode())
        if body is None:
            return None
        record = SessionRecord.from_json(body, int(held[1] or 0))
        if session_id is not None and record.id != session_id:
            return None  # a value copied under another session's name
        return record if record.expires_at > self._clock() else None

    def _indexes(
        self, record: SessionRecord, orgs: set[str], key: bytes | None = None
    ) -> list[str]:
        names = [self._index_name("su", record.user_id, key)]
        if record.sid:
            names.append(self._index_name("sx", record.sid, key))
        return names + [self._index_name("so", org, key) for org in sorted(orgs)]

    def _index(
        self, record: SessionRecord, k: str, ttl_ms: int, only_orgs: set[str] | None = None
    ) -> None:
        script = self._script(_INDEX)
        if only_orgs is None:
            names = self._indexes(record, organization_ids(record))
        else:
            names = [self._index_name("so", org) for org in sorted(only_orgs)]
        args: list[EncodableT] = [record.expires_at, k, self._clock(), ttl_ms]

        def add(r: Client) -> None:
            # One call per index: they live in different slots of a cluster, and a cluster
            # pipeline refuses scripts (redis-py). Sign-in only, so the round trips are cheap.
            for name in names:
                script(keys=[name], args=args, client=r)

        self._run(add)

    def _unindex(self, record: SessionRecord, k: str, key: bytes | None = None) -> None:
        def drop(r: Client) -> None:
            pipe = r.pipeline(transaction=False)
            for name in self._indexes(record, organization_ids(record), key):
                pipe.zrem(name, k)
            pipe.execute()

        self._run(drop)
