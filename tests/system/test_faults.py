"""Upstream fault matrix (docs/reference/http-api.md#workos-failures): gunicorn + the emulator
process + error hooks.

Every row signs in a fresh session (its own cache key, so no cool-down leaks between rows),
makes WorkOS fail on `POST /client/token` through an emulator hook, and checks the answer:
the documented status and error code, `Retry-After` where documented, within BOUND seconds,
never 500, never a traceback (in the body or in the service's log), no secret in the body.

"Recovers at once" is measured precisely as: once WorkOS answers normally again, the first
token request sent after the cool-down the service announced has run out (its `Retry-After`,
or the broker's one-second cool-down when the answer carries none, counted from the moment
the failed answer arrived) succeeds, with exactly one WorkOS call. The broker starts the
cool-down before it answers, so that request can never land inside it.

The measured table (case, status, code, Retry-After, seconds, WorkOS calls) is printed at
the end of the module.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

import pytest
import requests

from devstack.control_client import API_KEY, MINT
from devstack.stack import Process, sign_in_over_http, start_emulator, start_service
from tests.emulator_control import EmulatorControl
from tests.seed_names import ACME, ALICE
from tests.support import emulator_tokens, note_secret

TIMEOUT = 1.0  # WORKOS_TIMEOUT_SECONDS for every service here
BOUND = 2 * TIMEOUT + 1.0  # no answer may take longer (two attempts at most, plus margin)
COOLDOWN = 1.0  # the broker's cool-down after a failure without Retry-After (tokens.py)
FALLBACK_TTL = 240  # TOKEN_FALLBACK_TTL_SECONDS, unlike the emulator's 300 s tokens
SETTINGS = dict(
    WEB_CONCURRENCY=1,  # one worker: one cache, so call counts and cached sessions are exact
    GUNICORN_THREADS=16,
    WORKOS_TIMEOUT_SECONDS=TIMEOUT,
    TOKEN_FALLBACK_TTL_SECONDS=FALLBACK_TTL,
    TOKEN_RATE_LIMIT="100000/minute",  # every row signs in as alice
)
JWT_SHAPE = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")  # header.payload.signature
ERROR_KEYS = {"error", "message", "request_id"}
TABLE: list[tuple[str, str, str, str, str, str]] = []


# -- plumbing -------------------------------------------------------------------------------


@dataclass
class Service:
    """The gunicorn service under test and the part of its log a test has not read yet."""

    proc: Process
    url: str
    emulator_url: str
    tokens: set[str] = field(default_factory=set)  # every token handed out so far
    offset: int = 0

    def log_since_mark(self) -> str:
        text = self.proc.output()
        return text[self.offset :]

    def mark(self) -> None:
        self.offset = len(self.proc.output())


@dataclass
class Answer:
    response: requests.Response
    seconds: float
    at: float  # time.monotonic() when the answer arrived

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def retry_after(self) -> str | None:
        return self.response.headers.get("Retry-After")


@pytest.fixture(scope="module")
def service(tmp_path_factory, emulator_proc):
    tmp = tmp_path_factory.mktemp("faults")
    proc, url = start_service(tmp, emulator_proc[1], **SETTINGS)
    try:
        yield Service(proc, url, emulator_proc[1])
    finally:
        proc.stop()


@pytest.fixture(scope="module", autouse=True)
def table(request):
    """Print the measured fault matrix once the module is done."""
    yield
    if not TABLE:
        return
    header = ("case", "status", "error code", "Retry-After", "seconds", "WorkOS calls")
    widths = [max(len(row[i]) for row in [header, *TABLE]) for i in range(len(header))]
    lines = [
        " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in TABLE
    ]
    rule = "-+-".join("-" * w for w in widths)
    text = "\n".join([" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), rule])
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n\nUpstream fault matrix (WORKOS_TIMEOUT_SECONDS=1, one gunicorn worker)")
        print(text + "\n" + "\n".join(lines))


@pytest.fixture(autouse=True)
def clean_log(request):
    """No traceback and no 500 may reach the service's log during a test."""
    service = request.getfixturevalue("service") if "service" in request.fixturenames else None
    if service is not None:
        service.mark()
    yield
    if service is not None:
        assert_clean_log(service.log_since_mark())


def assert_clean_log(text: str) -> None:
    assert "Traceback" not in text, text
    assert '"unhandled error"' not in text, text
    assert not re.search(r'"GET /api/graphql-token" 500 ', text), text


def record(case: str, answer: Answer, calls: int | str) -> None:
    body = answer.response.json() if answer.response.content else {}
    code = body.get("error", "-") if answer.status != 200 else "(token)"
    TABLE.append(
        (
            case,
            str(answer.status),
            code,
            answer.retry_after or "-",
            f"{answer.seconds:.2f}",
            str(calls),
        )
    )


def sign_in(service: Service) -> requests.Session:
    return sign_in_over_http(service.url, ALICE)


def fetch(service: Service, http: requests.Session) -> Answer:
    started = time.monotonic()
    response = http.get(service.url + "/api/graphql-token", headers={"X-CSRF": "1"}, timeout=30)
    now = time.monotonic()
    if response.status_code == 200:
        service.tokens.add(response.json()["token"])
    return Answer(response, now - started, now)


def assert_error(
    service: Service,
    answer: Answer,
    status: int,
    code: str,
    *,
    retry_after: bool,
) -> None:
    """The documented answer: status, code, Retry-After or none, bounded, nothing leaked."""
    response = answer.response
    assert answer.status == status, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and body["error"] == code, body
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert_no_secret(service, response)
    if retry_after:
        assert response.headers["Retry-After"].isdigit(), response.headers
        assert 1 <= int(response.headers["Retry-After"]) <= 60, response.headers
    else:
        assert "Retry-After" not in response.headers, response.headers
    assert answer.seconds < BOUND, f"answered after {answer.seconds:.2f}s"


def assert_no_secret(service: Service, response: requests.Response) -> None:
    """An error answer carries neither the API key nor any token (nor anything JWT-shaped)."""
    text = response.text + "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    assert "Traceback" not in text
    assert API_KEY not in text, "the API key leaked into an error response"
    assert not JWT_SHAPE.search(text), "a JWT-shaped string leaked into an error response"
    tokens = service.tokens | set(emulator_tokens(service.emulator_url))
    leaked = [token for token in tokens if token in text]
    assert not leaked, "a minted token leaked into an error response"


def wait_calls(upstream: EmulatorControl, expected: int, timeout: float = 5.0) -> int:
    """WorkOS calls seen once the emulator has finished the ones still in progress."""
    deadline = time.monotonic() + timeout
    calls = upstream.count(MINT)
    while calls < expected and time.monotonic() < deadline:
        time.sleep(0.05)
        calls = upstream.count(MINT)
    return calls


def recovers(service: Service, upstream: EmulatorControl, http, failed: Answer) -> Answer:
    """WorkOS is healthy again: the first request after the cool-down ran out answers 200."""
    upstream.clear_hooks()
    cooldown = int(failed.retry_after) if failed.retry_after else COOLDOWN
    # 20 ms for the gap between wall time (the broker's clock) and monotonic time.
    time.sleep(max(0.0, failed.at + cooldown + 0.02 - time.monotonic()))
    before = upstream.count(MINT)
    answer = fetch(service, http)
    assert answer.status == 200, answer.response.text
    assert upstream.count(MINT) == before + 1
    assert answer.seconds < BOUND
    return answer


def cached_session(service: Service, upstream: EmulatorControl) -> tuple[requests.Session, str]:
    """A session whose token is already in the cache, before the outage starts."""
    http = sign_in(service)
    answer = fetch(service, http)
    assert answer.status == 200, answer.response.text
    return http, answer.response.json()["token"]


def assert_still_served(service: Service, upstream: EmulatorControl, http, token: str) -> None:
    """A cached session keeps its token during the outage, without calling WorkOS."""
    before = upstream.count(MINT)
    answer = fetch(service, http)
    assert answer.status == 200 and answer.response.json()["token"] == token
    assert upstream.count(MINT) == before


# -- 5xx ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, calls",
    [(500, 1), (502, 2), (503, 2), (504, 2)],
    ids=["500-not-retried", "502", "503", "504"],
)
def test_persistent_5xx_is_503_with_retry_after(service, upstream, status, calls):
    """WorkOS keeps failing: 503 upstream_unavailable + Retry-After; cached sessions go on."""
    cached, token = cached_session(service, upstream)
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", status)

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert upstream.count(MINT) == calls  # 502/503/504: one quick retry; 500: none
    record(f"{status} persistent", failed, calls)

    assert_still_served(service, upstream, cached, token)
    recovers(service, upstream, http, failed)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_transient_5xx_is_retried_once_and_succeeds(service, upstream, status):
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", status, count=1)

    answer = fetch(service, http)
    assert answer.status == 200, answer.response.text
    assert answer.seconds < BOUND
    assert upstream.count(MINT) == 2
    record(f"{status} once, then 201", answer, 2)


def test_transient_500_is_not_retried_and_recovers_after_the_cooldown(service, upstream):
    """500 is a WorkOS bug, not an outage: no quick retry, so one failed answer."""
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 500, count=1)

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert upstream.count(MINT) == 1
    record("500 once, then 201", failed, 1)
    recovers(service, upstream, http, failed)


def test_503_with_a_long_retry_after_is_not_retried_and_passed_on(service, upstream):
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 503, headers={"Retry-After": "2"})

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert failed.retry_after == "2"
    assert upstream.count(MINT) == 1  # a Retry-After longer than the quick delay: no retry
    record("503 + Retry-After: 2", failed, 1)
    recovers(service, upstream, http, failed)


def test_slow_5xx_twice_stays_within_the_bound(service, upstream):
    """The worst case that still gets a quick retry: two slow 503s, just under the timeout."""
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 503, delay_ms=int(TIMEOUT * 900))

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert wait_calls(upstream, 2) == 2
    record(f"503 after {TIMEOUT * 0.9:g} s, twice", failed, 2)


# -- 429 ------------------------------------------------------------------------------------


def test_429_passes_retry_after_on_and_cools_the_key_down(service, upstream):
    """429 + Retry-After: 3 is answered at once (never slept on) and honoured by the broker."""
    cached, token = cached_session(service, upstream)
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 429, headers={"Retry-After": "3"}, count=1)

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert failed.retry_after == "3"
    assert failed.seconds < TIMEOUT  # not slept on
    assert upstream.count(MINT) == 1
    record("429 + Retry-After: 3", failed, 1)

    # Inside the three-second cool-down: refused without calling WorkOS (which is healthy).
    again = fetch(service, http)
    assert_error(service, again, 503, "upstream_unavailable", retry_after=True)
    assert 1 <= int(again.retry_after) <= 3
    assert upstream.count(MINT) == 1
    record("  same session, in cool-down", again, 0)

    assert_still_served(service, upstream, cached, token)
    recovers(service, upstream, http, failed)


@pytest.fixture
def own_service(tmp_path, emulator_proc):
    """A service of this test's own: a 429 pauses every mint of a service for up to 60 s."""
    proc, url = start_service(tmp_path, emulator_proc[1], **SETTINGS)
    try:
        yield Service(proc, url, emulator_proc[1])
    finally:
        proc.stop()


def test_429_with_a_huge_retry_after_is_capped(own_service, upstream):
    http, other = sign_in(own_service), sign_in(own_service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 429, headers={"Retry-After": "86400"}, count=1)

    failed = fetch(own_service, http)
    assert_error(own_service, failed, 503, "upstream_unavailable", retry_after=True)
    assert int(failed.retry_after) <= 60
    assert upstream.count(MINT) == 1
    record("429 + Retry-After: 86400", failed, 1)
    # Every mint of the service is paused (at most 60 s): another session is refused at once.
    paused = fetch(own_service, other)
    assert_error(own_service, paused, 503, "upstream_unavailable", retry_after=True)
    assert 50 <= int(paused.retry_after) <= 60
    assert upstream.count(MINT) == 1
    record("  another session, mints paused", paused, 0)
    # Recovery would take the capped pause (60 s); the other rows cover it.


def test_429_with_an_http_date_retry_after(service, upstream):
    http = sign_in(service)
    upstream.clear_log()
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    upstream.hook("POST", "/client/token", 429, headers={"Retry-After": when}, count=1)

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert 3 <= int(failed.retry_after) <= 6  # five seconds from now, whole and rounded up
    assert upstream.count(MINT) == 1
    record("429 + Retry-After: <date +5 s>", failed, 1)
    recovers(service, upstream, http, failed)  # mints stay paused until the date


def test_429_without_retry_after(service, upstream):
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 429, count=1)

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert upstream.count(MINT) == 1
    record("429, no Retry-After", failed, 1)
    recovers(service, upstream, http, failed)


# -- transport ------------------------------------------------------------------------------


def test_slower_than_the_timeout_is_503_within_the_bound(service, upstream):
    """A read timeout on the mint is not retried (docs/workos.md#how-every-call-is-made): one
    attempt, then 503."""
    cached, token = cached_session(service, upstream)
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", delay_ms=int(TIMEOUT * 1000 + 1500))

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert failed.seconds >= TIMEOUT * 0.9
    assert_still_served(service, upstream, cached, token)
    # The emulator logs the slow call only when its delay is over.
    calls = wait_calls(upstream, 1)
    time.sleep(0.3)
    assert upstream.count(MINT) == calls == 1
    record(f"slower than {TIMEOUT:g} s timeout", failed, calls)
    recovers(service, upstream, http, failed)


def test_connection_dropped_before_the_answer(service, upstream):
    """The socket is cut after WorkOS read the request: the POST is not repeated."""
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", drop=True)

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    calls = wait_calls(upstream, 1)
    assert calls == 1
    record("connection dropped, no answer", failed, calls)
    recovers(service, upstream, http, failed)


def test_connection_dropped_mid_body(service, upstream):
    """Status and headers arrive, then the body stops short of its Content-Length."""
    http = sign_in(service)
    upstream.clear_log()
    opaque = "opaque-" + secrets.token_hex(16)
    note_secret(opaque)
    service.tokens.add(opaque)
    upstream.hook(
        "POST", "/client/token", 201, body={"token": opaque}, headers={"Content-Length": "4096"}
    )

    failed = fetch(service, http)
    assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
    assert upstream.count(MINT) == 1
    record("connection dropped mid-body", failed, 1)
    recovers(service, upstream, http, failed)


def test_connection_refused_then_emulator_back(tmp_path):
    """WorkOS unreachable (its process stopped): 503 fast; back at once when it returns."""
    emulator, emulator_url = start_emulator(tmp_path)
    port = int(emulator_url.rsplit(":", 1)[1])
    service_proc = None
    try:
        service_proc, url = start_service(tmp_path, emulator_url, **SETTINGS)
        service = Service(service_proc, url, emulator_url)
        upstream = EmulatorControl(emulator_url)
        cached, token = cached_session(service, upstream)
        http = sign_in(service)
        service.mark()
        assert emulator.stop() is not None

        failed = fetch(service, http)
        assert_error(service, failed, 503, "upstream_unavailable", retry_after=True)
        attempts = workos_attempts(url, "connection_error")
        assert attempts == 2  # refused before anything was sent: retried once
        record("connection refused (stopped)", failed, f"0 ({attempts} refused)")

        # Cached sessions are untouched by the outage.
        answer = fetch(service, cached)
        assert answer.status == 200 and answer.response.json()["token"] == token

        emulator, _ = start_emulator(tmp_path, port=port)
        upstream = EmulatorControl(emulator_url)
        upstream.clear_log()
        recovers(service, upstream, http, failed)
        assert_clean_log(service.log_since_mark())
    finally:
        if service_proc is not None:
            service_proc.stop()
        emulator.stop()


def workos_attempts(url: str, outcome: str) -> int:
    """WorkOS mint attempts with one outcome, from the service's /metrics."""
    text = requests.get(url + "/metrics", timeout=10).text
    pattern = (
        r'^gts_workos_requests_total\{route="POST /client/token",status="'
        + re.escape(outcome)
        + r'"\} (\S+)$'
    )
    found = re.search(pattern, text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


# -- 4xx ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_api_key_is_502_misconfigured_and_logged(service, upstream, status):
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", status, headers={"X-Request-ID": f"req_fault_{status}"})

    failed = fetch(service, http)
    assert_error(service, failed, 502, "upstream_misconfigured", retry_after=False)
    assert upstream.count(MINT) == 1
    record(f"{status} (bad key / permissions)", failed, 1)
    log = service.log_since_mark()
    errors = [line for line in log.splitlines() if '"level": "ERROR"' in line]
    assert any(
        "WorkOS rejected our credentials" in line and f"req_fault_{status}" in line
        for line in errors
    ), log
    if status == 401:
        recovers(service, upstream, http, failed)


@pytest.mark.parametrize("status", [400, 404, 422])
def test_membership_gone_is_403_and_clears_the_organization(service, upstream, status):
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", status, count=1)

    failed = fetch(service, http)
    assert_error(service, failed, 403, "not_a_member", retry_after=False)
    assert upstream.count(MINT) == 1
    record(f"{status} (membership gone)", failed, 1)

    # The session no longer acts for the organization: no further WorkOS call.
    again = fetch(service, http)
    assert_error(service, again, 403, "no_organization", retry_after=False)
    assert upstream.count(MINT) == 1
    me = http.get(service.url + "/api/session", headers={"X-CSRF": "1"}, timeout=10).json()
    assert me["organization"] is None

    if status != 404:
        return  # one recovery is enough for the group
    # Back in: switch to the organization again once the key's cool-down is over.
    time.sleep(max(0.0, failed.at + COOLDOWN + 0.02 - time.monotonic()))
    switched = http.post(
        service.url + "/api/organization",
        json={"organization_id": ACME},
        headers={"X-CSRF": "1"},
        timeout=10,
    )
    assert switched.status_code == 200, switched.text
    assert fetch(service, http).status == 200


def test_membership_removed_for_real_is_403(service, upstream):
    """No hook: the emulator itself answers 422 for a user who left the organization."""
    http = sign_in(service)
    upstream.clear_log()
    upstream.remove_membership("user_alice", ACME)

    failed = fetch(service, http)
    assert_error(service, failed, 403, "not_a_member", retry_after=False)
    assert upstream.count(MINT) == 1
    record("membership removed (real 422)", failed, 1)


# -- 2xx that is not a token ----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [None, {}, {"token": ""}, {"token": 42}, {"token": None}, {"token": ["x"]}, ["x"], "x"],
    ids=["default", "empty", "blank", "number", "null", "list", "array", "string"],
)
def test_2xx_without_a_token_is_502_upstream_error(service, upstream, body):
    http = sign_in(service)
    upstream.clear_log()
    upstream.hook("POST", "/client/token", 201, body=body)

    failed = fetch(service, http)
    assert_error(service, failed, 502, "upstream_error", retry_after=False)
    assert upstream.count(MINT) == 1
    record(f"201 body {body!r}"[:40], failed, 1)
    if body is None:  # one recovery is enough: every row of this group fails the same way
        recovers(service, upstream, http, failed)


def test_200_with_a_token_is_served(service, upstream):
    http = sign_in(service)
    upstream.clear_log()
    token = "opaque-200-" + secrets.token_hex(16)
    note_secret(token)
    upstream.hook("POST", "/client/token", 200, body={"token": token}, count=1)

    answer = fetch(service, http)
    assert answer.status == 200 and answer.response.json()["token"] == token
    assert upstream.count(MINT) == 1
    record("200 with a token", answer, 1)


def test_opaque_token_is_served_and_cached_for_the_fallback_ttl(service, upstream):
    http = sign_in(service)
    upstream.clear_log()
    opaque = "opaque-" + secrets.token_hex(24)
    note_secret(opaque)
    upstream.hook("POST", "/client/token", 201, body={"token": opaque}, count=1)

    answer = fetch(service, http)
    assert answer.status == 200, answer.response.text
    body = answer.response.json()
    assert body["token"] == opaque
    assert FALLBACK_TTL - 3 <= body["expires_in"] <= FALLBACK_TTL
    record("201 opaque non-JWT token", answer, 1)

    again = fetch(service, http)
    assert again.status == 200 and again.response.json()["token"] == opaque
    assert upstream.count(MINT) == 1  # served from the cache, not minted again
    assert opaque in emulator_tokens(upstream.url)  # what the secrets check reads


# -- single flight --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook, calls",
    [
        ({"status": 503, "delay_ms": 400}, 2),  # slow 503, retried once by the leader
        ({"delay_ms": int(TIMEOUT * 1000 + 1000)}, 1),  # read timeout, not retried
    ],
    ids=["slow-503", "timeout"],
)
def test_single_flight_waiters_share_one_failure(service, upstream, hook, calls):
    http = sign_in(service)
    cookies = http.cookies.get_dict()
    upstream.clear_log()
    upstream.hook("POST", "/client/token", **hook)
    callers = 12
    barrier = threading.Barrier(callers)
    answers: list[Answer] = []

    def call() -> None:
        with requests.Session() as client:
            client.cookies.update(cookies)
            barrier.wait(timeout=10)
            answers.append(fetch(service, client))

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == callers
    for answer in answers:
        assert_error(service, answer, 503, "upstream_unavailable", retry_after=True)
    seen = wait_calls(upstream, calls)
    time.sleep(0.3)
    assert upstream.count(MINT) == seen == calls
    slowest = max(answers, key=lambda a: a.seconds)
    what = "slow 503" if "status" in hook else "slower than the timeout"
    record(f"{callers} waiters, one {what} (slowest)", slowest, calls)
