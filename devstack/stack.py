"""The local stack: the emulator, the service under gunicorn, redis-server; each stopped by pid.

One launcher for `make run` (devstack/dev.py), the tests and `make bench`. A process either
writes to a log file in its own process group (stop() ends the group) or, with no log file,
shares the launcher's terminal and process group, so a Ctrl-C there reaches it too.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from devstack.control_client import API_KEY, CLIENT_ID

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds a process has to answer on its port

# Called with each Process as it starts and just before it is stopped. The test suite's
# secrets check (tests/support.py) listens here for log files and the emulator's tokens.
ON_START: list[Callable[[Process], None]] = []
ON_STOP: list[Callable[[Process], None]] = []


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_http(
    url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None, ok_only: bool = False
) -> None:
    """Poll url until it answers (with a 2xx when ok_only, else any status), or fail."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            last = requests.get(url, timeout=1)
            if last.ok or not ok_only:
                return
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


@dataclass
class Process:
    """A child process, its output in log_path (or on the terminal when None), stopped by pid."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    name: str = ""  # what it is: "emulator", "service", "redis" (read by ON_STOP listeners)
    url: str = ""  # the base URL it serves, where it serves one
    popen: subprocess.Popen | None = None

    def start(self, cwd: Path = ROOT) -> Process:
        env = {**os.environ, **self.env}
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self._terminated = False
        for listener in ON_START:
            listener(self)
        self.popen = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=self._log is not None,
        )
        return self

    @property
    def started(self) -> subprocess.Popen:
        """The child process (start() first)."""
        if self.popen is None:
            raise RuntimeError(f"{self.name or self.argv[0]} was not started")
        return self.popen

    @property
    def pid(self) -> int:
        return self.started.pid

    def signal(self, sig: int) -> None:
        self.started.send_signal(sig)

    def _signal_all(self, sig: int) -> None:
        """sig to the process group it leads (a log-file process), else to the process."""
        try:
            if self._log is not None:
                os.killpg(self.started.pid, sig)
            else:
                self.started.send_signal(sig)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        """SIGTERM, without waiting (stop() waits)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        if not self._terminated:  # listeners hear of each process once, while it still runs
            self._terminated = True
            for listener in ON_STOP:
                listener(self)
        self._signal_all(signal.SIGTERM)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL if it lingers; its exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_all(signal.SIGKILL)
                self.popen.wait(timeout=5)
        if self._log is not None:
            self._log.close()
        return self.popen.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def _wait_or_stop(proc: Process, health_url: str) -> Process:
    """Wait for health_url to answer 2xx; stop the process (no orphan) when it never does."""
    # 2xx only: another server already on the port may answer while this process fails to bind.
    try:
        wait_http(health_url, timeout=START_TIMEOUT, proc=proc.popen, ok_only=True)
    except BaseException:
        proc.stop()
        raise
    return proc


def _log_file(log_dir: Path | None, name: str, port: int) -> Path | None:
    return log_dir / f"{name}-{port}.log" if log_dir is not None else None


def start_emulator(
    log_dir: Path | None, *args: str, port: int | None = None
) -> tuple[Process, str]:
    """`python -m emulator` on port (a free one by default); the process and its base URL."""
    port = port or free_port()
    url = f"http://{HOST}:{port}"
    proc = Process(
        [PYTHON, "-m", "emulator", "--host", HOST, "--port", str(port), *args],
        log_path=_log_file(log_dir, "emulator", port),
        name="emulator",
        url=url,
    ).start()
    return _wait_or_stop(proc, url + "/health"), url


def local_service_env(emulator_url: str, port: int) -> dict[str, str]:
    """What the service needs to run on port against a local emulator, `make run` or not."""
    return {
        "HOST": HOST,
        "PORT": str(port),
        "WORKOS_API_KEY": API_KEY,
        "WORKOS_CLIENT_ID": CLIENT_ID,
        "WORKOS_BASE_URL": emulator_url,
        "APP_BASE_URL": f"http://{HOST}:{port}",
        "SESSION_COOKIE_SECURE": "false",
    }


def service_env(emulator_url: str, port: int, **extra: object) -> dict[str, str]:
    """The service's environment for a test or bench run: fixed secret, JSON logs, 2x8."""
    env = {
        **local_service_env(emulator_url, port),
        "SECRET_KEY": "system-test-secret-0123456789abcdef0123456789",
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


def start_gunicorn(env: dict[str, str], log_path: Path | None = None) -> tuple[Process, str]:
    """The Procfile's gunicorn command with env (HOST and PORT set); the process and its URL."""
    url = f"http://{env['HOST']}:{env['PORT']}"
    proc = Process(
        [PYTHON, "-m", "gunicorn", "wsgi:app", "-c", "gunicorn.conf.py"],
        env=env,
        log_path=log_path,
        name="service",
        url=url,
    ).start()
    return _wait_or_stop(proc, url + "/healthz"), url


def start_service(
    tmp: Path, emulator_url: str, port: int | None = None, **extra: object
) -> tuple[Process, str]:
    """The service on port (a free one by default), its files in tmp; the process and URL."""
    port = port or free_port()
    env = service_env(emulator_url, port, **extra)
    # One SQLite session file per directory: the workers (and masters) started in it share it.
    env.setdefault("SESSION_DB_PATH", str(tmp / "sessions.sqlite3"))
    if not env["PROMETHEUS_MULTIPROC_DIR"]:
        metrics_dir = tmp / f"metrics-{port}"
        metrics_dir.mkdir(exist_ok=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return start_gunicorn(env, tmp / f"service-{port}.log")


def start_redis(tmp: Path, port: int | None = None, *options: str) -> tuple[Process, str]:
    """Debian's redis-server on a free loopback port, persistence off; the process and URL."""
    port = port or free_port()
    proc = Process(
        ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        + ["--dir", str(tmp), *options],
        log_path=tmp / f"redis-{port}.log",
        name="redis",
    ).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://{HOST}:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.stop()
    raise TimeoutError(f"redis-server did not answer on {port}")


def sign_in_over_http(
    service_url: str, email: str, session: requests.Session | None = None
) -> requests.Session:
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
