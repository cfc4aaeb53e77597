"""Where a request's time goes: the app in process, variants timed side by side + cProfile.

Not part of the default run (`python -m bench hotpath`): a diagnosis, not a figure with a
target. The app is built by create_app() from the environment gunicorn would get and driven
by Flask's test client, so neither sockets to the service nor gunicorn are timed; figures
are per-request wall time in this one thread (the test client's own cost included).
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import time
from contextlib import contextmanager

import requests

from bench.report import Row
from bench.stack import HIGH_RATE_LIMIT, ORG, TOKEN_ROUTE, Stack, bench_user
from devstack.control_client import API_KEY
from devstack.stack import service_env
from service import components

REQUESTS = 400
REPEATS = 4  # rounds over all variants; the fastest round of each counts
MISSES = 200
CSRF = {"X-CSRF": "1"}
# label: (function name, file suffix), summed as cumulative time over a profiled cache hit.
HIT_PARTS = {
    "rate limit": ("check", "service/web/ratelimit.py"),
    "session cookie re-signed (save_session)": ("save_session", "service/web/cookie.py"),
    "session cookie read (open_session)": ("open_session", "service/web/cookie.py"),
    "session record (Sessions.get, 1 s copy)": ("get", "service/sessions/lifecycle.py"),
    "token view (graphql_token)": ("graphql_token", "service/web/api.py"),
    "TokenBroker.get": ("get", "service/tokens/broker.py"),
}
MISS_PARTS = {
    "WorkOS call (requests, socket wait included)": ("_request", "workos_transport.py"),
    "requests' proxy lookup in os.environ": ("merge_environment_settings", "sessions.py"),
    "waiting for the emulator's answer (recv)": ("_read_status", "client.py"),
}


@contextmanager
def _environ(values: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _per_request_us(client, path: str) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS):
        client.get(path, headers=CSRF)
    return (time.perf_counter() - started) / REQUESTS * 1e6


def _shares(profile: cProfile.Profile, parts: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Cumulative time of each part as a share of Flask's wsgi_app."""
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def cumulative(name: str, suffix: str) -> float:
        return sum(
            v[3] for (file, _, fn), v in stats.items() if fn == name and file.endswith(suffix)
        )

    total = cumulative("wsgi_app", "app.py")
    return {label: cumulative(*where) / total for label, where in parts.items()}


class _NoLimit:
    """Stands in for the rate limit to time a hit without it."""

    def check(self, who: str) -> None:
        pass


def _hits(app, client) -> dict[str, float]:
    """Best per-request time of a cache hit and of /healthz, with suspects switched off."""
    anonymous = app.test_client()
    limit = components.of(app).limits.token
    # label: (SESSION_REFRESH_EACH_REQUEST, rate limit on, path, client)
    variants = {
        "token": (False, True, TOKEN_ROUTE, client),
        "token, cookie re-signed on every answer": (True, True, TOKEN_ROUTE, client),
        "token, rate limit off": (False, False, TOKEN_ROUTE, client),
        "healthz (cookie)": (False, True, "/healthz", client),
        "healthz (no cookie)": (False, True, "/healthz", anonymous),
    }
    timings = dict.fromkeys(variants, float("inf"))
    try:
        for _ in range(REPEATS):  # interleaved, so a busy moment hits every variant alike
            for label, (refresh, limited, path, http) in variants.items():
                app.config["SESSION_REFRESH_EACH_REQUEST"] = refresh
                components.of(app).limits.token = limit if limited else _NoLimit()
                timings[label] = min(timings[label], _per_request_us(http, path))
    finally:
        app.config["SESSION_REFRESH_EACH_REQUEST"] = False
        components.of(app).limits.token = limit
    return timings


def _misses(app, client, emulator_url: str, profile: cProfile.Profile) -> dict[str, float]:
    """Median wall time of a miss (token evicted first) and of the same mint sent directly;
    then as many misses again under the profiler (not timed)."""
    with client.session_transaction() as session:
        session_id = session["session_id"]
    # Cached tokens are keyed by the record's token_session (its id and gen).
    session_id = components.of(app).sessions.get(session_id).token_session
    broker = components.of(app).tokens
    body = {"organization_id": ORG, "user_id": bench_user(0)[0]}
    auth = {"Authorization": f"Bearer {API_KEY}"}
    miss, direct = [], []

    def one_miss() -> None:
        broker.evict(session_id, ORG)
        started = time.perf_counter()
        status = client.get(TOKEN_ROUTE, headers=CSRF).status_code
        miss.append(time.perf_counter() - started)
        assert status == 200, status

    with requests.Session() as http:
        for _ in range(MISSES):  # interleaved: both see the same moments of the machine
            one_miss()
            started = time.perf_counter()
            http.post(emulator_url + "/client/token", json=body, headers=auth, timeout=10)
            direct.append(time.perf_counter() - started)
    timed = statistics.median(miss) * 1e6
    profile.enable()
    for _ in range(MISSES):
        one_miss()
    profile.disable()
    return {"miss_us": timed, "direct_us": statistics.median(direct) * 1e6}


def run() -> tuple[list[Row], dict]:
    """Hits with the suspected costs switched off one at a time; misses against direct mints."""
    with Stack("hotpath") as stack:
        upstream = stack.emulator(1)
        metrics_dir = stack.tmp / "metrics"
        metrics_dir.mkdir()
        env = service_env(upstream.url, 8000, TOKEN_RATE_LIMIT=HIGH_RATE_LIMIT, LOG_LEVEL="WARNING")
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env["SESSION_DB_PATH"] = str(stack.tmp / "sessions.sqlite3")
        # Kept set throughout: prometheus_client reads PROMETHEUS_MULTIPROC_DIR again
        # whenever it makes a new labelled child.
        with _environ(env):
            from service import create_app

            app = create_app()
            client = app.test_client()
            login = client.get("/login", query_string={"login_hint": bench_user(0)[1]})
            callback = client.get(upstream.authorize(login.headers["Location"]))
            assert callback.status_code == 302, callback.data
            assert client.get(TOKEN_ROUTE, headers=CSRF).status_code == 200
            timings = _hits(app, client)
            hit_profile = cProfile.Profile()
            hit_profile.enable()
            for _ in range(REQUESTS):
                client.get(TOKEN_ROUTE, headers=CSRF)
            hit_profile.disable()
            miss_profile = cProfile.Profile()
            misses = _misses(app, client, upstream.url, miss_profile)

    hit_shares = _shares(hit_profile, HIT_PARTS)
    miss_shares = _shares(miss_profile, MISS_PARTS)
    token, healthz = timings["token"], timings["healthz (cookie)"]
    rows = [
        Row(
            "in process, per request: token hit / healthz (cookie) / healthz (no cookie)",
            f"{token:.0f} / {healthz:.0f} / {timings['healthz (no cookie)']:.0f} us "
            f"(healthz/token {healthz / token:.2f})",
        ),
        Row(
            "in process, token hit with: cookie re-signed each answer / rate limit off",
            f"{timings['token, cookie re-signed on every answer']:.0f} / "
            f"{timings['token, rate limit off']:.0f} us",
        ),
        *(Row(f"cProfile, share of a hit: {k}", f"{v:.0%}") for k, v in hit_shares.items()),
        Row(
            "in process, miss / direct mint with requests / difference (emulator at 0 ms)",
            f"{misses['miss_us']:.0f} / {misses['direct_us']:.0f} / "
            f"{misses['miss_us'] - misses['direct_us']:.0f} us",
        ),
        *(Row(f"cProfile, share of a miss: {k}", f"{v:.0%}") for k, v in miss_shares.items()),
    ]
    raw = {
        "per_request_us": timings,
        "hit_profile_shares": hit_shares,
        "misses": misses,
        "miss_profile_shares": miss_shares,
    }
    return rows, raw
