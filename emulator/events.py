"""WorkOS events: the event log behind `GET /events`, webhook endpoints and signed deliveries.

Every event is recorded and POSTed to each enabled endpoint subscribed to its type, with
`WorkOS-Signature: t=<ms>, v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
(docs/workos.md#webhook-deliveries).
Deliveries run on one lazily started daemon thread per endpoint, so a request that fires an
event never waits for a receiver, and one endpoint's events arrive in order. A failed attempt
(connection error, timeout, non-2xx) is retried after each of `retry_delays`, then dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests

from emulator.basics import LOG_LIMIT, iso, new_id

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)  # seconds before attempts 2..5
DELIVERY_TIMEOUT = 5.0  # per attempt, like the official emulator
IDLE_SECONDS = 30.0  # a delivery thread with nothing to send for this long ends
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # in ASCII order, so ids sort as strings

_id_lock = threading.Lock()
_last_id = [0, 0]  # (milliseconds, random part) of the newest event id in this process


def new_event_id(now: float) -> str:
    """`event_` + 26 Crockford base-32 chars: 48-bit ms time, then an 80-bit random part.

    Like a monotonic ULID: within one millisecond (or if the clock steps back) the random
    part of the previous id is incremented, so ids sort in creation order in this process.
    """
    with _id_lock:
        ms, rand = int(now * 1000), secrets.randbits(80)
        if ms <= _last_id[0]:
            ms, rand = _last_id[0], _last_id[1] + 1
            if rand >= 1 << 80:
                ms, rand = ms + 1, 0
        _last_id[:] = [ms, rand]
    return f"event_{_base32(ms, 10)}{_base32(rand, 16)}"


def _base32(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, r = divmod(n, 32)
        chars.append(CROCKFORD[r])
    return "".join(reversed(chars))


def parse_time(value: str) -> float:
    """An ISO-8601 timestamp (`Z` or offset; a naive one is UTC) as epoch seconds."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass
class Event:
    """One recorded event; `at` (epoch seconds) and `organization_id` serve the filters."""

    id: str
    event: str
    data: dict
    created_at: str
    at: float
    organization_id: str | None

    def to_json(self) -> dict:
        """The Events API object."""
        return {
            "object": "event",
            "id": self.id,
            "event": self.event,
            "data": self.data,
            "created_at": self.created_at,
        }

    def body(self) -> bytes:
        """The webhook body: the envelope without `object`, as WorkOS posts it."""
        envelope = {k: v for k, v in self.to_json().items() if k != "object"}
        return json.dumps(envelope, separators=(",", ":")).encode()


@dataclass
class Endpoint:
    """A webhook endpoint; empty `events` means every event type."""

    id: str
    endpoint_url: str
    secret: str
    events: list[str] = field(default_factory=list)
    enabled: bool = True
    created_at: str = ""
    updated_at: str = ""

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint gets events of that type."""
        return self.enabled and (not self.events or event_type in self.events)

    def to_json(self) -> dict:
        """The webhook_endpoint object, secret included (WorkOS lists it too)."""
        return {
            "object": "webhook_endpoint",
            "id": self.id,
            "endpoint_url": self.endpoint_url,
            "secret": self.secret,
            "status": "enabled" if self.enabled else "disabled",
            "events": list(self.events),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def new_secret() -> str:
    """A fresh endpoint secret, `whsec_`-style like the official emulator's."""
    return "whsec_" + secrets.token_urlsafe(24)


def signature(secret: str, timestamp_ms: int, body: bytes) -> str:
    """The `WorkOS-Signature` header value for body, issued at timestamp_ms."""
    message = str(timestamp_ms).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp_ms}, v1={digest}"


class EventHub:
    """The event log, the endpoints and their delivery threads of one emulator state.

    The log and endpoints are guarded by the state's lock (`lock`); delivery threads touch
    only the hub's own `_lock`, so a slow receiver never holds up a route.
    """

    def __init__(self, clock: Callable[[], float], lock: threading.RLock):
        self.clock = clock
        self.lock = lock
        self.log: deque[Event] = deque(maxlen=LOG_LIMIT)
        self.endpoints: dict[str, Endpoint] = {}
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        self.timeout = DELIVERY_TIMEOUT
        self.attempts: deque[dict] = deque(maxlen=LOG_LIMIT)
        self._lock = threading.Lock()
        self._queues: dict[str, queue.Queue] = {}
        self._closed = threading.Event()

    def emit(self, event_type: str, data: dict, organization_id: str | None = None) -> Event:
        """Record an event and queue its delivery to every subscribed endpoint."""
        with self.lock:
            now = self.clock()
            event = Event(new_event_id(now), event_type, data, iso(now), now, organization_id)
            self.log.append(event)
            # Queued under the state's lock, so each endpoint's queue follows the log's order.
            for endpoint in self.endpoints.values():
                if endpoint.wants(event_type):
                    self._enqueue(endpoint, event)
        return event

    def add_endpoint(
        self, url: str, secret: str | None, events: list[str], enabled: bool = True
    ) -> Endpoint:
        """Register a webhook endpoint; without a secret, one is made up (as WorkOS does)."""
        secret = secret or new_secret()
        with self.lock:
            stamp = iso(self.clock())
            endpoint = Endpoint(new_id("we"), url, secret, list(events), enabled, stamp, stamp)
            self.endpoints[endpoint.id] = endpoint
        return endpoint

    def remove_endpoint(self, endpoint_id: str) -> bool:
        """Forget an endpoint; deliveries still queued for it are dropped."""
        with self.lock:
            endpoint = self.endpoints.pop(endpoint_id, None)
        if endpoint is not None:
            endpoint.enabled = False  # the delivery thread checks this before each attempt
        return endpoint is not None

    def deliveries(self) -> list[dict]:
        """Every delivery attempt so far, oldest first."""
        with self._lock:
            return list(self.attempts)

    def close(self) -> None:
        """Stop every delivery thread (after its current attempt); used by reset."""
        self._closed.set()
        with self._lock:
            for q in self._queues.values():
                q.put(None)
            self._queues.clear()

    def _enqueue(self, endpoint: Endpoint, event: Event) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            q = self._queues.get(endpoint.id)
            if q is None:
                q = self._queues[endpoint.id] = queue.Queue()
                threading.Thread(
                    target=self._worker,
                    args=(endpoint, q),
                    name=f"webhooks-{endpoint.id}",
                    daemon=True,
                ).start()
            q.put(event)

    def _worker(self, endpoint: Endpoint, q: queue.Queue) -> None:
        """Deliver endpoint's events one at a time, in order, until idle or closed."""
        http = requests.Session()
        try:
            while True:
                try:
                    event = q.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    with self._lock:  # _enqueue puts under this lock: no event is lost
                        if q.empty():
                            if self._queues.get(endpoint.id) is q:
                                del self._queues[endpoint.id]
                            return
                    continue
                if event is None:
                    return
                self._deliver(http, endpoint, event)
        finally:
            http.close()

    def _deliver(self, http: requests.Session, endpoint: Endpoint, event: Event) -> None:
        body = event.body()
        for attempt, delay in enumerate((*self.retry_delays, None), start=1):
            if self._closed.is_set() or not endpoint.enabled:
                return
            # Signed per attempt: a late retry still carries a fresh timestamp.
            t = int(self.clock() * 1000)
            headers = {
                "Content-Type": "application/json",
                "WorkOS-Signature": signature(endpoint.secret, t, body),
            }
            status, problem = None, None
            try:
                response = http.post(
                    endpoint.endpoint_url, data=body, headers=headers, timeout=self.timeout
                )
                status = response.status_code
                response.close()
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}: {exc}"
            ok = status is not None and 200 <= status < 300
            self._record(event, endpoint, attempt, status, problem, ok)
            if ok or delay is None or self._closed.wait(delay):
                return

    def _record(
        self,
        event: Event,
        endpoint: Endpoint,
        attempt: int,
        status: int | None,
        problem: str | None,
        ok: bool,
    ) -> None:
        entry = {
            "event_id": event.id,
            "event": event.event,
            "endpoint_id": endpoint.id,
            "endpoint_url": endpoint.endpoint_url,
            "attempt": attempt,
            "status": status,
            "error": problem,
            "delivered": ok,
            "at": iso(self.clock()),
        }
        with self._lock:
            self.attempts.append(entry)
