"""The operator's commands as a subprocess (`flask --app wsgi ...`) on Redis, beside gunicorn."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import redis

from devstack.stack import ROOT, start_service
from tests.seed_names import ALICE, CAROL
from tests.system.service_http import cookie_content, get_token, signed_in


@pytest.fixture
def deployment(tmp_path, upstream, redis_server):
    """gunicorn on Redis with two sessions of Alice and one of Carol; its environment."""
    redis.Redis.from_url(redis_server).flushall()  # the module's Redis: start from nothing
    proc, url = start_service(tmp_path, upstream.url, REDIS_URL=redis_server)
    upstream.set_redirect_uris([url + "/callback"])
    try:
        cookies = [signed_in(url, email) for email in (ALICE, ALICE, CAROL)]
        assert get_token(url, cookies[0]).status_code == 200
        yield proc.env, url, cookies
    finally:
        proc.stop()


def flask(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sessions_on_redis(deployment):
    env, url, cookies = deployment
    assert flask(env, "sessions", "count", "--all").stdout == "3\n"
    assert flask(env, "sessions", "count", "--organization", "org_acme").stdout == "2\n"
    listed = flask(env, "sessions", "list", "--user", "user_alice")
    assert listed.returncode == 0 and listed.stdout.splitlines()[-1] == "2 session(s)"
    for jar in cookies:
        record_id = cookie_content(next(iter(jar.values())))["session_id"]
        assert record_id not in listed.stdout
        assert all(value not in listed.stdout for value in jar.values())
    ended = flask(env, "sessions", "end", "--user", "user_alice")
    assert ended.stdout == "ended 2 session(s)\n"
    time.sleep(1.2)  # the workers trust their copy of a record for a second
    assert get_token(url, cookies[0]).status_code == 401
    assert get_token(url, cookies[2]).status_code == 403  # Carol: signed in, no organization
    assert flask(env, "sessions", "end", "--all", "--yes").stdout == "ended 1 session(s)\n"
    assert flask(env, "sessions", "count", "--all").stdout == "0\n"


def test_budget_and_check_on_redis(deployment):
    env, _, _ = deployment
    shown = flask(env, "budget", "show")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "scope: deployment (Redis)"
    # Three sign-ins (a code exchange and a membership list each) and one mint.
    assert lines[2] == "spent: 7 (sign-ins 6, other kinds 1)", shown.stdout
    checked = flask(env, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ok    redis           wrote, read and deleted a probe key" in checked.stdout
    assert "ok    session store   redis: wrote" in checked.stdout
    wrong = flask({**env, "REDIS_URL": "redis://127.0.0.1:1/0"}, "check")
    assert wrong.returncode == 1
    assert "FAIL  redis" in wrong.stdout and "FAIL  session store" in wrong.stdout
