"""The service under gunicorn (the Procfile command) against the emulator process."""

import concurrent.futures
import signal

import requests

from devstack.control_client import MINT
from devstack.stack import sign_in_over_http, start_service
from tests.seed_names import ALICE


def test_procfile_command_serves_health_and_readiness(tmp_path, upstream):
    proc, url = start_service(tmp_path, upstream.url)
    try:
        assert requests.get(url + "/healthz", timeout=5).json() == {"status": "ok"}
        ready = requests.get(url + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
    finally:
        assert proc.stop() == 0


def test_sign_in_and_token_over_real_sockets(tmp_path, upstream):
    proc, url = start_service(tmp_path, upstream.url)
    try:
        http = sign_in_over_http(url, ALICE)
        response = http.get(url + "/api/graphql-token", headers={"X-CSRF": "1"}, timeout=5)
        assert response.status_code == 200 and response.json()["organization_id"] == "org_acme"
        again = http.get(url + "/api/graphql-token", headers={"X-CSRF": "1"}, timeout=5)
        assert again.json()["token"] == response.json()["token"]
    finally:
        proc.stop()


def test_cold_burst_mints_at_most_once_per_worker(tmp_path, upstream):
    """100 concurrent requests for one cold session: single flight inside each worker."""
    upstream.set_latency(200)  # keep the mint in flight while the burst arrives
    proc, url = start_service(tmp_path, upstream.url, WEB_CONCURRENCY=2, GUNICORN_THREADS=8)
    try:
        http = sign_in_over_http(url, ALICE)
        upstream.clear_log()
        cookies = http.cookies.get_dict()

        def fetch(_):
            return requests.get(
                url + "/api/graphql-token", headers={"X-CSRF": "1"}, cookies=cookies, timeout=30
            )

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(pool.map(fetch, range(100)))
        assert [r.status_code for r in responses] == [200] * 100
        mints = upstream.count(MINT)
        assert 1 <= mints <= 2, mints
        print(f"cold burst: 100 requests, 2 workers -> {mints} mints")
    finally:
        proc.stop()


def test_graceful_shutdown_on_sigterm(tmp_path, upstream):
    proc, url = start_service(tmp_path, upstream.url)
    proc.signal(signal.SIGTERM)
    assert proc.popen.wait(timeout=30) == 0
    proc.stop()
    assert "Shutting down" in proc.output() or "Handling signal" in proc.output()
