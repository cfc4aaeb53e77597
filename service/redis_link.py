"""RedisLink: one process's Redis client, made after a fork, and whether Redis answers."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)
T = TypeVar("T")

SOCKET_TIMEOUT = 0.25  # a Redis that does not answer must not hold up a request
WARN_INTERVAL = 5.0


class RedisDown(Exception):
    """Redis did not answer (the redis-py error is the cause)."""


class RedisLink:
    """A lazily made client per process, and the up/down state its callers share."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "redis",
        socket_timeout: float = SOCKET_TIMEOUT,
        on_state_change: Callable[[bool], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._url = url
        self._name = name
        self._socket_timeout = socket_timeout
        self._on_state_change = on_state_change
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._client: redis.Redis | None = None
        self._down = False
        self._warned_at = -WARN_INTERVAL

    @property
    def client(self) -> redis.Redis:
        """This process's client (gunicorn forks workers: each gets a pool of its own)."""
        with self._lock:
            if self._pid != os.getpid():
                self._client = redis.Redis.from_url(
                    self._url,
                    socket_timeout=self._socket_timeout,
                    socket_connect_timeout=self._socket_timeout,
                    health_check_interval=15,
                    # One immediate retry replaces a connection Redis closed (a restart).
                    retry=Retry(NoBackoff(), 1),
                )
                self._pid = os.getpid()
            assert self._client is not None
            return self._client

    def run(self, op: Callable[[redis.Redis], T]) -> T:
        """op(client); RedisDown when Redis fails, after noting the outage."""
        try:
            result = op(self.client)
        except RedisError as exc:
            self._went_down(exc)
            raise RedisDown(f"{self._name}: {type(exc).__name__}") from exc
        if self._down:
            self._came_back()
        return result

    @property
    def down(self) -> bool:
        """True from a failed call until the next one that succeeds."""
        return self._down

    def close(self) -> None:
        """Close this process's connections (tests; a worker simply exits)."""
        with self._lock:
            client, self._client, self._pid = self._client, None, None
        if client is not None:
            client.close()

    def _went_down(self, error: RedisError) -> None:
        with self._lock:
            first, self._down = not self._down, True
            now = self._monotonic()
            warn = first or now - self._warned_at >= WARN_INTERVAL
            if warn:
                self._warned_at = now
        if warn:
            log.warning("%s: Redis unreachable (%s)", self._name, type(error).__name__)
        if first:
            self._notify(True)

    def _came_back(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.warning("%s: Redis reachable again", self._name)
        self._notify(False)

    def _notify(self, down: bool) -> None:
        if self._on_state_change is not None:
            try:
                self._on_state_change(down)
            except Exception:
                log.exception("%s: on_state_change(%s) failed", self._name, down)
