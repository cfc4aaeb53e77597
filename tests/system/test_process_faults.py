"""Process faults under load: a gunicorn worker SIGKILLed, and a graceful restart (SIGHUP).

A pool of client threads keeps calling the token route (signed-in sessions whose tokens
expire every two seconds, so some requests wait on WorkOS) and /healthz, each request on a
fresh connection, while the master or one worker gets a signal. Worker pids are the master's
live children, read from /proc.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from devstack.stack import sign_in_over_http, start_service
from tests.seed_names import ALICE

WORKERS = 2
CLIENTS = 12
SESSIONS = 6
SETTINGS = dict(
    WEB_CONCURRENCY=WORKERS,
    GUNICORN_THREADS=8,
    WORKOS_TIMEOUT_SECONDS=2,
    TOKEN_RATE_LIMIT="100000/minute",
    TOKEN_REFRESH_MARGIN_SECONDS=1,  # with 2 s tokens: a fresh mint every second or so
)


@dataclass(frozen=True)
class Outcome:
    route: str
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all
    error: str | None = None


class Load:
    """Client threads calling the service until stopped; every call's outcome is kept."""

    def __init__(self, url: str, cookies: list[dict[str, str]], clients: int = CLIENTS):
        self.url = url
        self.cookies = cookies
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, n: int) -> None:
        calls = 0
        while not self._stop.is_set():
            calls += 1
            if calls % 3:
                cookies = self.cookies[(n + calls) % len(self.cookies)]
                self._call("/api/graphql-token", cookies)
            else:
                self._call("/healthz", {})

    def _call(self, route: str, cookies: dict[str, str]) -> None:
        # A fresh connection per call: a failure then belongs to exactly one request.
        headers = {"X-CSRF": "1", "Connection": "close"}
        started = time.monotonic()
        try:
            response = requests.get(self.url + route, headers=headers, cookies=cookies, timeout=15)
            outcome = Outcome(route, started, time.monotonic(), response.status_code)
        except requests.RequestException as exc:
            outcome = Outcome(route, started, time.monotonic(), None, type(exc).__name__)
        with self._lock:
            self.outcomes.append(outcome)

    def count(self) -> int:
        with self._lock:
            return len(self.outcomes)

    def run_for(self, seconds: float, at_least: int = 20) -> None:
        """Let the load run for a while, and until at least a few more calls completed."""
        target = self.count() + at_least
        deadline = time.monotonic() + seconds
        hard_stop = deadline + 20
        while time.monotonic() < deadline or (
            self.count() < target and time.monotonic() < hard_stop
        ):
            time.sleep(0.05)


def workers(master: int) -> set[int]:
    """Pids of the master's live (not zombie) child processes."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == master and state not in ("Z", "X"):
            found.add(int(entry))
    return found


def wait_workers(master: int, predicate, timeout: float = 20.0) -> set[int]:
    """The master's workers once predicate(pids) holds; fails after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pids = workers(master)
        if predicate(pids):
            return pids
        if time.monotonic() > deadline:
            pytest.fail(f"workers of {master} are {sorted(pids)} after {timeout}s")
        time.sleep(0.05)


def accepted_connections(pid: int, port: int) -> int:
    """Client connections a worker holds on the service port (the requests it has in flight)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            # 0A is LISTEN: the shared listening socket is not a request.
            if inode in inodes and int(local.rsplit(":", 1)[1], 16) == port and state != "0A":
                count += 1
    return count


@pytest.fixture
def loaded_service(tmp_path, upstream):
    """gunicorn with WORKERS booted workers and SESSIONS signed-in sessions' cookies."""
    upstream.set_token_ttl(2)
    upstream.set_latency(50)
    proc, url = start_service(tmp_path, upstream.url, **SETTINGS)
    try:
        wait_workers(proc.pid, lambda pids: len(pids) == WORKERS)
        cookies = [sign_in_over_http(url, ALICE).cookies.get_dict() for _ in range(SESSIONS)]
        yield proc, url, cookies
    finally:
        proc.stop()
    assert "Traceback" not in proc.output(), proc.output()[-5000:]


def summary(outcomes: list[Outcome]) -> Counter:
    return Counter(o.status if o.status is not None else o.error for o in outcomes)


def test_sigkilled_worker_is_replaced_and_only_its_requests_fail(loaded_service):
    proc, url, cookies = loaded_service
    port = int(url.rsplit(":", 1)[1])
    before = workers(proc.pid)
    victim = min(before)
    with Load(url, cookies) as load:
        load.run_for(1.5)
        # Frozen first, so that the count of its connections is exact when it dies.
        os.kill(victim, signal.SIGSTOP)
        in_flight = accepted_connections(victim, port)
        killed_from = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        after = wait_workers(proc.pid, lambda pids: len(pids) == WORKERS and victim not in pids)
        replaced_at = time.monotonic()
        load.run_for(1.0)
    outcomes = load.outcomes
    statuses = summary(outcomes)
    failed = [o for o in outcomes if o.status is None]
    print(
        f"SIGKILL worker {victim}: {len(outcomes)} requests, {statuses}, "
        f"{in_flight} in flight on it, {len(failed)} connection errors, "
        f"replaced by {sorted(after - before)} in {replaced_at - killed_at:.2f}s"
    )

    assert 500 not in statuses
    assert {s for s in statuses if isinstance(s, int)} == {200}, statuses
    assert len(failed) <= in_flight, (failed, in_flight)
    # Every failure was a request already sent when the worker died.
    assert all(o.started < killed_at and o.ended >= killed_from for o in failed), failed
    assert after - before and victim not in after and len(after) == WORKERS
    # The replacement serves: the tail of the load ran on both workers without a failure.
    assert all(o.status == 200 for o in outcomes if o.started > replaced_at + 0.5)


def test_graceful_restart_on_hup_drops_no_request(loaded_service):
    proc, url, cookies = loaded_service
    before = workers(proc.pid)
    with Load(url, cookies) as load:
        load.run_for(1.5)
        hup_at = time.monotonic()
        proc.signal(signal.SIGHUP)
        # New workers up, every old one gone (they finish their requests first).
        after = wait_workers(
            proc.pid, lambda pids: len(pids) == WORKERS and not pids & before, timeout=40
        )
        restarted_in = time.monotonic() - hup_at
        load.run_for(1.0)
    outcomes = load.outcomes
    statuses = summary(outcomes)
    during = [o for o in outcomes if o.ended >= hup_at and o.started <= hup_at + restarted_in]
    print(
        f"SIGHUP: {len(outcomes)} requests ({len(during)} during the restart), {statuses}, "
        f"workers {sorted(before)} -> {sorted(after)} in {restarted_in:.2f}s"
    )

    assert statuses == Counter({200: len(outcomes)}), statuses
    assert during, "no request overlapped the restart"
    assert len(after) == WORKERS and not after & before
