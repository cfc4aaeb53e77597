"""SECRET_KEY rotation (SECRET_KEY_FALLBACKS): gunicorn restarted under a new key keeps every
session, the sealed values and the Redis names made under the old one, and mints nothing new."""

from __future__ import annotations

import pytest
import requests

from devstack.control_client import MINT
from devstack.stack import sign_in_over_http, start_redis, start_service
from tests.seed_names import ALICE
from tests.support import require_tool

OLD = "old-secret-key-0123456789abcdef0123456789"
NEW = "new-secret-key-9876543210fedcba9876543210"
CSRF = {"X-CSRF": "1"}


def _token(url: str, cookies) -> requests.Response:
    return requests.get(url + "/api/graphql-token", headers=CSRF, cookies=cookies, timeout=10)


def _rotate(tmp_path, upstream, **env) -> tuple[dict, str, str]:
    """Sign alice in under OLD, restart under NEW with OLD as fallback; (cookies, tokens)."""
    proc, url = start_service(tmp_path, upstream.url, SECRET_KEY=OLD, WEB_CONCURRENCY=1, **env)
    try:
        cookies = sign_in_over_http(url, ALICE).cookies.get_dict()
        before = _token(url, cookies)
        assert before.status_code == 200, before.text
    finally:
        assert proc.stop() == 0
    port = int(url.rsplit(":", 1)[1])
    rotated = {"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": OLD, "WEB_CONCURRENCY": 1, **env}
    proc, url = start_service(tmp_path, upstream.url, port=port, **rotated)
    try:
        upstream.clear_log()
        after = _token(url, cookies)
        assert after.status_code == 200, after.text  # nobody signed out
        session = requests.get(url + "/api/session", headers=CSRF, cookies=cookies, timeout=10)
        assert session.status_code == 200 and session.json()["user"]["email"] == ALICE
        again = _token(url, cookies)
        assert again.json()["token"] == after.json()["token"]
        mints = upstream.count(MINT)
        # A sign-out under the new key still ends the session signed under the old one.
        out = requests.post(url + "/logout", headers=CSRF, cookies=cookies, timeout=10)
        assert out.status_code in (200, 302)
        assert _token(url, cookies).status_code == 401
    finally:
        assert proc.stop() == 0
    return mints, before.json()["token"], after.json()["token"]


def test_rotation_keeps_sqlite_sessions(tmp_path, upstream):
    """The SQLite record (its name and seal made under OLD) is found and moved; only the
    in-process token cache is lost with the restart, as on any restart: one mint."""
    mints, _, _ = _rotate(tmp_path, upstream)
    assert mints == 1


def test_rotation_keeps_redis_sessions_and_cached_tokens(tmp_path, upstream):
    """With Redis the token cached under OLD's names is served after the restart: no mint."""
    require_tool("redis-server", "apt-get install redis-server")
    redis_proc, redis_url = start_redis(tmp_path)
    try:
        mints, before, after = _rotate(tmp_path, upstream, REDIS_URL=redis_url)
    finally:
        redis_proc.stop()
    assert mints == 0
    assert after == before


@pytest.mark.parametrize("fallbacks", ["", "another-old-key-0123456789abcdef01234567"])
def test_without_the_old_key_sessions_end(tmp_path, upstream, fallbacks):
    """The control: a new key without the old one in SECRET_KEY_FALLBACKS signs everyone out."""
    proc, url = start_service(tmp_path, upstream.url, SECRET_KEY=OLD, WEB_CONCURRENCY=1)
    try:
        cookies = sign_in_over_http(url, ALICE).cookies.get_dict()
    finally:
        proc.stop()
    env = {"SECRET_KEY": NEW, "SECRET_KEY_FALLBACKS": fallbacks, "WEB_CONCURRENCY": 1}
    proc, url = start_service(tmp_path, upstream.url, port=int(url.rsplit(":", 1)[1]), **env)
    try:
        assert _token(url, cookies).status_code == 401
    finally:
        proc.stop()
