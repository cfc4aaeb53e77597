"""Short soak (the bounded soak of `make bench`, scaled down): tokens expire during the run.

8 s of wrk, 40 connections over 10 sessions, one gunicorn worker. Tokens live 8 s and the
refresh margin is 5 s, so each is served S = 3 s: the worker mints a session's token at
t ~ 0, 3 and 6 s, floor(T / S) + 1 = 3 times. The k-th mint lands at k x S plus the drift of
k mint round trips (milliseconds), and T / S = 2.67 keeps the run's end 2 s away from both
the 3rd mint (6 s) and a 4th (9 s), so the count is exact: fewer would mean a token served
past its margin, more a token dropped early.
"""

from bench.soak import soak
from tests.support import require_tool


def test_soak_short_every_session_reminted_on_time_with_no_errors(tmp_path):
    require_tool("wrk", "apt-get install wrk")
    run = soak(
        seconds=8,
        connections=40,
        sessions=10,
        token_ttl=8,
        margin=5,
        workers=1,
        name="soak-test",
        tmp=tmp_path,
    )
    wrk = run["wrk"]
    print(
        f"soak: {wrk['requests']} requests in {wrk['duration_s']:.1f}s, {wrk['errors']} errors, "
        f"{run['mints']} mints (expected {run['expected_mints']}), "
        f"per session {run['mints_per_session']}"
    )
    assert wrk["requests"] > 0
    assert wrk["errors"] == 0, wrk
    assert run["sessions_minted"] == 10
    assert run["mints_per_session"] == [3] * 10, run
    assert run["mints"] == run["expected_mints"] == 30
