"""Hostile requests that only a real server sees: oversized request lines and headers (refused
by gunicorn itself, gunicorn.conf.py limit_request_*) and chunked bodies (gunicorn decodes
them; the app never sees a Content-Length). The rest of the attack list is in
tests/integration/test_hostile.py.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devstack.stack import sign_in_over_http, start_service
from tests.seed_names import ALICE

LIMIT_LINE, LIMIT_FIELD, LIMIT_FIELDS = 4094, 8190, 100  # gunicorn.conf.py
MAX_BODY = 64 * 1024  # MAX_CONTENT_LENGTH


@pytest.fixture(scope="module")
def service(tmp_path_factory, emulator_proc):
    proc, url = start_service(tmp_path_factory.mktemp("service"), emulator_proc[1])
    yield proc, url
    proc.stop()


@pytest.fixture
def url(service, upstream) -> str:
    return service[1]


def send_raw(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes as they are; returns the status and the whole answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), answer


def request_head(path: str = "/healthz", method: str = "GET", *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return "".join(line + "\r\n" for line in lines).encode()


@pytest.mark.parametrize(
    "head, expected",
    [
        (request_head("/healthz", "GET", "X-Padding: " + "a" * (LIMIT_FIELD + 1)), 431),
        (request_head("/", "GET", "Cookie: gts=" + "a" * (LIMIT_FIELD + 1)), 431),
        (request_head("/healthz", "GET", *(f"X-H{i}: 1" for i in range(LIMIT_FIELDS + 1))), 431),
        (request_head("/healthz?" + "a" * (LIMIT_LINE + 1)), 414),
        (request_head("/login?next=/" + "a" * (LIMIT_LINE + 1)), 414),
    ],
    ids=["one huge header", "huge cookie", "too many headers", "long query", "long next"],
)
def test_oversized_request_heads_are_refused_by_gunicorn(service, url, head, expected):
    status, answer = send_raw(url, head)
    assert status in (400, expected), answer[:200]
    assert b"X-Request-ID" not in answer  # gunicorn answered; the app never ran
    # The worker that refused it is still serving.
    assert requests.get(url + "/healthz", timeout=5).status_code == 200


def test_oversized_heads_leave_no_server_error_behind(service, url):
    for _ in range(3):
        send_raw(url, request_head("/healthz", "GET", "X-Padding: " + "a" * 20_000))
    assert requests.get(url + "/healthz", timeout=5).status_code == 200
    log = service[0].output()
    assert '" 500 ' not in log and "Traceback" not in log


def _chunked(body: bytes, size: int = 8192) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def _alice_cookie(url: str) -> str:
    http = sign_in_over_http(url, ALICE)
    return "; ".join(f"{k}={v}" for k, v in http.cookies.get_dict().items())


def _switch_head(cookie: str, *extra: str) -> bytes:
    return request_head(
        "/api/organization",
        "POST",
        "X-CSRF: 1",
        "Content-Type: application/json",
        f"Cookie: {cookie}",
        *extra,
    )


def test_oversized_chunked_body_is_413(service, url):
    """Regression: the first 64 KiB were valid JSON, the rest was cut off and the switch
    answered 200."""
    body = json.dumps({"organization_id": "org_acme"}).encode() + b" " * MAX_BODY
    head = _switch_head(_alice_cookie(url), "Transfer-Encoding: chunked")
    status, answer = send_raw(url, head, _chunked(body))
    assert status == 413, answer[:300]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "payload_too_large"


def test_chunked_body_within_the_limit_is_read_whole(service, url):
    body = json.dumps({"organization_id": "org_acme"}).encode() + b" " * (MAX_BODY - 100)
    head = _switch_head(_alice_cookie(url), "Transfer-Encoding: chunked")
    status, answer = send_raw(url, head, _chunked(body))
    assert status == 200, answer[:300]


def test_content_length_beyond_the_limit_is_413_before_reading(service, url):
    head = _switch_head(_alice_cookie(url), f"Content-Length: {10 * 1024 * 1024}")
    status, answer = send_raw(url, head, b'{"organization_id": "org_acme"}')
    assert status == 413, answer[:300]


def test_a_url_cannot_forge_an_access_log_line(service, url):
    """gunicorn logs the decoded path: %0A would start a new line of our making."""
    proc, _ = service
    status, _ = send_raw(url, request_head("/x%0Aforged%0D%0A10.0.0.1%20%22GET%20/admin%22"))
    assert status == 404
    deadline = time.monotonic() + 5
    while "forged" not in proc.output():
        assert time.monotonic() < deadline, "the access line never appeared"
        time.sleep(0.05)
    lines = proc.output().splitlines()
    assert not [line for line in lines if line.startswith(("forged", "10.0.0.1"))]
    assert any("/x\\x0aforged\\x0d\\x0a10.0.0.1" in line for line in lines)


def test_backslash_nel_and_csi_in_a_url_are_written_as_escapes(service, url):
    """%5C%22 would end the quoted path early for a backslash-aware reader; %85 (NEL) and
    %9B (CSI) were written raw."""
    proc, _ = service
    status, _ = send_raw(url, request_head("/y%5C%22%20200%20-%85nel%9bcsi"))
    assert status == 404
    deadline = time.monotonic() + 5
    while "nel" not in proc.output():
        assert time.monotonic() < deadline, "the access line never appeared"
        time.sleep(0.05)
    [line] = [line for line in proc.output().splitlines() if "nel" in line]
    assert line.isprintable(), line
    assert '"GET /y\\\\\\" 200 -\\x85nel\\x9bcsi" 404' in line, line


def test_forwarded_headers_from_127_0_0_1_are_ignored_with_trusted_proxies_0(tmp_path, upstream):
    """gunicorn trusted X-Forwarded-Proto (and its SCRIPT_NAME header) from 127.0.0.1 by its
    own default, although TRUSTED_PROXIES=0 says no proxy is in front; and a Host outside
    ALLOWED_HOSTS chose the callback URL."""
    proc, url = start_service(
        tmp_path, upstream.url, APP_BASE_URL="", ALLOWED_HOSTS="127.0.0.1", WEB_CONCURRENCY=1
    )
    try:
        forged = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "Script-Name": "/x"}
        login = requests.get(url + "/login", headers=forged, allow_redirects=False, timeout=10)
        assert login.status_code == 302
        redirect_uri = parse_qs(urlsplit(login.headers["Location"]).query)["redirect_uri"][0]
        assert redirect_uri == url + "/callback"
        evil = requests.get(
            url + "/login", headers={"Host": "evil.example"}, allow_redirects=False, timeout=10
        )
        assert evil.status_code == 400 and evil.json()["error"] == "bad_request"
    finally:
        proc.stop()
