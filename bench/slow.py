"""Slow clients: 200 connections trickling their request line, headers or body at the
Procfile's gunicorn with no proxy in front, while /healthz and a token hit are timed."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from urllib.parse import urlsplit

import requests

from bench.report import Row, percentile
from bench.stack import TOKEN_ROUTE, Stack
from service.ops.gunicorn_worker import READ_TIMEOUT

SLOW = 200
BOUND = 1.0  # seconds: /healthz and a token hit, while the slow connections are open
# Each kind sends its first part, then one byte a second: never a whole request in time.
KINDS = {
    "request line": (b"GET /healthz HT", b"T"),
    "headers": (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a"),
    "body": (
        b"POST /webhooks/workos HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{",
        b" ",
    ),
}


class Trickler:
    """SLOW connections trickling one byte a second each; records when each was closed."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.closed_after: list[float] = []
        self.still_open = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        kinds = list(KINDS.values())
        for n in range(SLOW):
            thread = threading.Thread(target=self._run, args=kinds[n % len(kinds)], daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, first: bytes, then: bytes) -> None:
        opened = time.monotonic()
        try:
            with socket.create_connection(self.address, timeout=5) as sock:
                sock.sendall(first)
                while not self._stop.wait(1.0):
                    sock.sendall(then)
                    sock.settimeout(0.001)
                    try:
                        if sock.recv(4096) == b"":
                            raise ConnectionResetError
                    except TimeoutError:
                        pass
                    sock.settimeout(5)
                with self._lock:
                    self.still_open += 1
                return
        except OSError:
            pass
        with self._lock:
            self.closed_after.append(time.monotonic() - opened)


def timed(call) -> tuple[float, int]:
    """(seconds, status) of one call."""
    started = time.monotonic()
    status = call().status_code
    return time.monotonic() - started, status


def measure(url: str, cookie: str) -> dict:
    """Time /healthz and a token hit every 0.1 s while SLOW connections trickle, until the
    service has closed them (READ_TIMEOUT) and a little after; the raw figures."""
    trickler = Trickler(url)
    trickler.start()
    health: list[tuple[float, int]] = []
    tokens: list[tuple[float, int]] = []
    headers = {"X-CSRF": "1", "Cookie": cookie}
    try:
        time.sleep(2.0)  # all of them connected and trickling
        deadline = time.monotonic() + READ_TIMEOUT + 3
        while time.monotonic() < deadline:
            health.append(timed(lambda: requests.get(url + "/healthz", timeout=5)))
            tokens.append(
                timed(lambda: requests.get(url + TOKEN_ROUTE, headers=headers, timeout=5))
            )
            time.sleep(0.1)
        time.sleep(2.0)
    finally:
        trickler.stop()
    return {
        "health_s": [t for t, _ in health],
        "health_status": sorted({s for _, s in health}),
        "token_s": [t for t, _ in tokens],
        "token_status": sorted({s for _, s in tokens}),
        "closed_after_s": trickler.closed_after,
        "still_open": trickler.still_open,
    }


def run() -> tuple[list[Row], dict]:
    """The slow-client part of make bench."""
    with Stack("slow") as stack:
        upstream = stack.emulator(1)
        url = stack.service(upstream.url, WEB_CONCURRENCY=2, GUNICORN_THREADS=8)
        [cookie] = stack.sign_in(url, 1)
        first = requests.get(
            url + TOKEN_ROUTE, headers={"X-CSRF": "1", "Cookie": cookie}, timeout=10
        )
        first.raise_for_status()  # the token is cached from now on: the timed calls are hits
        raw = measure(url, cookie)
    health, token, closed = raw["health_s"], raw["token_s"], raw["closed_after_s"]
    ok = raw["health_status"] == [200] and raw["token_status"] == [200]
    rows = [
        Row(
            f"/healthz under {SLOW} slow connections (p50 / max)",
            f"{statistics.median(health) * 1000:.0f} / {max(health) * 1000:.0f} ms",
            f"max < {BOUND * 1000:.0f} ms",
            ok and max(health) < BOUND,
        ),
        Row(
            f"token hit under {SLOW} slow connections (p99 / max)",
            f"{percentile(token, 99) * 1000:.0f} / {max(token) * 1000:.0f} ms",
            f"max < {BOUND * 1000:.0f} ms",
            ok and max(token) < BOUND,
        ),
        Row(
            "slow connections closed after",
            f"{min(closed or [0]):.1f}-{max(closed or [0]):.1f} s, {raw['still_open']} left open",
            f"all, < {READ_TIMEOUT + 3:g} s",
            raw["still_open"] == 0 and len(closed) == SLOW and max(closed) < READ_TIMEOUT + 3,
        ),
    ]
    return rows, raw
