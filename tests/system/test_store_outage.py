"""A session store outage under gunicorn: HTML routes answer the 503 page (never a bare 500),
and a sign-out is never refused: the cookie goes at once, the WorkOS session ends, and the
record is deleted once the store is back.

Redis is saved before it is stopped and restarted from its dump: the store comes back with
the records it had, as a real one does.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests

from devstack.stack import start_redis, start_service
from tests.support import require_tool
from tests.system.service_http import cookie_content, get_token, signed_in

RETRY_INTERVAL = 5.0  # a worker's wait before it tries Redis again (see test_redis_gunicorn)
HTML = {"Accept": "text/html"}


@pytest.fixture
def outage(tmp_path, upstream):
    """A service on a Redis that can be stopped and restarted with its data."""
    require_tool("redis-server", "apt-get install redis-server")
    state: dict = {}
    state["redis"], redis_url = start_redis(tmp_path)
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    service, url = start_service(tmp_path, upstream.url, REDIS_URL=redis_url, WEB_CONCURRENCY=2)

    def stop() -> None:
        client = redis.Redis.from_url(redis_url)
        client.save()  # the dump the restart loads
        client.close()
        state["redis"].stop()
        time.sleep(1.1)  # no process copy of a record is left

    def restart() -> redis.Redis:
        state["redis"], _ = start_redis(tmp_path, port)
        return redis.Redis.from_url(redis_url)

    try:
        yield url, stop, restart
    finally:
        service.stop()
        state["redis"].stop()


def _is_503_page(response: requests.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Retry-After"] == "2"
    assert "session_store_unavailable" in response.text
    assert response.headers["X-Request-ID"] in response.text


def test_html_routes_answer_the_503_page_during_an_outage(outage):
    url, stop, _ = outage
    cookies = signed_in(url)
    csrf = cookie_content(cookies["gts"])["csrf_token"]
    stop()
    for _ in range(4):  # both workers
        _is_503_page(requests.get(url + "/", headers=HTML, cookies=cookies, timeout=10))
        _is_503_page(
            requests.get(url + "/login/organization", headers=HTML, cookies=cookies, timeout=10)
        )
        switch = requests.post(
            url + "/organization",
            data={"organization_id": "org_x", "csrf_token": csrf},
            headers=HTML,
            cookies=cookies,
            allow_redirects=False,
            timeout=10,
        )
        _is_503_page(switch)


def test_a_sign_out_during_an_outage_ends_everything_once_the_store_is_back(outage):
    url, stop, restart = outage
    cookies = signed_in(url)
    assert get_token(url, cookies).status_code == 200
    content = cookie_content(cookies["gts"])
    stop()
    # Without the CSRF token a sign-out is refused, outage or not.
    forged = requests.post(url + "/logout", cookies=cookies, allow_redirects=False, timeout=10)
    assert forged.status_code == 403

    answer = requests.post(
        url + "/logout",
        data={"csrf_token": content["csrf_token"]},
        cookies=cookies,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:300]
    location = urlsplit(answer.headers["Location"])
    assert location.path == "/user_management/sessions/logout"
    assert parse_qs(location.query)["session_id"] == [content["sid"]]
    cleared = answer.headers["Set-Cookie"]
    assert cleared.startswith("gts=;") and "Expires=Thu, 01 Jan 1970" in cleared

    raw = restart()
    assert raw.keys("gts:s:*")  # the record came back with the store
    deadline = time.monotonic() + RETRY_INTERVAL + 10
    while raw.keys("gts:s:*"):
        assert time.monotonic() < deadline, "the record was never deleted"
        time.sleep(0.2)
    for _ in range(4):  # the old cookie, replayed, is signed out on every worker
        gone = get_token(url, cookies)
        assert gone.status_code == 401 and gone.json()["error"] == "unauthenticated"
