"""RedisValueStore: event ids applied, named values and leases in Redis, on the link the
session records use (redis_store.py).

    gts:ev:<e>      an event id already applied (EVENT_MEMORY_SECONDS)
    gts:v:<name>    named values (Events API cursor, pending sign-ins and organization
                    choices, kept organization lists, revoked WorkOS sessions, leases)

Names are keyed HMACs under the same key as the records' (`session-store-names`), and each
operation touches one key, so it works on a Redis Cluster as on one Redis. Redis errors raise
SessionStoreUnavailable (fail closed).
"""

from __future__ import annotations

import math
from typing import cast

from service.core.keys import mac
from service.sessions.backends import RedisBacked
from service.sessions.values import EVENT_MEMORY_SECONDS

# Take a lease that is free, or renew one this owner holds.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class RedisValueStore(RedisBacked):
    """ValueStore on Redis (standalone, with replicas, or a cluster)."""

    def event_applied(self, event_id: str) -> bool:
        """True when this event id was marked applied (under this key or a former one)."""
        for key in (self._names, *self._old_names):
            if self._run(lambda r, n: r.exists(n), self._event_name(event_id, key)):
                return True
        return False

    def claim_event(self, event_id: str) -> bool:
        """Mark this event id applied; True the first time."""
        name = self._event_name(event_id)
        for key in self._old_names:  # claimed before a rotation: claimed
            if self._run(lambda r, o: r.exists(o), self._event_name(event_id, key)):
                return False
        return bool(self._run(lambda r: r.set(name, b"1", nx=True, ex=EVENT_MEMORY_SECONDS)))

    def release_event(self, event_id: str) -> None:
        """Forget a claim, so that a redelivery applies the event."""
        self._run(lambda r: r.delete(self._event_name(event_id)))

    def get_value(self, name: str) -> str | None:
        """A named value, or None."""
        for key in (self._names, *self._old_names):
            value = cast(
                "bytes | None", self._run(lambda r, k: r.get(self._value_name(name, k)), key)
            )
            if value is not None:
                return value.decode()
        return None

    def set_value(self, name: str, value: str, seconds: float = EVENT_MEMORY_SECONDS) -> None:
        """Keep a named value for `seconds`."""
        ms = max(1, math.ceil(seconds * 1000))
        self._run(lambda r: r.set(self._value_name(name), value.encode(), px=ms))

    def pop_value(self, name: str) -> str | None:
        """Remove a named value and return it."""
        for key in (self._names, *self._old_names):
            value = cast(
                "bytes | None", self._run(lambda r, k: r.getdel(self._value_name(name, k)), key)
            )
            if value is not None:
                return value.decode()
        return None

    def lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew a lease; False while another owner holds it."""
        script = self._link.script(_LEASE)
        ms = max(1, math.ceil(seconds * 1000))
        key = self._value_name("lease:" + name)
        return bool(self._run(lambda r: script(keys=[key], args=[owner, ms], client=r)))

    # -- helpers ---------------------------------------------------------------------------

    def _event_name(self, event_id: str, key: bytes | None = None) -> str:
        return f"{self._prefix}:ev:{mac(key or self._names, 'e', event_id)}"

    def _value_name(self, name: str, key: bytes | None = None) -> str:
        return f"{self._prefix}:v:{mac(key or self._names, 'v', name)}"
