"""Cache-hit throughput of GET /api/graphql-token against GET /healthz on one gunicorn."""

from __future__ import annotations

import os

from bench.report import Row
from bench.stack import HIGH_RATE_LIMIT, TOKEN_ROUTE, Stack
from bench.wrk import WrkRun, run_wrk

WORKERS, THREADS = 2, 8
SESSIONS = 16
CONNECTIONS = 16
ROUNDS = 3
SECONDS = 5
TARGET_RATIO = 0.9
WARMUP_RUNS = 8
CORES_TOLERANCE = 0.15


def _totals(runs: list[WrkRun]) -> dict:
    requests = sum(r.requests for r in runs)
    seconds = sum(r.duration_s for r in runs)
    return {
        "requests": requests,
        "rps": requests / seconds,
        "rps_per_round": [round(r.rps, 1) for r in runs],
        "service_cpu_ms_per_request": 1000 * sum(r.service_cpu_s for r in runs) / requests,
        "wrk_cpu_share": sum(r.wrk_cpu_s for r in runs) / seconds,
        # Below ~1.9 while wrk saturates it: other processes took the rest of the 2 cores.
        "service_cores_used": sum(r.service_cpu_s for r in runs) / seconds,
        "errors": sum(r.errors for r in runs),
        "p50_ms_per_round": [r.p50_ms for r in runs],
        "p99_ms_per_round": [r.p99_ms for r in runs],
    }


def run() -> tuple[list[Row], dict]:
    """Interleaved wrk rounds: healthz (no cookie), healthz (cookie), token (cookie)."""
    with Stack("throughput") as stack:
        upstream = stack.emulator(SESSIONS)
        url = stack.service(
            upstream.url,
            WEB_CONCURRENCY=WORKERS,
            GUNICORN_THREADS=THREADS,
            TOKEN_RATE_LIMIT=HIGH_RATE_LIMIT,
        )
        pids = (stack.masters[url].pid,)
        cookies = stack.cookie_file(stack.sign_in(url, SESSIONS))
        # Warm-up until every worker has minted and cached a token for every session: each
        # wrk run opens new connections, and gunicorn's accept race decides which worker
        # gets them, so one run may leave a worker cold.
        for _ in range(WARMUP_RUNS):
            warm = run_wrk(url, TOKEN_ROUTE, cookies, connections=CONNECTIONS, seconds=1)
            warm_mints = upstream.count()
            if warm.errors or warm_mints >= WORKERS * SESSIONS:
                break
        upstream.clear_log()
        kinds = {
            "healthz_bare": ("/healthz", None),
            "healthz": ("/healthz", cookies),
            "token": (TOKEN_ROUTE, cookies),
        }
        runs: dict[str, list[WrkRun]] = {kind: [] for kind in kinds}
        for _ in range(ROUNDS):
            for kind, (path, cookie_file) in kinds.items():
                runs[kind].append(
                    run_wrk(
                        url,
                        path,
                        cookie_file,
                        connections=CONNECTIONS,
                        seconds=SECONDS,
                        service_pids=pids,
                    )
                )
        mints_during = upstream.count()

    totals = {kind: _totals(r) for kind, r in runs.items()}
    token, healthz, bare = totals["token"], totals["healthz"], totals["healthz_bare"]
    ratio = token["rps"] / healthz["rps"]
    per_round = [t.rps / h.rps for t, h in zip(runs["token"], runs["healthz"], strict=True)]
    errors = sum(t["errors"] for t in totals.values()) + warm.errors
    raw = {
        "setup": {
            "workers": WORKERS,
            "threads": THREADS,
            "sessions": SESSIONS,
            "wrk": f"-t1 -c{CONNECTIONS} -d{SECONDS}s x {ROUNDS} rounds, interleaved",
            "token_rate_limit": HIGH_RATE_LIMIT,
            "both routes sent": "Cookie (16 sessions rotated) + X-CSRF: 1; healthz_bare: none",
        },
        "warmup": {**warm.as_dict(), "mints": warm_mints},
        "mints_during_measurement": mints_during,
        "totals": totals,
        "ratio_token_over_healthz": ratio,
        "ratio_per_round": per_round,
        "runs": {kind: [r.as_dict() for r in rs] for kind, rs in runs.items()},
    }
    cpu_ratio = healthz["service_cpu_ms_per_request"] / token["service_cpu_ms_per_request"]
    # The rps ratio compares like with like only if both routes got the same share of the
    # machine; on a shared box other processes take different shares in different runs.
    cores = token["service_cores_used"] / healthz["service_cores_used"]
    fair = abs(cores - 1) <= CORES_TOLERANCE
    raw.update(cpu_ratio=cpu_ratio, cores_token_over_healthz=cores, rps_ratio_fair=fair)
    rows = [
        Row(
            f"token cache-hit rps / healthz rps (same cookie; gunicorn {WORKERS}x{THREADS}; "
            f"TOKEN_RATE_LIMIT={HIGH_RATE_LIMIT})",
            f"{ratio:.2f} ({token['rps']:.0f} / {healthz['rps']:.0f} rps; rounds "
            + ", ".join(f"{x:.2f}" for x in per_round)
            + ")"
            + ("" if fair else f"; inconclusive: the service got {cores:.2f}x the cores"),
            f">= {TARGET_RATIO}",
            ratio >= TARGET_RATIO if fair else None,
        ),
        Row(
            "service CPU per request: token / healthz / healthz without cookie",
            f"{token['service_cpu_ms_per_request']:.2f} / "
            f"{healthz['service_cpu_ms_per_request']:.2f} / "
            f"{bare['service_cpu_ms_per_request']:.2f} ms",
        ),
        Row(
            "CPU-bound ratio: healthz CPU per request / token CPU per request",
            f"{cpu_ratio:.2f} (the rps ratio when the service has the cores to itself)",
            f">= {TARGET_RATIO}",
            cpu_ratio >= TARGET_RATIO,
        ),
        Row(
            "cores the service got while saturated: token / healthz",
            f"{token['service_cores_used']:.2f} / {healthz['service_cores_used']:.2f} of "
            f"{os.cpu_count()} (the rest: wrk and other processes on the machine)",
        ),
        Row(
            "token rps / healthz-without-cookie rps",
            f"{token['rps'] / bare['rps']:.2f} ({bare['rps']:.0f} rps bare)",
        ),
        Row(
            "throughput runs: non-2xx + socket errors; mints while measuring",
            f"{errors}; {mints_during}",
            "0; 0",
            errors == 0 and mints_during == 0,
        ),
        Row(
            "load generator CPU share (wrk -t1, of one core)",
            f"{max(t['wrk_cpu_share'] for t in totals.values()):.0%} max",
        ),
    ]
    return rows, raw
