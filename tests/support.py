"""Test-only helpers: a fake clock, threaded servers, Redis Cluster, the secrets registries.

The processes of the stack (emulator, gunicorn, redis-server) start in devstack/stack.py, on
ports this module's free_port() picks (its own share of them under pytest-xdist).
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from werkzeug.serving import make_server

from devstack import stack
from devstack.control_client import API_KEY, CLIENT_ID
from devstack.stack import Process, start_redis

# Read by tests/conftest.py's secrets check at the end of the run: every log file a Process
# wrote, every emulator app served in a thread, and secret strings tests learned of.
LOG_PATHS: list[Path] = []
EMULATOR_APPS: list = []
SECRETS: set[str] = set()


def note_secret(value: str) -> None:
    """Remember a token string that must never appear in a log (the run fails if it does)."""
    if isinstance(value, str) and value:
        SECRETS.add(value)


def emulator_tokens(url: str) -> list[str]:
    """Every token a running emulator issued (GET /_emulate/tokens); [] if it cannot say."""
    try:
        response = requests.get(url + "/_emulate/tokens", timeout=5)
    except requests.RequestException:
        return []
    if response.status_code != 200:
        return []
    tokens = response.json().get("tokens", [])
    return [t for t in tokens if isinstance(t, str)]


def _note_log(proc: Process) -> None:
    if proc.log_path and Path(proc.log_path) not in LOG_PATHS:
        LOG_PATHS.append(Path(proc.log_path))


def _note_emulator_tokens(proc: Process) -> None:
    # Asked while it still runs: a stopped emulator's tokens are gone with it.
    if proc.name == "emulator" and proc.url:
        SECRETS.update(emulator_tokens(proc.url))


stack.ON_START.append(_note_log)
stack.ON_STOP.append(_note_emulator_tokens)

# Under pytest-xdist (`-n`) the workers start processes at the same time, each on a port the
# kernel said was free a moment before the child binds it: two workers handed the same port in
# that moment would each talk to the other's process. So each worker takes only its own share
# of the ports (port // 2 mod workers: bind() hands out mostly odd ports, so not port mod 2).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... in a worker
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) if _WORKER else 1
_SHARE = int(_WORKER.removeprefix("gw") or 0) % _WORKERS
_kernel_free_port = stack.free_port


def free_port() -> int:
    """A free loopback port of this worker's share (any free port outside pytest-xdist)."""
    for _ in range(10_000):
        port = _kernel_free_port()
        if (port // 2) % _WORKERS == _SHARE:
            return port
    raise RuntimeError(f"no free port of share {_SHARE} of {_WORKERS}")


# devstack.stack's start_* functions call its free_port(), and the test modules import it from
# there after this module (tests/conftest.py imports it first): all of them get this one.
stack.free_port = free_port


class FakeClock:
    """Wall time that only moves when told to (injected as a `clock`)."""

    def __init__(self, now: float | None = None):
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ThreadedServer:
    """A WSGI app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app, port: int = 0):
        self.app = app
        if "emulator" in getattr(app, "extensions", {}):
            EMULATOR_APPS.append(app)
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ThreadedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# Cluster nodes for the tests: a node that stops is declared failed after 2 s (not 15), and
# the others keep serving their own slots meanwhile
# (docs/deployment.md#when-one-node-of-a-cluster-stops).
CLUSTER_NODE_OPTIONS = ("--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no")


def free_cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too."""
    while True:
        port = free_port()
        if port <= 55535:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                pass


def start_cluster_node(tmp: Path, port: int) -> Process:
    """Start one redis-server in cluster mode (its nodes file in tmp keeps its identity)."""
    proc, _ = start_redis(
        tmp,
        port,
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        str(tmp / f"nodes-{port}.conf"),
        *CLUSTER_NODE_OPTIONS,
    )
    return proc


def cluster_state(port: int) -> str:
    """cluster_state (ok or fail) as the node on port sees it."""
    info = subprocess.run(
        ["redis-cli", "-p", str(port), "cluster", "info"],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout
    return dict(line.split(":", 1) for line in info.split() if ":" in line)["cluster_state"]


def wait_cluster_ok(ports: list[int], timeout: float = 20.0) -> None:
    """Wait until every node says cluster_state:ok."""
    deadline = time.monotonic() + timeout
    while any(cluster_state(port) != "ok" for port in ports):
        if time.monotonic() > deadline:
            raise TimeoutError(f"cluster on {ports} not ok within {timeout}s")
        time.sleep(0.1)


def start_redis_cluster(tmp: Path, masters: int = 3) -> tuple[dict[int, Process], str]:
    """A Redis Cluster of `masters` nodes, no replicas; {port: node} and its URL."""
    nodes: dict[int, Process] = {}
    try:
        for _ in range(masters):
            port = free_cluster_port()
            nodes[port] = start_cluster_node(tmp, port)
        subprocess.run(
            ["redis-cli", "--cluster", "create"]
            + [f"127.0.0.1:{port}" for port in nodes]
            + ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            timeout=30,
            check=True,
        )
        wait_cluster_ok(list(nodes))
    except BaseException:
        for node in nodes.values():
            node.stop()
        raise
    return nodes, "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in nodes)


def require_tool(path_or_name: str, install_hint: str) -> None:
    """Skip locally when a tool is missing; fail under CI=true (docs/development.md#tests)."""
    import shutil

    import pytest

    if shutil.which(path_or_name) or Path(path_or_name).exists():
        return
    message = f"{path_or_name} is missing: {install_hint}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def authkit_sign_in(emulator_url: str, email: str) -> dict:
    """Sign in with AuthKit directly, as an app using authkit-nextjs does (no service session):
    authorize, then exchange the code; WorkOS's answer with the access and refresh tokens."""
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": "http://app.test/callback",
        "response_type": "code",
        "login_hint": email,
    }
    authorize = requests.get(
        f"{emulator_url}/user_management/authorize?{urlencode(params)}",
        allow_redirects=False,
        timeout=5,
    )
    assert authorize.status_code == 302, authorize.text
    (code,) = parse_qs(urlsplit(authorize.headers["Location"]).query)["code"]
    body = {
        "client_id": CLIENT_ID,
        "client_secret": API_KEY,
        "grant_type": "authorization_code",
        "code": code,
    }
    response = requests.post(f"{emulator_url}/user_management/authenticate", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()
