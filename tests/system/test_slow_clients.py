"""Slow clients against the Procfile's command with no proxy in front: 200 connections trickle
their request line, headers or body; /healthz and a signed-in user's token hit keep answering
within 1 s, and the slow connections are closed after a bounded time.

Ten such connections (more than workers x threads) made /healthz time out for as long as they
stayed open.
"""

from __future__ import annotations

import statistics

import pytest

from bench.slow import BOUND, SLOW, measure
from devstack.stack import start_service
from service.ops.gunicorn_worker import READ_TIMEOUT
from tests.system.service_http import get_token, signed_in


@pytest.mark.timeout(180)
def test_200_trickling_connections_do_not_stop_the_service(tmp_path, upstream):
    proc, url = start_service(tmp_path, upstream.url, TOKEN_RATE_LIMIT="100000/minute")
    try:
        cookies = signed_in(url)
        assert get_token(url, cookies).status_code == 200  # cached from now on
        raw = measure(url, f"gts={cookies['gts']}")
    finally:
        proc.stop()
    health, token, closed = raw["health_s"], raw["token_s"], raw["closed_after_s"]
    print(
        f"\n{SLOW} trickling connections: /healthz n={len(health)} "
        f"p50 {statistics.median(health) * 1000:.0f} ms, max {max(health) * 1000:.0f} ms; "
        f"token hit max {max(token) * 1000:.0f} ms; slow ones closed after "
        f"{min(closed):.1f}-{max(closed):.1f} s, {raw['still_open']} still open"
    )
    assert raw["health_status"] == raw["token_status"] == [200]
    assert max(health) < BOUND and max(token) < BOUND
    # Every slow connection was closed by the service, within READ_TIMEOUT (and the worker
    # loop's 1 s tick) of its start.
    assert raw["still_open"] == 0 and len(closed) == SLOW
    assert max(closed) < READ_TIMEOUT + 3
