"""RedisLink: the one Redis client of a process, its timeouts, and whether Redis answers.

Every Redis user (token store, session store, rate limits) goes through one link, so one place
decides the client kind (one Redis, or a cluster for `redis+cluster://`), the timeouts, how an
outage is noticed and when it ends, and the degraded metric (`on_state_change`). What a caller
does while Redis is down is its own policy: `run(op, skip_while_down=True)` answers RedisDown
at once between retries (the token store and rate limits then use process memory), while a
plain `run(op)` always tries (the session store fails closed, one request at a time).

Outage: any redis-py error marks the link down (a WARNING at once, then at most one per
`retry_interval`, `on_state_change(True)`). Only a probe ends it: the first call after each
`retry_interval` pings Redis first (every node of a cluster), and a ping that succeeds marks
the link up (logged, `on_state_change(False)`). A call that succeeds on a healthy node of a
cluster with a node down therefore does not end the outage.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeAlias, TypedDict, TypeVar
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import LockError, RedisClusterException, RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)
T = TypeVar("T")

SOCKET_TIMEOUT = 0.25  # a Redis that does not answer must not hold up a request
RETRY_INTERVAL = 5.0  # seconds between probes while Redis is down
SCHEMES = ("redis", "rediss", "unix")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
# What redis-py raises when Redis (or a cluster node, or the cluster's slot map) fails.
FAILURES = (RedisError, RedisClusterException)
# The client a link hands its callers: one Redis, or a cluster (redis+cluster://).
Client: TypeAlias = redis.Redis | RedisCluster


def ping_every_node(client: Client) -> None:
    """PING Redis, or every node of a cluster (a cluster client's own ping asks only its
    default node, so a stopped node would pass for healthy); raises what redis-py raises."""
    if isinstance(client, RedisCluster):
        client.ping(target_nodes=RedisCluster.ALL_NODES)
    else:
        client.ping()


class ClusterOptions(TypedDict, total=False):
    """The client options a redis+cluster:// URL carries."""

    ssl: bool
    username: str | None
    password: str | None


class RedisDown(Exception):
    """Redis did not answer, or is down and not due for a retry (the cause, if any, is set)."""


def cluster_nodes(url: str) -> tuple[list[tuple[str, int]], ClusterOptions]:
    """Startup nodes and client options of a redis+cluster:// URL; ValueError when malformed."""
    parts = urlsplit(url)
    if parts.scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a {' or '.join(CLUSTER_SCHEMES)} URL")
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("a cluster has no database number, path or query")
    auth, _, hosts = parts.netloc.rpartition("@")
    nodes = []
    for node in hosts.split(","):
        host, _, port = node.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{node!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    options: ClusterOptions = {"ssl": parts.scheme == "rediss+cluster"}
    if auth:
        username, _, password = auth.partition(":")
        options["username"] = unquote(username) or None
        options["password"] = unquote(password) or None
    return nodes, options


def check_url(url: str) -> None:
    """ValueError with the reason when url is not a Redis URL this service can use."""
    scheme = urlsplit(url).scheme
    if scheme in CLUSTER_SCHEMES:
        cluster_nodes(url)
    elif scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}")


class RedisLink:
    """A lazily made client per process, and the up/down state its callers share."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "redis",
        socket_timeout: float = SOCKET_TIMEOUT,
        retry_interval: float = RETRY_INTERVAL,
        on_state_change: Callable[[bool], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if retry_interval <= 0:
            raise ValueError("retry_interval must be > 0")
        check_url(url)
        self._url = url
        self._name = name
        self._socket_timeout = socket_timeout
        self._retry_interval = retry_interval
        self._listeners = [on_state_change] if on_state_change is not None else []
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._client: Client | None = None
        self._scripts: dict[str, Script] = {}
        self._down_since: float | None = None  # monotonic; None while Redis answers
        self._retry_at = 0.0
        self._warned_at = 0.0

    @property
    def cluster(self) -> bool:
        """True for a redis+cluster:// URL (RedisCluster, hash-tagged multi-key operations)."""
        return urlsplit(self._url).scheme in CLUSTER_SCHEMES

    @property
    def client(self) -> Client:
        """This process's client (gunicorn forks workers: each gets a pool of its own)."""
        with self._lock:
            if self._pid != os.getpid():
                self._client = self._connect()
                self._scripts = {}
                self._pid = os.getpid()
            assert self._client is not None
            return self._client

    def script(self, source: str) -> Script:
        """A Lua script registered on this process's client (call it with client=...)."""
        client = self.client
        with self._lock:
            held = self._scripts.get(source)
            if held is None:
                held = self._scripts[source] = client.register_script(source)
            return held

    def run(self, op: Callable[[Client], T], *, skip_while_down: bool = False) -> T:
        """op(client); RedisDown when Redis fails (noting the outage), or at once while down
        and no probe is due when skip_while_down."""
        if self._down_since is not None:
            if self._probe_due():
                self._probe()
            elif skip_while_down:
                raise RedisDown(f"{self._name}: down, next try within {self._retry_interval:g}s")
        try:
            return op(self.client)
        except LockError:
            raise  # about a lock's owner, not about Redis
        except FAILURES as exc:
            self._went_down(exc)
            raise RedisDown(f"{self._name}: {type(exc).__name__}") from exc

    @property
    def down(self) -> bool:
        """True from a failed call until a probe succeeds."""
        return self._down_since is not None

    def subscribe(self, listener: Callable[[bool], object]) -> None:
        """Call listener(down) when the link goes down or comes back."""
        self._listeners.append(listener)

    def close(self) -> None:
        """Close this process's connections (tests; a worker simply exits)."""
        with self._lock:
            client, self._client, self._pid = self._client, None, None
        if client is not None:
            client.close()

    def _connect(self) -> Client:
        if not self.cluster:
            return redis.Redis.from_url(
                self._url,
                health_check_interval=15,
                # One immediate retry replaces a connection Redis closed (a restart); more
                # would only stretch an outage's first requests.
                retry=Retry(NoBackoff(), 1),
                socket_timeout=self._socket_timeout,
                socket_connect_timeout=self._socket_timeout,
            )
        nodes, options = cluster_nodes(self._url)
        # Connects (reads the slot map) now: a cluster that does not answer raises here, and
        # run() counts it as an outage like any other.
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],
            # One retry after a node fails: it re-reads the slot map (a failover moves slots).
            retry=Retry(NoBackoff(), 1),
            socket_timeout=self._socket_timeout,
            socket_connect_timeout=self._socket_timeout,
            **options,
        )

    def _probe_due(self) -> bool:
        with self._lock:
            now = self._monotonic()
            if self._down_since is None or now < self._retry_at:
                return False
            self._retry_at = now + self._retry_interval  # this call is the probe
            return True

    def _probe(self) -> None:
        try:
            ping_every_node(self.client)
        except FAILURES as exc:
            self._went_down(exc)
            raise RedisDown(f"{self._name}: {type(exc).__name__}") from exc
        self._came_back()

    def _went_down(self, error: BaseException) -> None:
        with self._lock:
            now = self._monotonic()
            first = self._down_since is None
            if first:
                self._down_since = now
                self._retry_at = now + self._retry_interval
            warn = first or now - self._warned_at >= self._retry_interval
            if warn:
                self._warned_at = now
        if warn:
            log.warning(
                "%s: Redis unreachable (%s: %s); tokens and rate limits from process memory, "
                "sessions fail closed; retrying every %gs",
                self._name,
                type(error).__name__,
                error,
                self._retry_interval,
            )
        if first:
            self._notify(True)

    def _came_back(self) -> None:
        with self._lock:
            if self._down_since is None:
                return
            seconds = self._monotonic() - self._down_since
            self._down_since = None
        log.warning("%s: Redis reachable again after %.1fs", self._name, seconds)
        self._notify(False)

    def _notify(self, down: bool) -> None:
        for listener in self._listeners:
            try:
                listener(down)
            except Exception:
                log.exception("%s: on_state_change(%s) failed", self._name, down)
