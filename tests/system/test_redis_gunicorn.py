"""The Redis token store under gunicorn: shared across workers and masters, and outages.

Each service is the Procfile command with REDIS_URL pointing at a real redis-server on a free
loopback port. "Master" below means one gunicorn (one host, as far as the cache can tell).
"""

from __future__ import annotations

import concurrent.futures
import re
import time

import pytest
import requests

from devstack.control_client import MINT
from devstack.stack import start_redis, start_service
from tests.support import require_tool
from tests.system.service_http import CSRF, cookie_content, get_token, signed_in

# How late an eviction made on one master takes effect on another (the store's local_ttl).
EVICTION_BOUND = 1.0
# How long a worker waits before trying Redis again after an outage (retry_interval).
RETRY_INTERVAL = 5.0
# The token route is rate limited per user; these tests send bursts on purpose.
BURST_OK = {"TOKEN_RATE_LIMIT": "100000/minute"}
# /readyz names the stores only to the holder of METRICS_TOKEN (and /metrics then needs it).
METRICS_TOKEN = "metrics-token-0123456789"
OPS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
def services(tmp_path):
    """Start gunicorn masters; all are stopped afterwards."""
    started = []

    def start(upstream_url: str, redis_server: str, **env) -> str:
        proc, url = start_service(tmp_path, upstream_url, REDIS_URL=redis_server, **BURST_OK, **env)
        started.append(proc)
        return url

    yield start
    for proc in started:
        proc.stop()


def test_four_workers_mint_once_per_session_in_a_cold_burst(upstream, redis_server, raw, services):
    url = services(upstream.url, redis_server, WEB_CONCURRENCY=4, GUNICORN_THREADS=8)
    sessions = [signed_in(url) for _ in range(3)]
    upstream.set_latency(200)  # keep each mint in flight while its burst arrives
    upstream.clear_log()

    def fetch(n: int) -> requests.Response:
        return get_token(url, sessions[n % 3])

    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        responses = list(pool.map(fetch, range(300)))
    assert [r.status_code for r in responses] == [200] * 300
    assert upstream.count(MINT) == 3
    by_session = {n % 3: r.json()["token"] for n, r in enumerate(responses)}
    for n, response in enumerate(responses):
        assert response.json()["token"] == by_session[n % 3]
    assert len(set(by_session.values())) == 3


def test_two_masters_share_tokens_and_logout_on_one_signs_out_on_both(
    upstream, redis_server, raw, services
):
    a = services(upstream.url, redis_server, WEB_CONCURRENCY=2)
    b = services(upstream.url, redis_server, WEB_CONCURRENCY=2)
    cookies = signed_in(a)
    upstream.clear_log()

    first = get_token(a, cookies)
    assert first.status_code == 200 and upstream.count(MINT) == 1
    on_b = get_token(b, cookies)  # the same cookie works on B: same SECRET_KEY
    assert on_b.status_code == 200 and on_b.json()["token"] == first.json()["token"]
    assert upstream.count(MINT) == 1  # B minted nothing

    logout = requests.post(
        a + "/logout", headers=CSRF, cookies=cookies, allow_redirects=False, timeout=10
    )
    assert logout.status_code == 302
    logged_out_at = time.monotonic()
    assert raw.keys("gts:tok:*") == [] and raw.keys("gts:sess:*") == []
    assert raw.keys("gts:s:*") == []  # the session record itself is gone

    # The browser dropped the cookie, but a copy replayed to B still carries a valid
    # signature: B has no record for it (after at most EVICTION_BOUND, its copy's age), and
    # mints nothing for it.
    time.sleep(max(0.0, logged_out_at + EVICTION_BOUND - time.monotonic()))
    replayed = get_token(b, cookies)
    assert replayed.status_code == 401 and replayed.json()["error"] == "unauthenticated"
    assert get_token(a, cookies).status_code == 401
    assert upstream.count(MINT) == 1


def test_redis_keeps_names_opaque_and_tokens_sealed(upstream, redis_server, raw, services):
    url = services(upstream.url, redis_server, WEB_CONCURRENCY=1)
    cookies = signed_in(url)
    answer = get_token(url, cookies).json()
    token = answer["token"]
    content = cookie_content(cookies["gts"])
    revealing = [content["session_id"], "user_alice", "org_acme", "alice@acme.com"]

    names = [k.decode() for k in raw.keys("gts:*")]
    tag = r"\{[0-9a-f]{64}\}"  # a session's hash tag (one cluster slot)
    opaque = (
        rf"gts:(su|sx|so):[0-9a-f]{{64}}|gts:(s|sess):{tag}|gts:tok:{tag}:[0-9a-f]{{32}}"
        r"|gts:rl:\{[0-9a-f]{32}\}:\d+-\d+-[a-z]+"
        r"|gts:v:[0-9a-f]{64}|gts:wb:\{[0-9a-f]{32}\}:(a|g|s|p:[0-9a-f]{16})"
    )
    assert names and all(re.fullmatch(opaque, n) for n in names), names
    # Named values (the user's organization list kept for switches) are sealed too.
    for value in [raw.get(n) for n in names if n.startswith("gts:v:")]:
        assert not [s for s in revealing if s.encode() in value]
    [record] = [n for n in names if n.startswith("gts:s:")]
    assert not [s for s in revealing if s.encode() in raw.hget(record, "b")]
    assert not [n for n in names for secret in revealing if secret in n]
    [name] = [n for n in names if n.startswith("gts:tok:")]
    value = raw.get(name)
    assert token.encode() not in value and token.split(".")[1].encode() not in value
    # Expires when it stops being served: a refresh margin (30 to 60 s) before the token.
    left_ms = answer["expires_in"] * 1000
    assert left_ms - 62_000 < raw.pttl(name) < left_ms - 28_000


def test_redis_outage_fails_closed_and_a_lost_redis_signs_everyone_out(
    tmp_path, upstream, services
):
    """Sessions live in Redis: while it is down nobody is served on a guess (503), and a
    Redis that comes back empty (no persistence) signs every session out, never back in."""
    require_tool("redis-server", "apt-get install redis-server")
    redis_proc, redis_server = start_redis(tmp_path)
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    try:
        a = services(upstream.url, redis_server, WEB_CONCURRENCY=2, METRICS_TOKEN=METRICS_TOKEN)
        b = services(upstream.url, redis_server, WEB_CONCURRENCY=2, METRICS_TOKEN=METRICS_TOKEN)
        cookies = signed_in(a)
        before = get_token(a, cookies).json()["token"]
        assert get_token(b, cookies).json()["token"] == before

        redis_proc.stop()
        time.sleep(EVICTION_BOUND)  # no process copy of the record is left
        during = [get_token(url, cookies) for url in (a, b) for _ in range(6)]
        assert [r.status_code for r in during] == [503] * 12
        assert {r.json()["error"] for r in during} == {"session_store_unavailable"}
        assert all(r.headers["Retry-After"] == "2" for r in during)
        assert requests.get(b + "/readyz", timeout=5).json() == {"status": "degraded"}
        ready = requests.get(b + "/readyz", headers=OPS, timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["token_store"] == {"backend": "redis", "ok": True, "degraded": True}
        assert ready.json()["session_store"] == {"backend": "redis", "ok": False}
        metrics = requests.get(b + "/metrics", headers=OPS, timeout=5).text
        assert re.search(r"^gts_token_store_degraded 1\.0$", metrics, re.M), metrics

        redis_proc, _ = start_redis(tmp_path, port=port)
        time.sleep(RETRY_INTERVAL + 0.5)  # every worker is due for its retry
        for url in (a, b):
            ready = requests.get(url + "/readyz", headers=OPS, timeout=5)
            assert ready.status_code == 200 and ready.json()["token_store"]["degraded"] is False
            # The new Redis holds no record: signed out, on every master.
            gone = get_token(url, cookies)
            assert gone.status_code == 401 and gone.json()["error"] == "unauthenticated"

        fresh = signed_in(a)
        upstream.clear_log()
        minted = get_token(a, fresh).json()["token"]
        assert get_token(b, fresh).json()["token"] == minted
        assert upstream.count(MINT) == 1
    finally:
        redis_proc.stop()
