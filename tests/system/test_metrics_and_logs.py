"""/metrics adds up across gunicorn workers; logs are JSON lines carrying the request id."""

import concurrent.futures
import json
import re

import requests

from devstack.control_client import MINT
from devstack.stack import sign_in_over_http, start_service
from tests.seed_names import ALICE


def metric(text: str, name: str, **labels) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def test_metrics_add_up_across_workers(tmp_path, upstream):
    proc, url = start_service(
        tmp_path,
        upstream.url,
        WEB_CONCURRENCY=4,
        GUNICORN_THREADS=4,
        TOKEN_RATE_LIMIT="1000/minute",
    )
    try:
        sessions = [sign_in_over_http(url, ALICE) for _ in range(3)]
        upstream.clear_log()

        def fetch(i):
            http = sessions[i % 3]
            return http.get(url + "/api/graphql-token", headers={"X-CSRF": "1"}, timeout=10)

        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(fetch, range(60)))
        anonymous = requests.get(url + "/api/graphql-token", headers={"X-CSRF": "1"}, timeout=5)
        assert [a.status_code for a in answers] == [200] * 60 and anonymous.status_code == 401

        text = requests.get(url + "/metrics", timeout=5).text
        hits = metric(text, "gts_token_requests_total", outcome="hit")
        misses = metric(text, "gts_token_requests_total", outcome="miss")
        # Every answer was counted once, whichever of the 4 workers gave it.
        assert hits + misses == 60
        assert metric(text, "gts_token_requests_total", outcome="unauthenticated") == 1
        # Each miss is one WorkOS mint, and the emulator saw exactly those.
        mints = upstream.count(MINT)
        assert misses == mints
        assert metric(text, "gts_workos_requests_total", route="POST /client/token") == mints
        assert metric(text, "gts_workos_request_seconds_count", route="POST /client/token") == mints
        assert metric(text, "gts_token_store_degraded") == 0
    finally:
        proc.stop()


def test_logs_are_json_with_the_request_id(tmp_path, upstream):
    proc, url = start_service(tmp_path, upstream.url, LOG_LEVEL="INFO")
    try:
        http = requests.Session()
        given = http.get(url + "/healthz", headers={"X-Request-ID": "trace-abc.123"}, timeout=5)
        assert given.headers["X-Request-ID"] == "trace-abc.123"
        made = http.get(url + "/healthz", timeout=5).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        forged = '"}, "level": "ERROR'  # would break a naive log line
        hostile = http.get(url + "/healthz", headers={"X-Request-ID": forged}, timeout=5)
        assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["X-Request-ID"])

        sign_in_over_http(url, ALICE, session=http)
        signed_in = http.get(url + "/", headers={"X-Request-ID": "page-load-1"}, timeout=5)
        assert signed_in.status_code == 200
    finally:
        proc.stop()
    lines = proc.output().splitlines()
    app_lines = [json.loads(line) for line in lines if line.startswith("{")]
    signed = [entry for entry in app_lines if entry.get("message") == "signed in"]
    assert signed and signed[0]["level"] == "INFO" and len(signed[0]["request_id"]) == 32
    assert signed[0]["user_id"] == "user_alice"
    # gunicorn's access lines carry the same id, and the path without its query string.
    assert any("rid=trace-abc.123" in line for line in lines)
    assert not any("/callback?" in line or "code=" in line for line in lines)
