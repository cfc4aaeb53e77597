"""Run wrk with bench/rotate.lua and read its totals; CPU time of wrk and of the service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

LUA = Path(__file__).with_name("rotate.lua")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class WrkRun:
    """Totals of one wrk run, plus CPU seconds used meanwhile."""

    path: str
    connections: int
    requests: int
    duration_s: float
    non2xx: int
    last_bad_status: int
    socket_errors: int  # connect + read + write + timeout
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wrk_cpu_s: float
    service_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    def as_dict(self) -> dict:
        return {**asdict(self), "rps": round(self.rps, 1), "errors": self.errors}


def wrk_binary() -> str:
    """The wrk executable, or a RuntimeError that says how to install it."""
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is missing: apt-get install wrk (make bench installs it)")
    return found


def process_tree_cpu(pid: int) -> float:
    """User+system CPU seconds of pid and its direct children (a gunicorn master's workers)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After the ")" that ends comm: state=0, ppid=1, ..., utime=11, stime=12.
        if int(entry) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def run_wrk(
    base_url: str,
    path: str,
    cookie_file: Path | None = None,
    *,
    threads: int = 1,
    connections: int = 16,
    seconds: float = 5,
    timeout_s: float = 2,
    service_pids: tuple[int, ...] = (),
) -> WrkRun:
    """One wrk run of GET path with X-CSRF: 1 and rotating cookies; raises if wrk fails."""
    argv = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(LUA),
        base_url,
        "--",
        path,
        str(cookie_file) if cookie_file else "",
    ]
    service_before = sum(process_tree_cpu(pid) for pid in service_pids)
    before = os.times()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    after = os.times()
    service_cpu = sum(process_tree_cpu(pid) for pid in service_pids) - service_before
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return WrkRun(
        path=path,
        connections=connections,
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        non2xx=raw["non2xx"],
        last_bad_status=raw["last_bad_status"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        wrk_cpu_s=(after.children_user - before.children_user)
        + (after.children_system - before.children_system),
        service_cpu_s=service_cpu,
    )
