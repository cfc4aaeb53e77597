"""Helpers shared by the test tiers: free ports, threaded servers, child processes."""

from __future__ import annotations

import os
import re
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


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """A WSGI app served by werkzeug on 127.0.0.1 in a background thread."""

    def __init__(self, app, port: int = 0):
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


def start_emulator(tmp: Path, *args: str, port: int | None = None) -> tuple[Process, str]:
    """Start `python -m emulator` on a free port; returns the process and its base URL."""
    port = port or free_port()
    proc = Process(
        [PYTHON, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port), *args],
        log_path=tmp / f"emulator-{port}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", proc=proc.popen)
    return proc, url


def grep(pattern: str, text: str) -> list[str]:
    """Lines of text matching a regular expression."""
    return [line for line in text.splitlines() if re.search(pattern, line)]
