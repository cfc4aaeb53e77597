"""`make run`'s process pair (emulator.dev) starts, serves, and stops cleanly on Ctrl-C."""

import signal
import socket

import requests

from tests.support import PYTHON, Process, free_port, wait_http


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_run_starts_both_and_stops_on_ctrl_c(tmp_path):
    app_port, emulator_port = free_port(), free_port()
    proc = Process(
        [PYTHON, "-m", "emulator.dev"],
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
