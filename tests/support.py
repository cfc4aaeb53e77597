"""Helpers shared by the test tiers: free ports, threaded servers, child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

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


class FakeClock:
    """Wall time that only moves when told to (injected as a `clock`)."""

    def __init__(self, now: float | None = None):
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    """Poll url until it answers (any status), or fail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException as exc:
            last = exc
            time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


@dataclass
class Process:
    """A child process whose output is captured to a file, stopped by pid."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    popen: subprocess.Popen | None = None

    def start(self, cwd: Path = ROOT) -> Process:
        env = {**os.environ, **self.env}
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        if self.log_path and Path(self.log_path) not in LOG_PATHS:
            LOG_PATHS.append(Path(self.log_path))
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL the whole process group if it lingers."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


@dataclass
class EmulatorProcess(Process):
    """An emulator process that hands its issued tokens to the secrets check when stopped."""

    url: str = ""

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.url and self.popen is not None and self.popen.poll() is None:
            SECRETS.update(emulator_tokens(self.url))
        return super().stop(timeout)


def _wait_or_stop(proc: Process, url: str) -> None:
    """Wait for url to answer; stop the process (no orphan) when it never does."""
    try:
        wait_http(url, proc=proc.popen)
    except BaseException:
        proc.stop()
        raise


def start_emulator(tmp: Path, *args: str, port: int | None = None) -> tuple[Process, str]:
    """Start `python -m emulator` on a free port; returns the process and its base URL."""
    port = port or free_port()
    proc = EmulatorProcess(
        [PYTHON, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port), *args],
        log_path=tmp / f"emulator-{port}.log",
        url=f"http://127.0.0.1:{port}",
    ).start()
    url = f"http://127.0.0.1:{port}"
    _wait_or_stop(proc, url + "/health")
    return proc, url


def service_env(emulator_url: str, port: int, **extra) -> dict[str, str]:
    """Environment for the service under gunicorn, pointed at an emulator."""
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKOS_API_KEY": "sk_test_default",
        "WORKOS_CLIENT_ID": "client_emulator",
        "WORKOS_BASE_URL": emulator_url,
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "SECRET_KEY": "system-test-secret-0123456789abcdef0123456789",
        "SESSION_COOKIE_SECURE": "false",
        "WORKOS_TIMEOUT_SECONDS": "2",
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "8",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": "",
        # Tests and benchmarks sign many users in from 127.0.0.1; the limits have tests of
        # their own (tests/integration/test_workos_budget.py), which set them.
        "SIGNIN_RATE_LIMIT": "100000/minute",
        "SWITCH_RATE_LIMIT": "100000/minute",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_service(
    tmp: Path, emulator_url: str, port: int | None = None, **extra
) -> tuple[Process, str]:
    """Start the Procfile's gunicorn command on a free port; returns the process and its URL."""
    port = port or free_port()
    env = service_env(emulator_url, port, **extra)
    # One SQLite session file per test directory: the workers (and masters) of a test share it.
    env.setdefault("SESSION_DB_PATH", str(tmp / "sessions.sqlite3"))
    if not env["PROMETHEUS_MULTIPROC_DIR"]:
        metrics_dir = tmp / f"metrics-{port}"
        metrics_dir.mkdir(exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    proc = Process(
        [PYTHON, "-m", "gunicorn", "wsgi:app", "-c", "gunicorn.conf.py"],
        env=env,
        log_path=tmp / f"service-{port}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    _wait_or_stop(proc, url + "/healthz")
    return proc, url


def start_redis(tmp: Path, port: int | None = None, *options: str) -> tuple[Process, str]:
    """Start Debian's redis-server on a free loopback port, persistence off."""
    port = port or free_port()
    proc = Process(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            *options,
        ],
        log_path=tmp / f"redis-{port}.log",
    ).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.stop()
    raise TimeoutError(f"redis-server did not answer on {port}")


# Cluster nodes for the tests: a node that stops is declared failed after 2 s (not 15), and
# the others keep serving their own slots meanwhile (see README, "Redis deployments").
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


def sign_in_over_http(service_url: str, email: str, session=None):
    """Sign in through the real AuthKit flow over sockets; returns the requests.Session."""
    http = session or requests.Session()
    login = http.get(
        service_url + "/login", params={"login_hint": email}, allow_redirects=False, timeout=10
    )
    assert login.status_code == 302, login.text
    authorize = http.get(login.headers["Location"], allow_redirects=False, timeout=10)
    assert authorize.status_code == 302, authorize.text
    callback = http.get(authorize.headers["Location"], allow_redirects=False, timeout=10)
    assert callback.status_code == 302, callback.text
    return http


def require_tool(path_or_name: str, install_hint: str) -> None:
    """Skip locally when a tool is missing; fail under CI=true (design.md §8)."""
    import shutil

    import pytest

    if shutil.which(path_or_name) or Path(path_or_name).exists():
        return
    message = f"{path_or_name} is missing: {install_hint}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
