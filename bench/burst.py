"""WorkOS mints per (session, organization) under a cold burst of concurrent requests."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.report import Row
from bench.stack import (
    HIGH_RATE_LIMIT,
    TOKEN_ROUTE,
    Stack,
    mints_per_user,
    token_requests_by_worker,
    token_store_backend,
)

SESSIONS = 10
PER_SESSION = 10
ROUNDS = 3  # each round a fresh set of sessions: gunicorn's accept race decides the spread
LATENCY_MS = 200  # keeps the first mint in flight while the whole burst arrives

# name, gunicorn masters, workers per master, Redis?
CASES = (
    ("in-process cache, 4 workers", 1, 4, False),
    ("Redis, 4 workers", 1, 4, True),
    ("Redis, 2 masters x 2 workers", 2, 2, True),
)


def _burst(urls: list[str], cookies: list[str]) -> list[int]:
    """PER_SESSION requests per cookie released together; request i goes to urls[i % n]."""
    total = len(cookies) * PER_SESSION
    barrier = threading.Barrier(total)

    def one(i: int) -> int:
        name, _, value = cookies[i % len(cookies)].partition("=")
        url = urls[i % len(urls)]
        barrier.wait(timeout=30)
        response = requests.get(
            url + TOKEN_ROUTE, headers={"X-CSRF": "1"}, cookies={name: value}, timeout=30
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=total) as pool:
        return list(pool.map(one, range(total)))


def _case(stack: Stack, upstream, name: str, masters: int, workers: int, redis: bool) -> dict:
    env = {"WEB_CONCURRENCY": workers, "GUNICORN_THREADS": 8, "TOKEN_RATE_LIMIT": HIGH_RATE_LIMIT}
    if redis:
        env["REDIS_URL"] = stack.redis()
    urls = [stack.service(upstream.url, **env) for _ in range(masters)]
    cookies = stack.sign_in(urls[0], SESSIONS * ROUNDS)
    rounds = []
    upstream.set_latency(LATENCY_MS)
    try:
        for n in range(ROUNDS):
            upstream.clear_log()
            before = token_requests_by_worker(stack)
            statuses = _burst(urls, cookies[n * SESSIONS : (n + 1) * SESSIONS])
            after = token_requests_by_worker(stack)
            per_key = mints_per_user(upstream)
            rounds.append(
                {
                    "non_200": len([s for s in statuses if s != 200]),
                    "per_key": sorted(per_key.values()),
                    "keys_minted": len(per_key),
                    "requests_per_worker": sorted(
                        (int(after[pid] - before.get(pid, 0)) for pid in after), reverse=True
                    ),
                }
            )
    finally:
        upstream.set_latency(0)
    per_key = [m for r in rounds for m in r["per_key"]]
    keys = SESSIONS * ROUNDS
    return {
        "case": name,
        "masters": masters,
        "workers_per_master": workers,
        "redis": redis,
        "token_store_backend": token_store_backend(urls[0]),
        "keys": keys,
        "mints": sum(per_key),
        "mean_per_key": sum(per_key) / keys,
        "max_per_key": max(per_key, default=0),
        "non_200": sum(r["non_200"] for r in rounds),
        "workers_reached_per_round": [
            len([c for c in r["requests_per_worker"] if c]) for r in rounds
        ],
        "rounds": rounds,
    }


def _row(r: dict) -> Row:
    reached = r["workers_reached_per_round"]
    note = f"workers reached per round {reached}"
    if r["redis"]:
        note += f"; token store: {r['token_store_backend']}"
    measured = (
        f"{r['mean_per_key']:.2f} mean, {r['max_per_key']} max "
        f"({r['mints']} mints / {r['keys']} keys, {r['non_200']} non-200; {note})"
    )
    metric = f"cold burst {SESSIONS}x{PER_SESSION} x{ROUNDS}: mints/key, {r['case']}"
    if not r["redis"]:
        limit = r["masters"] * r["workers_per_master"]
        met = r["max_per_key"] <= limit and r["non_200"] == 0
        return Row(metric, measured, f"<= {limit} per key", met)
    # 1.00 only proves sharing if the bursts reached more than one worker.
    met = (
        r["mints"] == r["keys"] and r["max_per_key"] == 1 and r["non_200"] == 0 and max(reached) > 1
    )
    return Row(metric, measured, "1.00 per key", met)


def run() -> tuple[list[Row], dict]:
    """The three cases against one emulator; each gets its own gunicorn(s) and redis."""
    results = []
    with Stack("burst") as stack:
        upstream = stack.emulator(SESSIONS * ROUNDS)
        for n, (name, masters, workers, redis) in enumerate(CASES):
            # Fresh gunicorn(s), redis-server and sign-ins: every case starts cold.
            with Stack(f"burst-{n}") as case_stack:
                results.append(_case(case_stack, upstream, name, masters, workers, redis))
    raw = {
        "setup": {
            "sessions": SESSIONS,
            "requests_per_session": PER_SESSION,
            "rounds": ROUNDS,
            "emulator_latency_ms": LATENCY_MS,
            "threads_per_worker": 8,
            "release": "threading.Barrier over 100 client threads, one connection each",
            "two_masters": "request i goes to master i % 2, so each session reaches both",
        },
        "cases": results,
    }
    return [_row(r) for r in results], raw
