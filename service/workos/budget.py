"""The WorkOS request budget: every call of the deployment, in any window, shared through Redis.

WorkOS counts requests per API key (6,000 per 60 s; docs/workos.md#rate-limits) and, once they are
spent, fails every call with that key, sign-ins included. `Budget` is the gate of
`WorkOSClient._request` (the one place every call passes):

* A sliding-window log: the calls of the last `window` seconds, each with its time. A call is
  admitted while fewer than `total` are in the log; so no span of `window` seconds ever holds
  more than `total` calls. Fixed windows let 2x through around a boundary, and a token bucket
  bursts its whole capacity on top of its refill; a log does neither.
* A reserve for the calls that sign users in (kind "signin"): the other kinds (mints,
  membership lists of switches, the Events API) are admitted only while fewer than
  `general` = total - reserve of them are in the log, so they can never spend the reserve.
* A ceiling for the sign-in calls (WORKOS_SIGNIN_CEILING_PERCENT, 50 by default): anonymous
  callers start sign-ins, so sign-ins are admitted only while fewer than `signin` of them are
  in the log, and the mints of signed-in users keep the rest.
* A WorkOS 429 pauses its kind of call (5 s without Retry-After, at most 60 s) here and, via
  Redis, on every host; calls of that kind are refused until it passes.

With Redis one Lua script per call checks the pause, trims, counts and appends atomically
(Redis's own clock: hosts' clocks do not matter). Without Redis, or while it does not answer,
each process keeps a log of its own with its share: total / WEB_CONCURRENCY (one host's
workers together stay within the budget; several hosts without Redis should divide
WORKOS_REQUEST_BUDGET by the number of hosts).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from limits import parse_many
from redis.typing import EncodableT

from service.core.keys import derive, mac
from service.core.redis_link import RedisDown, RedisLink
from service.workos.client import WorkOSRefused

log = logging.getLogger(__name__)

RESERVED_KINDS = frozenset({"signin"})
KINDS = ("signin", "mint", "memberships", "events", "keys")
DEFAULT_PAUSE = 5.0  # a 429 without Retry-After
MAX_PAUSE = 60.0
JITTER = 5.0  # a budget refusal's Retry-After is spread over this many seconds

# KEYS: log of all calls, log of general calls, log of sign-in calls, this kind's pause.
# ARGV: window ms, total, general cap, sign-in cap, member, rank (0 to 1: which of the full
# log's calls this refusal waits for), 1 for a sign-in call (else 0).
# Answers {0, pause ms left} | {1, ms until room, all, general, signin} | {2, 0, all, ...}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, total = tonumber(ARGV[1]), tonumber(ARGV[2])
local signin = ARGV[7] == '1'
local paused = redis.call('PTTL', KEYS[4])
if paused > 0 then return {0, paused, -1, -1, -1} end
local counts = {}
for i = 1, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  counts[i] = redis.call('ZCARD', KEYS[i])
end
-- A sign-in counts in its own log, any other kind in the general one.
local own, cap = 2, tonumber(ARGV[3])
if signin then own, cap = 3, tonumber(ARGV[4]) end
local full = nil
if counts[1] >= total then full = 1 elseif counts[own] >= cap then full = own end
if full then
  local rank = math.floor(tonumber(ARGV[6]) * counts[full])
  local frees = redis.call('ZRANGE', KEYS[full], rank, rank, 'WITHSCORES')
  return {1, tonumber(frees[2]) + window - now, counts[1], counts[2], counts[3]}
end
for _, i in ipairs({1, own}) do
  redis.call('ZADD', KEYS[i], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], window)
  counts[i] = counts[i] + 1
end
return {2, 0, counts[1], counts[2], counts[3]}
"""
# KEYS: the kind's pause; ARGV: ms. A shorter pause never cuts a longer one short.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


# Read only: KEYS the all, general and sign-in logs, then every kind's pause; ARGV: window
# ms. Answers {calls in each log in the window..., pause ms left of each kind...}.
_SHOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local since = '(' .. (now - tonumber(ARGV[1]))
local out = {}
for i = 1, 3 do out[i] = redis.call('ZCOUNT', KEYS[i], since, '+inf') end
for i = 4, #KEYS do out[#out + 1] = math.max(0, redis.call('PTTL', KEYS[i])) end
return out
"""
# (code, wait, calls in the log, general calls, sign-in calls): 0 paused, 1 full, 2 admitted.
_Outcome = tuple[int, float, int, int, int]

# The longest a call takes from admission to WorkOS (timeouts aside); at most 1/20 of a window.
TRANSIT_SECONDS = 2.0


class SlidingLog:
    """Times of the calls of the last `window` seconds, in process memory."""

    def __init__(self, window: float):
        self.window = window
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        """Calls in (now - window, now]."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return len(self._times)

    def wait(self, now: float, rank: float = 0.0) -> float:
        """Seconds until a call leaves the window: the oldest at rank 0, the newest near 1."""
        if not self._times:
            return 0.0
        index = min(len(self._times) - 1, int(rank * len(self._times)))
        return self._times[index] + self.window - now

    def add(self, now: float) -> None:
        self._times.append(now)


class Budget:
    """The gate of WorkOSClient: admits a call by kind, or raises WorkOSRefused."""

    def __init__(
        self,
        limit: str,
        reserve_percent: int,
        *,
        signin_percent: int = 100,
        link: RedisLink | None = None,
        secret_key: str = "",
        processes: int = 1,
        observer: Callable[..., object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ):
        item = parse_many(limit)[0]
        # Counted a little longer than WorkOS's window: a call admitted here reaches WorkOS a
        # moment later (its latency, a retry's pause), so by WorkOS's clock it must still fall
        # in the window it was admitted in. Measured by bench surge: with the bare 60 s, 326
        # mints reached the emulator in some 60 s against a share of 320.
        length = float(item.get_expiry())
        self.length = length
        self.window = length + min(TRANSIT_SECONDS, length / 20)
        self.total = item.amount
        self.general = self.total - self.total * reserve_percent // 100
        self.signin = max(1, self.total * signin_percent // 100)
        # Without Redis each process spends its share only.
        share = max(1, self.total // max(1, processes))
        self._local_caps = (
            share,
            share - share * reserve_percent // 100,
            max(1, share * signin_percent // 100),
        )
        self._link = link
        names = derive(secret_key, "workos-budget")
        # One hash tag: the logs and pauses sit in one Redis Cluster slot, as a script needs.
        tag = mac(names, "budget")[:32]
        self._keys = {
            "all": f"gts:wb:{{{tag}}}:a",
            "general": f"gts:wb:{{{tag}}}:g",
            "signin_log": f"gts:wb:{{{tag}}}:s",
            **{kind: f"gts:wb:{{{tag}}}:p:{mac(names, 'pause', kind)[:16]}" for kind in KINDS},
        }
        self._observer = observer
        self._clock = clock
        self._jitter = jitter
        self._lock = threading.Lock()
        self._all = SlidingLog(self.window)
        self._general_log = SlidingLog(self.window)
        self._signin_log = SlidingLog(self.window)
        self._paused: dict[str, float] = {}

    # -- the gate ----------------------------------------------------------------------------

    def admit(self, kind: str, route: str) -> None:
        """Take one call of `kind` from the budget, or raise WorkOSRefused with a Retry-After."""
        now = self._clock()
        with self._lock:
            paused = self._paused.get(kind, 0.0) - now
        if paused > 0:
            self._refuse(kind, route, "paused", paused)
        # A refusal waits for one of the full log's calls, drawn at random: the refused come
        # back spread as the budget frees, rather than all at the first free slot.
        rank = self._jitter()
        outcome = self._shared_admit(kind, rank) if self._link is not None else None
        shared = outcome
        if outcome is None:
            outcome = self._local_admit(kind, now, rank)
        code, wait, count_all, count_general, count_signin = outcome
        if code == 0:
            with self._lock:
                self._paused[kind] = max(self._paused.get(kind, 0.0), now + wait)
            self._refuse(kind, route, "paused", wait)
        caps = self._local_caps if shared is None else (self.total, self.general, self.signin)
        total, general, signin = caps
        left_all = max(0, total - count_all)
        left_signin = min(left_all, max(0, signin - count_signin))
        left_other = min(left_all, max(0, general - count_general))
        self._emit("left", kind, signin=left_signin, other=left_other)
        if code == 1:
            # And over a few seconds more: calls made in one burst all leave at one time.
            self._refuse(kind, route, "budget", wait + self._jitter() * JITTER)
        self._emit("spent", kind)

    def throttled(self, kind: str, retry_after: float | None) -> float:
        """WorkOS answered 429: pause this kind here and, through Redis, everywhere."""
        seconds = min(MAX_PAUSE, retry_after if retry_after and retry_after > 0 else DEFAULT_PAUSE)
        now = self._clock()
        with self._lock:
            self._paused[kind] = max(self._paused.get(kind, 0.0), now + seconds)
        log.warning("WorkOS answered 429: %s calls paused for %.1f s", kind, seconds)
        self._emit("throttled", kind)
        if self._link is not None:
            ms = max(1, math.ceil(seconds * 1000))
            self._run(_PAUSE, keys=[self._keys[self._kind(kind)]], args=[ms])
        return seconds

    def show(self) -> dict[str, Any]:
        """The budget as the operator sees it: limits, calls in the window, pauses by kind.

        With Redis the counts are the deployment's; without it they are this process's own
        (each worker keeps its share in memory, so a separate process sees none of them)."""
        shared = self._link is not None
        answer = None
        if shared:
            keys = [
                self._keys["all"],
                self._keys["general"],
                self._keys["signin_log"],
                *(self._keys[k] for k in KINDS),
            ]
            answer = self._run(_SHOW, keys=keys, args=[int(self.window * 1000)])
        total, general, signin = (
            (self.total, self.general, self.signin) if shared else self._local_caps
        )
        if answer is not None:
            spent, spent_general, spent_signin = (int(n) for n in answer[:3])
            paused = {kind: int(ms) / 1000 for kind, ms in zip(KINDS, answer[3:], strict=True)}
        else:
            now = self._clock()
            with self._lock:
                spent, spent_general = self._all.count(now), self._general_log.count(now)
                spent_signin = self._signin_log.count(now)
                paused = {kind: max(0.0, self._paused.get(kind, 0.0) - now) for kind in KINDS}
        left = max(0, total - spent)
        return {
            "scope": "deployment (Redis)" if answer is not None else "this process",
            "window_seconds": self.length,
            "total": total,
            "general": general,
            "signin_ceiling": signin,
            "spent": spent,
            "spent_general": spent_general,
            "spent_signin": spent_signin,
            "left_signin": min(left, max(0, signin - spent_signin)),
            "left_other": min(left, max(0, general - spent_general)),
            "paused": paused,
        }

    # -- internals ---------------------------------------------------------------------------

    def _local_admit(self, kind: str, now: float, rank: float) -> _Outcome:
        total, general, signin = self._local_caps
        # A sign-in counts in its own log against its ceiling, any other kind in the general.
        own, cap = (
            (self._signin_log, signin) if kind in RESERVED_KINDS else (self._general_log, general)
        )
        with self._lock:
            count_all = self._all.count(now)
            count_general, count_signin = self._general_log.count(now), self._signin_log.count(now)
            counts = (count_all, count_general, count_signin)
            if count_all >= total:
                return (1, self._all.wait(now, rank), *counts)
            if own.count(now) >= cap:
                return (1, own.wait(now, rank), *counts)
            self._all.add(now)
            own.add(now)
            signed = kind in RESERVED_KINDS
            return 2, 0.0, count_all + 1, count_general + (not signed), count_signin + signed

    def _shared_admit(self, kind: str, rank: float) -> _Outcome | None:
        keys = [
            self._keys["all"],
            self._keys["general"],
            self._keys["signin_log"],
            self._keys[self._kind(kind)],
        ]
        args: list[EncodableT] = [
            int(self.window * 1000),
            self.total,
            self.general,
            self.signin,
            uuid.uuid4().hex[:16],
            f"{min(max(rank, 0.0), 0.999999):.6f}",
            1 if kind in RESERVED_KINDS else 0,
        ]
        answer = self._run(_ADMIT, keys=keys, args=args)
        if answer is None:
            return None
        code, wait_ms, count_all, count_general, count_signin = (int(x) for x in answer)
        return code, wait_ms / 1000, count_all, count_general, count_signin

    def _run(self, source: str, *, keys: list[str], args: list[EncodableT]) -> Any:
        """The script's answer, or None while Redis is down (the local share is used then)."""
        assert self._link is not None
        script = self._link.script(source)
        try:
            return self._link.run(
                lambda r: script(keys=keys, args=args, client=r), skip_while_down=True
            )
        except RedisDown:
            return None  # the link logged the outage and tries again on its own

    @staticmethod
    def _kind(kind: str) -> str:
        return kind if kind in KINDS else "events"

    def _refuse(self, kind: str, route: str, reason: str, wait: float) -> None:
        self._emit("refused", kind, reason=reason)
        what = "paused after a WorkOS 429" if reason == "paused" else "over the WorkOS budget"
        refused = WorkOSRefused(
            f"WorkOS {route} not sent: {kind} calls are {what}",
            route=route,
            retry_after=max(0.001, wait),
        )
        # Our own window's times, not a wait WorkOS named: not cut at a minute, or a burst's
        # refusals (all freed about window + jitter later) would all say 60.
        refused.budget = reason == "budget"
        raise refused

    def _emit(self, event: str, kind: str, **fields: object) -> None:
        if self._observer is None:
            return
        try:
            self._observer(event, kind, **fields)
        except Exception:
            log.exception("budget observer failed on %r", event)
