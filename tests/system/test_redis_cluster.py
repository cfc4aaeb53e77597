"""Two gunicorn masters on a real local Redis Cluster (3 masters, no replicas).

The same behaviour as on one Redis: one mint per session, sign-out final everywhere, shared
rate limits, opaque names spread over the nodes; and a stopped node degrades the service as
an outage does, for the sessions whose slot it holds. Figures are printed (`-n 0 -s` shows them).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import time
from collections import Counter

import pytest
import redis
import requests

from devstack.control_client import MINT
from devstack.stack import start_service
from service.core.keys import derive, session_tag
from tests.support import require_tool, start_cluster_node, start_redis_cluster, wait_cluster_ok
from tests.system.service_http import CSRF, SECRET, cookie_content, get_token, signed_in

# /readyz names the stores only to the holder of METRICS_TOKEN (and /metrics then needs it).
METRICS_TOKEN = "metrics-token-0123456789"
OPS = {"Authorization": f"Bearer {METRICS_TOKEN}"}
BURST_OK = {"TOKEN_RATE_LIMIT": "100000/minute"}
COPY_SECONDS = 1.0  # how long a process trusts a session record or token it read (L1)
RETRY_INTERVAL = 5.0  # the link's probe interval while Redis is down


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A 3-master cluster for this module: ({port: node process}, url, tmp dir)."""
    require_tool("redis-server", "apt-get install redis-server")
    require_tool("redis-cli", "apt-get install redis-tools")
    tmp = tmp_path_factory.mktemp("cluster")
    nodes, url = start_redis_cluster(tmp)
    yield nodes, url, tmp
    for node in nodes.values():
        node.stop()


@pytest.fixture
def raw(cluster):
    """A plain client per node, every node emptied before the test."""
    clients = {port: redis.Redis(port=port) for port in cluster[0]}
    for client in clients.values():
        client.flushall()
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def services(tmp_path, cluster):
    """Start gunicorn masters on the cluster; all are stopped afterwards."""
    started = []

    def start(upstream_url: str, **env) -> str:
        env = {**BURST_OK, "WEB_CONCURRENCY": 2, "METRICS_TOKEN": METRICS_TOKEN, **env}
        proc, url = start_service(tmp_path, upstream_url, REDIS_URL=cluster[1], **env)
        started.append(proc)
        return url

    yield start
    for proc in started:
        proc.stop()


def session_id_of(cookies: dict[str, str]) -> str:
    """The session id inside the signed (not encrypted, maybe compressed) cookie."""
    return cookie_content(cookies["gts"])["session_id"]


def b64json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def claims(token: str) -> dict:
    return b64json(token.split(".")[1])


def tag_of(cookies: dict[str, str]) -> str:
    """The session's hash tag, as the service computes it."""
    return session_tag(derive(SECRET, "session-store-names"), session_id_of(cookies))


def keys_by_node(raw) -> dict[int, list[str]]:
    return {port: [k.decode() for k in client.keys("gts:*")] for port, client in raw.items()}


def test_a_cold_burst_mints_once_per_session(upstream, raw, services):
    a, b = services(upstream.url), services(upstream.url)
    sessions = [signed_in(a) for _ in range(6)]
    upstream.set_latency(200)  # keep each mint in flight while its burst arrives
    upstream.clear_log()

    def fetch(n: int) -> requests.Response:
        return get_token((a, b)[n % 2], sessions[n % 6])

    with concurrent.futures.ThreadPoolExecutor(max_workers=60) as pool:
        responses = list(pool.map(fetch, range(180)))
    assert [r.status_code for r in responses] == [200] * 180
    print(f"\ncold burst: 180 requests, 6 sessions, 2 masters: {upstream.count(MINT)} mints")
    assert upstream.count(MINT) == 6
    assert len({r.json()["token"] for r in responses}) == 6


def test_sign_out_on_one_master_is_final_on_the_other(upstream, raw, services):
    a, b = services(upstream.url), services(upstream.url)
    cookies = signed_in(a)
    upstream.clear_log()
    assert get_token(a, cookies).status_code == 200
    assert get_token(b, cookies).status_code == 200 and upstream.count(MINT) == 1

    logout = requests.post(
        a + "/logout", headers=CSRF, cookies=cookies, allow_redirects=False, timeout=10
    )
    assert logout.status_code == 302
    signed_out_at = time.monotonic()
    assert not [k for keys in keys_by_node(raw).values() for k in keys if tag_of(cookies) in k]
    # A replayed copy of the cookie. Each worker may trust its copy of the record (and of the
    # token) for COPY_SECONDS, never longer: A's other worker as much as B's.
    last_served = 0.0
    while (since := time.monotonic() - signed_out_at) < COPY_SECONDS + 0.3:
        for url in (a, b):
            answer = get_token(url, cookies)
            if answer.status_code == 200:
                last_served = since
            else:
                assert answer.status_code == 401 and answer.json()["error"] == "unauthenticated"
        time.sleep(0.02)
    print(f"\nsign-out on A: last 200 (a worker's copy) {last_served:.2f}s after it")
    assert last_served < COPY_SECONDS + 0.1
    # Within that second a worker whose token copy was gone may mint for the ended session
    # (at most once per worker; the token is never served once the copy lapses); after it,
    # nothing.
    mints = upstream.count(MINT)
    assert mints <= 1 + 4
    assert {get_token(url, cookies).status_code for url in (a, b) for _ in range(8)} == {401}
    print(f"mints for the signed-out session within the copy's second: {mints - 1}")
    assert upstream.count(MINT) == mints


def test_rate_limits_are_shared(upstream, raw, services):
    a = services(upstream.url, TOKEN_RATE_LIMIT="4/minute")
    b = services(upstream.url, TOKEN_RATE_LIMIT="4/minute")
    cookies = signed_in(a)
    answers = [get_token((a, b)[n % 2], cookies).status_code for n in range(6)]
    assert answers == [200, 200, 200, 200, 429, 429]


def test_keys_spread_over_the_nodes_and_name_no_id(upstream, raw, services):
    a = services(upstream.url)
    sessions = [signed_in(a) for _ in range(9)]
    tokens = [get_token(a, cookies).json()["token"] for cookies in sessions]
    by_node = keys_by_node(raw)
    revealing = {session_id_of(c) for c in sessions}
    for token in tokens:
        revealing |= {claims(token)["sub"], claims(token)["org_id"]}
    names = [name for keys in by_node.values() for name in keys]
    assert not [n for n in names for secret in revealing if secret in n]
    # Each session's keys (record, token, token index) on one node; sessions on several nodes.
    homes = {}
    for cookies in sessions:
        tag = tag_of(cookies)
        held = {port for port, keys in by_node.items() for k in keys if tag in k}
        assert len(held) == 1, held
        assert sum(tag in n for n in names) >= 3
        homes[tag] = held.pop()
    print(f"\n9 sessions over the nodes: {sorted(Counter(homes.values()).values())}")
    assert len(set(homes.values())) >= 2


def ready(url: str) -> dict:
    return requests.get(url + "/readyz", headers=OPS, timeout=5).json()["token_store"]


def degraded(url: str) -> bool:
    """Whether the worker answering /readyz, or any live worker of the master, is degraded.

    /readyz answers for one worker (and probes Redis when one is due); the degraded gauge is
    the highest of the master's live workers (livemax): a worker still without Redis would
    serve tokens from its own memory.
    """
    if ready(url)["degraded"]:
        return True
    metrics = requests.get(url + "/metrics", headers=OPS, timeout=5).text
    return "gts_token_store_degraded 1.0" in metrics


def test_a_stopped_node_fails_its_sessions_closed_and_recovers(upstream, raw, services, cluster):
    """Sessions on the stopped node: 503 (fail closed), the rest: 200, tokens from memory."""
    nodes, _, tmp = cluster
    a, b = services(upstream.url), services(upstream.url)
    sessions = [signed_in(a) for _ in range(9)]
    for cookies in sessions:
        assert get_token(a, cookies).status_code == 200 and get_token(b, cookies).status_code == 200
    by_node = keys_by_node(raw)
    home = {
        tag_of(c): p for c in sessions for p, ks in by_node.items() for k in ks if tag_of(c) in k
    }
    victim = Counter(home.values()).most_common(1)[0][0]
    lost = [c for c in sessions if home[tag_of(c)] == victim]
    kept = [c for c in sessions if home[tag_of(c)] != victim]
    assert lost and kept
    upstream.clear_log()

    nodes[victim].stop()
    stopped_at = time.monotonic()
    time.sleep(COPY_SECONDS)  # past the processes' copies of records and tokens
    started = time.monotonic()
    during = {url: [get_token(url, c) for c in sessions] for url in (a, b)}
    took = (time.monotonic() - started) / (2 * len(sessions))
    for url in (a, b):
        for cookies, answer in zip(sessions, during[url], strict=True):
            if cookies in lost:
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"] == "session_store_unavailable"
            else:
                assert answer.status_code == 200, answer.text
        assert ready(url) == {"backend": "redis", "ok": True, "degraded": True}
        metrics = requests.get(url + "/metrics", headers=OPS, timeout=5).text
        assert "gts_token_store_degraded 1.0" in metrics
    # Tokens come from each worker's memory, shared by no one: a worker that never held a
    # session's token mints its own (4 workers), as when a single Redis is down.
    mints = upstream.count(MINT)
    assert mints <= 4 * len(kept)
    print(
        f"\nnode down: {len(lost)}/9 sessions answer 503, {len(kept)}/9 answer 200 "
        f"({mints} mints by workers without a copy); {took * 1000:.0f} ms per request"
    )

    # After cluster-node-timeout the others mark it failed; they keep serving their own slots
    # (cluster-require-full-coverage no).
    time.sleep(max(0.0, stopped_at + 3.0 - time.monotonic()))
    assert [get_token(b, c).status_code for c in kept] == [200] * len(kept)
    assert {get_token(b, c).status_code for c in lost} == {503}

    nodes[victim] = start_cluster_node(tmp, victim)
    restarted_at = time.monotonic()
    wait_cluster_ok(list(nodes))
    cluster_ok = time.monotonic() - restarted_at
    while any([degraded(url) for url in (a, b)]):
        assert time.monotonic() - restarted_at < RETRY_INTERVAL + 5
        time.sleep(0.1)
    recovered = time.monotonic() - restarted_at
    print(
        f"node restarted: cluster ok after {cluster_ok:.1f}s, not degraded after {recovered:.1f}s"
    )
    # The node came back empty (no persistence, no replica): its sessions are signed out.
    assert {get_token(a, c).status_code for c in lost} == {401}
    assert [get_token(b, c).status_code for c in kept] == [200] * len(kept)
    fresh = signed_in(b)
    upstream.clear_log()
    assert get_token(a, fresh).json()["token"] == get_token(b, fresh).json()["token"]
    assert upstream.count(MINT) == 1
