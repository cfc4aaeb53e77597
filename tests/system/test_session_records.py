"""Server-side session records under gunicorn (issue 9): sign-out sticks, cookies stay small.

Each test starts its own processes: the service is the Procfile command on a free loopback
port, with the SQLite store (SESSION_DB_PATH in the test's directory) or REDIS_URL pointing at
a real redis-server. Figures are printed; run with `-n 0 -s` to see them.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time

import pytest
import requests

from devstack.control_client import MINT
from devstack.stack import sign_in_over_http, start_emulator, start_redis, start_service
from tests.seed_names import ALICE
from tests.support import require_tool
from tests.system.service_http import CSRF, cookie_content, get_token, signed_in

# The token route is rate limited per user; these tests send more on purpose.
BURST_OK = {"TOKEN_RATE_LIMIT": "100000/minute"}
# How late a change made by one process is seen by another (Sessions' in-process copy).
COPY_SECONDS = 1.0
SIGN_OUTS = 1000
COOKIE_BOUND = 1024  # bytes: every Set-Cookie the service sends for the 200-membership user
MEMBERSHIPS = 200


def whoami(url: str, cookies: dict[str, str]) -> requests.Response:
    """GET /api/session over a new connection."""
    return requests.get(url + "/api/session", headers=CSRF, cookies=cookies, timeout=30)


def sign_out(url: str, cookies: dict[str, str]) -> None:
    """POST /logout with the cookies, as the page's sign-out button does."""
    response = requests.post(
        url + "/logout", headers=CSRF, cookies=cookies, allow_redirects=False, timeout=30
    )
    assert response.status_code == 302, response.text


def assert_unauthenticated(response: requests.Response) -> None:
    # The status and error code only: a 200's body holds a token, kept out of the output.
    error = response.json().get("error") if response.status_code != 200 else None
    assert (response.status_code, error) == (401, "unauthenticated")


def sign_in_and_out(url: str) -> None:
    """One more browser signs in and out for real (over HTTP, through gunicorn)."""
    with requests.Session() as http:
        sign_in_over_http(url, ALICE, session=http)
        assert "session_id" in cookie_content(http.cookies.get("gts", ""))
        response = http.post(url + "/logout", headers=CSRF, allow_redirects=False, timeout=30)
        assert response.status_code == 302
        assert "session_id" not in cookie_content(http.cookies.get("gts", ""))


@pytest.fixture
def services(tmp_path):
    """Start gunicorn masters (stopped afterwards, by process id); returns (proc, url)."""
    started = []

    def start(upstream_url: str, port: int | None = None, **env):
        proc, url = start_service(tmp_path, upstream_url, port=port, **{**BURST_OK, **env})
        started.append(proc)
        return proc, url

    yield start
    for proc in started:
        proc.stop()


def poll_until_401(urls: list[str], cookies: dict[str, str], bound: float) -> float | None:
    """When the last 200 came (seconds; None: none), watching every answer (new
    connections, every master) until bound + COPY_SECONDS; fails on a 200 past bound."""
    started = time.monotonic()
    last_ok = None
    while time.monotonic() - started < bound + COPY_SECONDS:
        for url in urls:
            response = get_token(url, cookies)
            if response.status_code != 401:
                assert response.status_code == 200, response.status_code
                last_ok = time.monotonic() - started
                assert last_ok <= bound, f"still signed in on {url} after {last_ok:.2f} s"
            else:
                assert response.json()["error"] == "unauthenticated"
        time.sleep(0.02)
    return last_ok


def seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f} s"


# -- 1. SQLite, 2 workers: a signed-out cookie stays signed out ----------------------------


@pytest.mark.timeout(300)  # 1,000 real sign-ins on a shared 2-core machine
def test_sqlite_signed_out_copy_stays_out_after_1000_sign_outs_and_a_restart(
    tmp_path, upstream, services
):
    # The old deny-list was an LRU of TOKEN_CACHE_MAXSIZE: far fewer than the sign-outs here,
    # so any state kept in a bounded per-process cache would let the copy back in.
    small = {"WEB_CONCURRENCY": 2, "TOKEN_CACHE_MAXSIZE": 100}
    proc, url = services(upstream.url, **small)
    port = int(url.rsplit(":", 1)[1])
    victim = signed_in(url)
    kept = signed_in(url)
    assert get_token(url, victim).status_code == 200
    before, seen_at = whoami(url, kept).json(), time.monotonic()
    copy = dict(victim)  # what an attacker took before the sign-out
    sign_out(url, victim)
    # The other worker may serve its copy of the record (at most COPY_SECONDS old) until then.
    late = poll_until_401([url], copy, COPY_SECONDS + 0.5)
    print(f"\nsign-out on one worker, replay: last 200 at {seconds(late)}, then only 401")

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: sign_in_and_out(url), range(SIGN_OUTS)))
    took = time.monotonic() - started
    print(
        f"\n{SIGN_OUTS} real sign-in + sign-out over HTTP (2 workers, 8 client threads): "
        f"{took:.1f} s ({SIGN_OUTS / took:.0f}/s)"
    )
    # Replayed on new connections, so both workers answer some of them.
    replays = [get_token(url, copy) for _ in range(20)]
    for response in replays:
        assert_unauthenticated(response)
    assert_unauthenticated(whoami(url, copy))

    assert proc.stop() == 0
    _, url = services(upstream.url, port=port, **small)
    assert url.endswith(f":{port}")
    upstream.clear_log()
    for _ in range(20):
        assert_unauthenticated(get_token(url, copy))
    assert upstream.count(MINT) == 0

    # Records are on disk: the session that was not signed out is the same one after it.
    after = whoami(url, kept)
    assert after.status_code == 200 and "Set-Cookie" not in after.headers
    assert after.json()["user"] == before["user"]
    assert after.json()["organization"] == before["organization"]
    # The same record: its expiry did not move (a new sign-in would have a full lifetime).
    elapsed = time.monotonic() - seen_at
    assert abs(before["expires_in"] - after.json()["expires_in"] - elapsed) <= 2
    assert get_token(url, kept).status_code == 200


# -- 2. Redis, two masters: sign-out on A is sign-out on B, and FLUSHALL signs nobody in ----


def test_redis_sign_out_on_a_is_sign_out_on_b_and_flushall_signs_out_never_in(
    tmp_path, upstream, services
):
    require_tool("redis-server", "apt-get install redis-server")
    redis_proc, redis_url = start_redis(tmp_path)
    try:
        import redis

        _, a = services(upstream.url, REDIS_URL=redis_url, WEB_CONCURRENCY=2)
        _, b = services(upstream.url, REDIS_URL=redis_url, WEB_CONCURRENCY=2)
        victim, unseen = signed_in(a), signed_in(a)
        others = [signed_in(a), signed_in(b), signed_in(b)]
        for url in (a, b):  # every master has the victim's record in its copy
            for _ in range(4):
                assert get_token(url, victim).status_code == 200
        for cookies in others:
            assert (
                get_token(a, cookies).status_code == 200
                and get_token(b, cookies).status_code == 200
            )

        sign_out(a, victim)
        sign_out(a, unseen)
        assert_unauthenticated(get_token(b, unseen))  # B never read it: no copy to outlive
        late = poll_until_401([b, a], victim, COPY_SECONDS + 0.5)
        print(f"\nsign-out on A, replay on B: last 200 at {seconds(late)}, then only 401")

        for cookies in others:  # fresh copies everywhere: the worst case for FLUSHALL
            assert (
                get_token(a, cookies).status_code == 200
                and get_token(b, cookies).status_code == 200
            )
        client = redis.Redis.from_url(redis_url)
        try:
            client.flushall()
        finally:
            client.close()
        flushed = time.monotonic()
        for url in (a, b):
            assert_unauthenticated(get_token(url, victim))
            assert_unauthenticated(get_token(url, unseen))
        # No record means signed out: every other session ends within the copy's age, and
        # nobody is signed back in (watched for a while on both masters).
        lasts = [poll_until_401([a, b], cookies, COPY_SECONDS + 0.5) for cookies in others]
        assert time.monotonic() - flushed >= COPY_SECONDS
        latest = max((x for x in lasts if x is not None), default=None)
        print(f"after FLUSHALL, other sessions: last 200 at {seconds(latest)}, then only 401")
        for cookies in [victim, unseen, *others]:
            for url in (a, b):
                assert_unauthenticated(whoami(url, cookies))

        # The service itself goes on: a new sign-in works on both masters.
        fresh = signed_in(b)
        assert get_token(a, fresh).status_code == 200 and get_token(b, fresh).status_code == 200
    finally:
        redis_proc.stop()


# -- 3. Every cookie stays under 1 KB for a user with 200 memberships -----------------------

WORDS = (
    "Northwind Contoso Fabrikam Tailspin Wingtip Litware Proseware Adventure Alpine Coho "
    "Humongous Lucerne Margie Trey Wide World Fourth Coffee Graphic Design Institute"
).split()


def big_seed() -> dict:
    """Alice, member of 200 organizations with long, real-looking names."""
    organizations = [
        {
            "id": f"org_{n:03d}_{'x' * 20}",
            "name": f"{WORDS[n % len(WORDS)]} {WORDS[(n * 7) % len(WORDS)]} "
            f"International Holdings & Partners, Division {n:03d} (EMEA)",
        }
        for n in range(MEMBERSHIPS)
    ]
    return {
        "organizations": organizations,
        "users": [
            {"id": "user_alice", "email": ALICE, "first_name": "Alice", "last_name": "Anders"}
        ],
        "memberships": [
            {"user_id": "user_alice", "organization_id": o["id"], "role": "member"}
            for o in organizations
        ],
    }


class CookieMeter:
    """A requests.Session that records every Set-Cookie header the service sends."""

    def __init__(self, service_url: str):
        self.url = service_url
        self.http = requests.Session()
        self.seen: list[tuple[str, int]] = []  # (step, bytes of the header value; 0: none)

    def call(self, step: str, method: str, url: str, **kwargs) -> requests.Response:
        response = self.http.request(method, url, allow_redirects=False, timeout=30, **kwargs)
        if url.startswith(self.url):
            headers = response.raw.headers.getlist("Set-Cookie")
            self.seen += [(step, len(h.encode())) for h in headers] or [(step, 0)]
        return response


def test_every_cookie_stays_under_1kb_with_200_memberships(tmp_path, services):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(big_seed()))
    emulator, emulator_url = start_emulator(tmp_path, "--seed", str(seed), "--quiet")
    try:
        _, url = services(emulator_url)
        meter = CookieMeter(url)
        login = meter.call("/login", "GET", url + "/login", params={"login_hint": ALICE})
        authorize = meter.call("authorize", "GET", login.headers["Location"])
        callback = meter.call("/callback", "GET", authorize.headers["Location"])
        assert callback.status_code == 302
        # Several memberships and no organization picked by WorkOS: the picker.
        assert callback.headers["Location"].endswith("/login/organization")
        picker = meter.call("picker (GET)", "GET", url + "/login/organization")
        assert picker.status_code == 200 and picker.text.count('name="organization_id"') == 200
        form_token = re.search(r'name="csrf_token" value="([^"]+)"', picker.text).group(1)
        orgs = big_seed()["organizations"]
        chosen = meter.call(
            "picker (POST)",
            "POST",
            url + "/login/organization",
            data={"organization_id": orgs[17]["id"], "csrf_token": form_token},
        )
        assert chosen.status_code == 302, chosen.text
        first = meter.call("token route", "GET", url + "/api/graphql-token", headers=CSRF)
        assert first.status_code == 200 and first.json()["organization_id"] == orgs[17]["id"]
        me = meter.call("/api/session", "GET", url + "/api/session", headers=CSRF)
        assert len(me.json()["organizations"]) == MEMBERSHIPS
        switched = meter.call(
            "switch",
            "POST",
            url + "/api/organization",
            headers=CSRF,
            json={"organization_id": orgs[199]["id"]},
        )
        assert switched.status_code == 200, switched.text
        again = meter.call("token route", "GET", url + "/api/graphql-token", headers=CSRF)
        assert again.json()["organization_id"] == orgs[199]["id"]
        # Worst case on top: five tabs start a sign-in with the longest `next` kept (400).
        for n in range(5):
            meter.call(f"/login (tab {n + 1})", "GET", url + "/login?next=/" + "a" * 399)
        page = meter.call("/ (page)", "GET", url + "/")
        assert page.status_code == 200
        sign_out = meter.call("/logout", "POST", url + "/logout", headers=CSRF)
        assert sign_out.status_code == 302

        assert any(size for _, size in meter.seen), "the service set no cookie"
        worst: dict[str, int] = {}
        for step, size in meter.seen:
            worst[step] = max(worst.get(step, 0), size)
        print(f"\nSet-Cookie sizes, user with {MEMBERSHIPS} memberships (bytes, whole header):")
        print("| step | largest Set-Cookie |\n|---|---|")
        for step, size in worst.items():
            print(f"| {step} | {size or 'none set'} |")
        too_big = [(step, size) for step, size in meter.seen if size >= COOKIE_BOUND]
        assert not too_big, too_big
    finally:
        emulator.stop()
