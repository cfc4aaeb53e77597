"""`make run`'s process pair (devstack.dev) starts, serves, and stops cleanly on Ctrl-C."""

import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from devstack.stack import PYTHON, Process, free_port, wait_http


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_run_starts_both_and_stops_on_ctrl_c(tmp_path):
    app_port, emulator_port = free_port(), free_port()
    proc = Process(
        [PYTHON, "-m", "devstack.dev"],
        env={"PORT": str(app_port), "EMULATOR_PORT": str(emulator_port)},
        log_path=tmp_path / "run.log",
    ).start()
    try:
        wait_http(f"http://127.0.0.1:{app_port}/healthz", timeout=30, proc=proc.popen)
        wait_http(f"http://127.0.0.1:{emulator_port}/health", timeout=5, proc=proc.popen)
        login = requests.get(f"http://127.0.0.1:{app_port}/login", allow_redirects=False, timeout=5)
        assert login.headers["Location"].startswith(f"http://127.0.0.1:{emulator_port}/")
        hooks = requests.get(
            f"http://127.0.0.1:{emulator_port}/webhook_endpoints",
            headers={"Authorization": "Bearer sk_test_default"},
            timeout=5,
        ).json()["data"]
        assert [h["endpoint_url"] for h in hooks] == [
            f"http://127.0.0.1:{app_port}/webhooks/workos"
        ]
        for _ in range(100):  # the banner is printed once gunicorn answers
            if "Ctrl-C stops both" in proc.output():
                break
            wait_http(f"http://127.0.0.1:{app_port}/healthz", timeout=1)
        assert f"http://127.0.0.1:{app_port}" in proc.output()
        assert "alice@acme.com" in proc.output()
        proc.signal(signal.SIGINT)
        assert proc.popen.wait(timeout=30) == 0
        assert port_is_free(app_port) and port_is_free(emulator_port)
    finally:
        proc.stop()


def process_table() -> dict[int, tuple[int, str, str]]:
    """Every process by id: (parent id, state, start time) from /proc."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)", which may hold spaces
        table[int(entry.name)] = (int(fields[1]), fields[0], fields[19])
    return table


def descendants(pid: int) -> dict[int, str]:
    """Every process below pid, by id, with its start time (a reused id is another process)."""
    table = process_table()
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (ppid, _, start) in table.items():
            if ppid == parent and child not in found:
                found[child] = start
                frontier.append(child)
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    """The ids of `processes` that still run (an exited, unreaped zombie does not count)."""
    table = process_table()
    return [
        pid
        for pid, start in processes.items()
        if pid in table and table[pid][2] == start and table[pid][1] != "Z"
    ]


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name
)
def test_a_signal_to_make_alone_stops_both_servers(tmp_path, sig):
    """What an IDE's stop button does: signal make only, never its children."""
    app_port, emulator_port = free_port(), free_port()
    # -o: never reinstall from inside a test; PY: the interpreter running the tests.
    proc = Process(
        ["make", "--no-print-directory", "-o", ".venv/.installed-run", "run", f"PY={PYTHON}"],
        env={"PORT": str(app_port), "EMULATOR_PORT": str(emulator_port)},
        log_path=tmp_path / "make-run.log",
    ).start()
    try:
        wait_http(f"http://127.0.0.1:{app_port}/", timeout=60, proc=proc.popen)
        deadline = time.monotonic() + 30
        while "Ctrl-C stops both" not in proc.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        children = descendants(proc.pid)
        # the launcher, the emulator, the gunicorn master and at least one worker
        assert len(children) >= 4, children
        proc.signal(sig)
        assert proc.popen.wait(timeout=30) == -sig
        deadline = time.monotonic() + 20
        while still_running(children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert still_running(children) == [], proc.output()
        assert port_is_free(app_port) and port_is_free(emulator_port)
    finally:
        proc.stop()
