"""The processes a benchmark runs against (devstack/stack.py), each stopped when it closes."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests

from devstack.control_client import EmulatorControl
from devstack.stack import Process, sign_in_over_http, start_emulator, start_redis, start_service

ORG = "org_bench"
HIGH_RATE_LIMIT = "100000000/minute"
TOKEN_ROUTE = "/api/graphql-token"

# The services the bench starts protect /metrics and /readyz's details, as a deployment should.
METRICS_TOKEN = "bench-metrics-token-0123456789"
OPS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def bench_user(n: int) -> tuple[str, str]:
    """(user id, email) of the n-th seeded bench user."""
    return f"user_bench_{n:04d}", f"bench{n:04d}@bench.test"


def write_seed(path: Path, users: int) -> Path:
    """A seed with `users` users, each an active member of one organization only.

    One user per session makes the emulator's request log tell sessions apart (the mint
    body names the user), so mints can be counted per cache key.
    """
    seed = {
        "organizations": [{"id": ORG, "name": "Bench Org"}],
        "users": [{"id": bench_user(n)[0], "email": bench_user(n)[1]} for n in range(users)],
        "memberships": [
            {"user_id": bench_user(n)[0], "organization_id": ORG, "role": "member"}
            for n in range(users)
        ],
    }
    path.write_text(json.dumps(seed))
    return path


class Stack:
    """A temporary directory and the processes started in it; use as a context manager."""

    def __init__(self, name: str, tmp: Path | None = None):
        self.name = name
        # A caller's directory (a test's tmp_path) is kept: the run's secrets check reads it.
        self._owned = tmp is None
        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-")) if tmp is None else tmp
        self._exit = ExitStack()
        self.masters: dict[str, Process] = {}  # gunicorn master by base URL

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._exit.close()
        if exc_type is None:
            if self._owned:
                shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"bench: logs of the failed {self.name} run kept in {self.tmp}", file=sys.stderr)

    def emulator(self, users: int, *args: str) -> EmulatorControl:
        """`python -m emulator` with `users` bench users; returns its control."""
        seed = write_seed(self.tmp / f"seed-{users}.json", users)
        proc, url = start_emulator(self.tmp, "--seed", str(seed), "--quiet", *args)
        self._exit.callback(proc.stop)
        control = EmulatorControl(url)
        self._exit.callback(control.http.close)
        return control

    def service(self, emulator_url: str, **env: object) -> str:
        """The Procfile's gunicorn command with env overrides; returns its base URL."""
        # The masters of one stack share one session file, as the workers of a host would.
        proc, url = start_service(self.tmp, emulator_url, METRICS_TOKEN=METRICS_TOKEN, **env)
        self._exit.callback(proc.stop)
        self.masters[url] = proc
        return url

    def redis(self) -> str:
        """A fresh redis-server; returns its URL."""
        proc, url = start_redis(self.tmp)
        self._exit.callback(proc.stop)
        return url

    def sign_in(self, service_url: str, count: int) -> list[str]:
        """Sign bench users 0..count-1 in through AuthKit; their `gts=` cookies."""

        def one(n: int) -> str:
            http = sign_in_over_http(service_url, bench_user(n)[1])
            try:
                return f"gts={http.cookies['gts']}"
            finally:
                http.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, range(count)))

    def cookie_file(self, cookies: list[str]) -> Path:
        """The cookies one per line, for the wrk script."""
        path = self.tmp / f"cookies-{len(cookies)}-{os.urandom(3).hex()}.txt"
        path.write_text("\n".join(cookies) + "\n")
        return path


def token_store_backend(service_url: str) -> str:
    """The token store backend /readyz reports: "memory" or "redis"."""
    # Only the METRICS_TOKEN holder is told which store answers.
    body = requests.get(service_url + "/readyz", headers=OPS_HEADERS, timeout=5).json()
    store = body.get("token_store") or {}
    return str(store.get("backend", "unknown"))


def mints_per_user(control: EmulatorControl) -> dict[str, int]:
    """POST /client/token calls in the emulator's log, by the user they were for."""
    counts: dict[str, int] = {}
    for entry in control.requests_log():
        if entry.get("route") == "POST /client/token":
            user = (entry.get("body") or {}).get("user_id", "?")
            counts[user] = counts.get(user, 0) + 1
    return counts


def token_requests_by_worker(stack: Stack) -> dict[str, float]:
    """Token route answers so far per gunicorn worker pid, from the Prometheus files.

    gunicorn hands connections to whichever worker accepts first, so a burst may land on one
    worker only; this tells how many workers a burst really reached.
    """
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[str, float] = {}
    for master in stack.masters.values():
        for path in Path(master.env["PROMETHEUS_MULTIPROC_DIR"]).glob("counter_*.db"):
            values = MmapedDict(str(path), read_mode=True)
            try:
                total = sum(v for k, v, _ in values.read_all_values() if "gts_token_requests" in k)
            finally:
                values.close()
            counts[path.stem.removeprefix("counter_")] = total
    return counts
