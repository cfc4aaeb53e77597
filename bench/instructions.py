"""Instructions per request under callgrind: the hot path's cost without the machine's noise.

Not part of the default run (`python -m bench instructions`; needs Debian's valgrind). This
machine's speed swings by up to 2x from second to second, so small changes to the cache-hit
path drown in wrk's figures. Instructions do not: the app is built by create_app() in a
child process run under callgrind, its WSGI callable is driven directly (no sockets, no
gunicorn), and callgrind counts only while each kind of request runs. Two runs give the same
figures to within a fraction of a percent.

Kinds: `/healthz` without a cookie (the throughput target's reference), `/healthz` with the
session cookie, a cache hit of the token route, and the same hit asked with an AuthKit access
token (`AUTHKIT_BEARER=true`). The child signs in through the emulator first, both ways (at
full speed: callgrind counts nothing until told to).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.report import Row
from bench.stack import HIGH_RATE_LIMIT, TOKEN_ROUTE, Stack, bench_user
from devstack.stack import service_env

REQUESTS = 1000  # per kind, after a warm-up of WARMUP
WARMUP = 100
KINDS = ("healthz_bare", "healthz", "token", "token_bearer")
CSRF = {"X-CSRF": "1"}


def _child(requests: int) -> None:
    """In the process callgrind watches: sign in, then for each kind wait for the parent to
    switch counting on, drive the requests, and say so."""
    from werkzeug.test import EnvironBuilder

    from devstack.control_client import EmulatorControl
    from service import create_app

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app()
    client = app.test_client()
    login = client.get("/login", query_string={"login_hint": bench_user(0)[1]})
    upstream = EmulatorControl(os.environ["WORKOS_BASE_URL"])
    callback = client.get(upstream.authorize(login.headers["Location"]))
    assert callback.status_code == 302, callback.data
    cookie = client.get_cookie("gts").value
    headers = {**CSRF, "Cookie": f"gts={cookie}"}
    # An app that signs in with AuthKit itself sends its access token instead (AUTHKIT_BEARER).
    access = _authkit_access_token(os.environ["WORKOS_BASE_URL"], bench_user(1)[1])
    bearer = {"Authorization": f"Bearer {access}"}
    environs = {
        "healthz_bare": EnvironBuilder(path="/healthz").get_environ(),
        "healthz": EnvironBuilder(path="/healthz", headers=headers).get_environ(),
        "token": EnvironBuilder(path=TOKEN_ROUTE, headers=headers).get_environ(),
        "token_bearer": EnvironBuilder(path=TOKEN_ROUTE, headers=bearer).get_environ(),
    }
    statuses: set[str] = set()

    def start_response(status, _headers, _exc_info=None):
        statuses.add(status)

    def drive(environ: dict, count: int) -> None:
        for _ in range(count):
            for _chunk in app.wsgi_app(dict(environ), start_response):
                pass

    for environ in environs.values():
        drive(environ, WARMUP)
    for kind in KINDS:
        print(f"READY {kind}", flush=True)
        sys.stdin.readline()
        drive(environs[kind], requests)
        print(f"DONE {kind}", flush=True)
        sys.stdin.readline()
    assert statuses == {"200 OK"}, statuses


def _authkit_access_token(emulator_url: str, email: str) -> str:
    """An AuthKit access token from the emulator directly: authorize, then the code exchange."""
    import requests

    from devstack.control_client import API_KEY

    query = {"client_id": "client_emulator", "redirect_uri": "http://app.test/callback"}
    query |= {"response_type": "code", "login_hint": email}
    authorize = requests.get(
        f"{emulator_url}/user_management/authorize", params=query, allow_redirects=False, timeout=5
    )
    (code,) = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"]
    body = {"client_id": "client_emulator", "client_secret": API_KEY, "code": code}
    answer = requests.post(
        f"{emulator_url}/user_management/authenticate",
        json={**body, "grant_type": "authorization_code"},
        timeout=5,
    )
    answer.raise_for_status()
    return answer.json()["access_token"]


def _counted(out_prefix: str, before: set[str]) -> int:
    """Instructions in the dump callgrind wrote since `before` (the files it already had)."""
    total = 0
    for path in set(glob.glob(out_prefix + "*")) - before:
        with open(path) as dump:
            for line in dump:
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
    return total


def _count_each_kind(child: subprocess.Popen, control: str, out: str) -> dict[str, float]:
    """Answer the child's READY/DONE lines: counting on for each kind, then a dump read back;
    instructions per request by kind."""
    assert child.stdin is not None and child.stdout is not None
    per_request: dict[str, float] = {}
    for line in child.stdout:
        what, _, kind = line.strip().partition(" ")
        if what == "READY":
            subprocess.run([control, "-z", str(child.pid)], capture_output=True)
            subprocess.run([control, "-i", "on", str(child.pid)], capture_output=True)
        elif what == "DONE":
            before = set(glob.glob(out + "*"))
            subprocess.run([control, "-d", kind, str(child.pid)], capture_output=True)
            subprocess.run([control, "-i", "off", str(child.pid)], capture_output=True)
            per_request[kind] = _counted(out, before) / REQUESTS
        else:
            continue
        child.stdin.write("\n")
        child.stdin.flush()
    if child.wait(timeout=120) != 0 or set(per_request) != set(KINDS):
        raise RuntimeError(f"the callgrind child failed ({child.returncode})")
    return per_request


def run() -> tuple[list[Row], dict]:
    """Instructions per request of each kind, counted by callgrind in a child process."""
    valgrind = shutil.which("valgrind")
    control = shutil.which("callgrind_control")
    if not valgrind or not control:
        raise RuntimeError("valgrind is missing: apt-get install valgrind")
    with Stack("instructions") as stack:
        upstream = stack.emulator(2)  # a cookie session and an AuthKit (bearer) one
        env = service_env(
            upstream.url,
            8000,
            TOKEN_RATE_LIMIT=HIGH_RATE_LIMIT,
            LOG_LEVEL="WARNING",
            AUTHKIT_BEARER="true",
        )
        env["PROMETHEUS_MULTIPROC_DIR"] = str(stack.tmp)
        env["SESSION_DB_PATH"] = str(stack.tmp / "sessions.sqlite3")
        # valgrind names its control pipe after $USER and $HOST; callgrind_control, run with
        # our environment, must find the same name (HOST is gunicorn's bind address there).
        env.pop("HOST", None)
        out = str(stack.tmp / "callgrind.out")
        argv = [valgrind, "--tool=callgrind", "--instr-atstart=no"]
        argv += [f"--callgrind-out-file={out}", sys.executable, "-m", "bench.instructions"]
        with open(stack.tmp / "child.log", "w") as log:
            child = subprocess.Popen(
                [*argv, str(REQUESTS)],
                env={**os.environ, **env},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            try:
                per_request = _count_each_kind(child, control, out)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
    bare, cookie, token, bearer = (per_request[kind] for kind in KINDS)
    rows = [
        Row(
            "in process under callgrind, instructions per request: token hit / healthz "
            "(cookie) / healthz (no cookie)",
            f"{token / 1000:.0f}k / {cookie / 1000:.0f}k / {bare / 1000:.0f}k "
            f"(healthz without cookie / token {bare / token:.2f}; Flask's WSGI app only, "
            "no gunicorn)",
        ),
        Row(
            "in process under callgrind, a token hit with an AuthKit access token (Bearer) "
            "against the cookie's",
            f"{bearer / 1000:.0f}k / {token / 1000:.0f}k (bearer / cookie {bearer / token:.2f})",
        ),
    ]
    return rows, {"instructions_per_request": per_request, "requests_per_kind": REQUESTS}


if __name__ == "__main__":
    _child(int(sys.argv[1]))
