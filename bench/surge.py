"""A surge under the WorkOS request budget: 500 cold sessions ask for tokens at once.

The setting, scaled down so the part takes about a minute and a half rather than many:
the emulator limits the API key at R = EMULATOR_LIMIT calls a minute (WorkOS: 6,000), the
service's WORKOS_REQUEST_BUDGET is below it (BUDGET, WorkOS default 5,000), 20 % of it kept
for sign-ins, so mints may make MINT_SHARE a minute. 500 sessions cannot all be served in the
first minute: the rest wait (503 + jittered Retry-After) until the first mints leave the
60-second window. Meanwhile SIGN_INS more users sign in, from the reserve.

Sessions are signed in first through a service with a large budget (same Redis and
SECRET_KEY); the budget's Redis keys are then dropped so the surge starts with a full budget,
as after a deploy, and the token cache is cold (nothing was minted yet).
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import redis
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bench.report import Row
from bench.stack import HIGH_RATE_LIMIT, TOKEN_ROUTE, Stack, bench_user
from devstack.stack import sign_in_over_http

SESSIONS = 500
SIGN_INS = 20  # users signing in while the surge is on
EMULATOR_LIMIT = 450  # R, calls a minute for the API key: fewer than the surge's 500 mints
# WORKOS_REQUEST_BUDGET a minute, below R; BENCH_SURGE_BUDGET=100000 shows the surge unbudgeted.
BUDGET = int(os.environ.get("BENCH_SURGE_BUDGET", "400"))
RESERVE_PERCENT = 20
MINT_SHARE = BUDGET - BUDGET * RESERVE_PERCENT // 100
WORKERS = 4
MAX_WAIT = 180.0  # a session without a token after this long counts as failed


def _at(entry: dict) -> float:
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp()


def most_in_any_window(times: list[float], window: float = 60.0) -> int:
    """The largest number of times in any span of `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _until_token(url: str, cookie: str, t0: list[float], go: threading.Event) -> dict:
    """Ask for a token, honouring Retry-After, until one comes or MAX_WAIT passes."""
    name, _, value = cookie.partition("=")
    http = requests.Session()
    http.cookies.set(name, value)
    # A client waits out Retry-After (up to a minute) between asks, longer than gunicorn keeps
    # an idle connection: a reused one may be reset as it is closed. The GET is safe to resend.
    retry = Retry(total=2, connect=2, read=2, allowed_methods={"GET"}, backoff_factor=0.1)
    http.mount("http://", HTTPAdapter(max_retries=retry))
    go.wait()
    started = t0[0]
    asks, statuses = 0, {}
    try:
        while time.monotonic() - started < MAX_WAIT:
            asks += 1
            response = http.get(url + TOKEN_ROUTE, headers={"X-CSRF": "1"}, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                return {"seconds": time.monotonic() - started, "asks": asks, "statuses": statuses}
            if response.status_code not in (429, 503):
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
    finally:
        http.close()
    return {"seconds": None, "asks": asks, "statuses": statuses}


def _sign_ins(url: str, first: int, t0: list[float], go: threading.Event) -> list[dict]:
    go.wait()
    started = t0[0]
    time.sleep(2)  # the mint share is spent by now: these come out of the reserve

    def one(n: int) -> dict:
        at = time.monotonic() - started
        try:
            http = sign_in_over_http(url, bench_user(n)[1])
            http.close()
            return {"ok": True, "at": at}
        except (AssertionError, requests.RequestException) as exc:
            return {"ok": False, "at": at, "error": repr(exc)[:120]}

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(first, first + SIGN_INS)))


def run() -> tuple[list[Row], dict]:
    """Sign SESSIONS users in, then release their token requests at once against the budget."""
    with Stack("surge") as stack:
        upstream = stack.emulator(SESSIONS + SIGN_INS)
        redis_url = stack.redis()
        common = {"REDIS_URL": redis_url, "TOKEN_RATE_LIMIT": HIGH_RATE_LIMIT}
        setup = stack.service(
            upstream.url, WEB_CONCURRENCY=2, WORKOS_REQUEST_BUDGET="100000/minute", **common
        )
        cookies = stack.sign_in(setup, SESSIONS)
        stack.masters.pop(setup).stop()
        plain = redis.Redis.from_url(redis_url)
        plain.delete(*plain.keys("gts:wb:*") or ["none"])  # a full budget, as after a deploy
        plain.close()
        url = stack.service(
            upstream.url,
            WEB_CONCURRENCY=WORKERS,
            WORKOS_REQUEST_BUDGET=f"{BUDGET}/minute",
            WORKOS_SIGNIN_RESERVE_PERCENT=RESERVE_PERCENT,
            **common,
        )
        upstream.clear_log()
        upstream.set_rate_limit(f"{EMULATOR_LIMIT}/minute")
        go, t0 = threading.Event(), [0.0]
        with ThreadPoolExecutor(max_workers=SESSIONS + 1) as pool:
            futures = [pool.submit(_until_token, url, c, t0, go) for c in cookies]
            signins = pool.submit(_sign_ins, url, SESSIONS, t0, go)
            time.sleep(1)  # every thread is waiting on `go`
            t0[0] = time.monotonic()
            go.set()
            sessions = [f.result() for f in futures]
            signed_in = signins.result()
        log = upstream.requests_log()
        metrics = requests.get(url + "/metrics", timeout=10).text
    mints = [_at(e) for e in log if e["route"] == "POST /client/token" and e["status"] == 201]
    throttled = [e for e in log if e["status"] == 429]
    served = [s["seconds"] for s in sessions if s["seconds"] is not None]
    refused = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('gts_workos_budget_refused_total{kind="mint"')
    )
    raw = {
        "setup": {
            "sessions": SESSIONS,
            "sign_ins_during_surge": SIGN_INS,
            "emulator_limit_per_minute": EMULATOR_LIMIT,
            "budget_per_minute": BUDGET,
            "reserve_percent": RESERVE_PERCENT,
            "mint_share_per_minute": MINT_SHARE,
            "workers": WORKERS,
            "threads_per_worker": 8,
            "redis": True,
        },
        "workos_429s": len(throttled),
        "mints": len(mints),
        "mints_in_any_60s": most_in_any_window(mints),
        "sessions_with_token": len(served),
        "seconds_until_every_token": max(served) if len(served) == SESSIONS else None,
        "seconds_until_half": sorted(served)[len(served) // 2] if served else None,
        "token_asks": sum(s["asks"] for s in sessions),
        "mints_refused_by_budget": refused,
        "sign_ins_ok": sum(1 for s in signed_in if s["ok"]),
        "sign_in_failures": [s for s in signed_in if not s["ok"]],
    }
    every = raw["seconds_until_every_token"]
    rows = [
        Row(
            f"surge {SESSIONS} cold sessions: WorkOS 429s (R {EMULATOR_LIMIT}/min, budget "
            f"{BUDGET}/min, {WORKERS} workers + Redis)",
            str(raw["workos_429s"]),
            "0",
            raw["workos_429s"] == 0,
        ),
        Row(
            "surge: mints in any 60 s",
            f"{raw['mints_in_any_60s']} ({raw['mints']} mints in all)",
            f"<= {MINT_SHARE} (the mint share)",
            raw["mints_in_any_60s"] <= MINT_SHARE,
        ),
        Row(
            "surge: time until every session has a token",
            "not all served"
            if every is None
            else f"{every:.1f} s (half by "
            f"{raw['seconds_until_half']:.1f} s; {raw['token_asks']} token requests, "
            f"{refused:.0f} mints not sent: budget spent or paused)",
            "all served",
            every is not None,
        ),
        Row(
            "surge: sign-ins during the surge",
            f"{raw['sign_ins_ok']} of {SIGN_INS} succeeded",
            "all",
            raw["sign_ins_ok"] == SIGN_INS,
        ),
    ]
    return rows, raw
