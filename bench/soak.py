"""Bounded soak: many connections over many sessions while tokens expire and are re-minted.

Expected mints. A token of lifetime L (exp - iat) is served for S = L - margin seconds,
counted from the start of its mint. Under steady load a worker re-mints a session's token
at the first request after each S, so in a run of T seconds it mints at t ~ 0, S, 2S, ...:
floor(T / S) + 1 tokens per session. The in-process cache is per worker, and every worker
sees every session under this load, so:

    expected = workers x sessions x (floor(T / S) + 1)      (workers = 1 for a shared store)

Boundary effect: each cycle drifts by one mint round trip plus the wait for the next
request (milliseconds), so the k-th mint lands at k x S + drift. When T / S is close to a
whole number the last mint falls on either side of the end of the run: +-1 per session per
worker. L and T are chosen so that T / S sits mid-way between whole numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.report import Row
from bench.stack import HIGH_RATE_LIMIT, TOKEN_ROUTE, Stack, mints_per_user
from bench.wrk import WrkRun, run_wrk


def expected_mints(workers: int, sessions: int, seconds: float, served: float) -> int:
    """workers x sessions x (floor(T / S) + 1); see the module docstring."""
    return workers * sessions * (math.floor(seconds / served) + 1)


def soak(
    *,
    seconds: float,
    connections: int,
    sessions: int,
    token_ttl: int,
    margin: int,
    workers: int,
    threads: int = 8,
    name: str = "soak",
    tmp: Path | None = None,
) -> dict:
    """One soak run on a fresh stack; raw figures, including the expected mint count."""
    with Stack(name, tmp) as stack:
        upstream = stack.emulator(sessions, "--client-token-ttl", str(token_ttl))
        url = stack.service(
            upstream.url,
            WEB_CONCURRENCY=workers,
            GUNICORN_THREADS=threads,
            TOKEN_REFRESH_MARGIN_SECONDS=margin,
            TOKEN_RATE_LIMIT=HIGH_RATE_LIMIT,
        )
        cookies: Path = stack.cookie_file(stack.sign_in(url, sessions))
        upstream.clear_log()
        result: WrkRun = run_wrk(
            url,
            TOKEN_ROUTE,
            cookies,
            connections=connections,
            seconds=seconds,
            service_pids=(stack.masters[url].pid,),
        )
        per_session = mints_per_user(upstream)
    served = token_ttl - margin
    return {
        "seconds": seconds,
        "measured_seconds": result.duration_s,
        "connections": connections,
        "sessions": sessions,
        "workers": workers,
        "threads": threads,
        "token_ttl": token_ttl,
        "margin": margin,
        "served_seconds": served,
        "formula": "workers x sessions x (floor(T / S) + 1), S = ttl - margin",
        "expected_mints": expected_mints(workers, sessions, result.duration_s, served),
        "mints": sum(per_session.values()),
        "mints_per_session": sorted(per_session.values()),
        "sessions_minted": len(per_session),
        "wrk": result.as_dict(),
    }


def run() -> tuple[list[Row], dict]:
    """60 s, 200 connections over 50 sessions, tokens served 16 s: 4 mints per session/worker."""
    raw = soak(seconds=60, connections=200, sessions=50, token_ttl=21, margin=5, workers=2)
    wrk = raw["wrk"]
    ratio = raw["mints"] / raw["expected_mints"]
    spread = raw["mints_per_session"] or [0]
    rows = [
        Row(
            "soak 60 s, 200 conns / 50 sessions: errors (non-2xx + socket)",
            f"{wrk['errors']} ({wrk['non2xx']} non-2xx, {wrk['socket_errors']} socket) "
            f"of {wrk['requests']} requests, {wrk['rps']:.0f} rps",
            "0",
            wrk["errors"] == 0,
        ),
        Row(
            "soak mints / expected (2 workers x 50 x (floor(T/S)+1), S = 21-5 = 16 s)",
            f"{raw['mints']} / {raw['expected_mints']} = {ratio:.2f}; "
            f"per session {min(spread)}..{max(spread)}",
            "1.00",
            raw["mints"] == raw["expected_mints"],
        ),
    ]
    return rows, raw
