"""`make run`: the emulator and the service under gunicorn, wired together, until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"  # git-ignored: local secrets and the signing key survive restarts
# A process blocks a signal while its handler for it runs. make's handler for SIGINT waits
# for make's children without passing the signal on, so the launcher has to notice it there.
STOP_SIGNALS = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))


def _local_secret(name: str, prefix: str = "") -> str:
    path = LOCAL / name
    if not path.exists():
        path.write_text(prefix + secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def register_webhook(emulator_url: str, app_url: str, secret: str) -> None:
    """Have the emulator send every event, signed with secret, to the service's webhook."""
    body = {"endpoint_url": f"{app_url}/webhooks/workos", "secret": secret, "events": []}
    request = urllib.request.Request(
        emulator_url + "/webhook_endpoints",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer sk_test_default"},
    )
    urllib.request.urlopen(request, timeout=5).close()


def _wait(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args[2] if len(proc.args) > 2 else proc.args} exited early")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


def _blocked_signals(pid: int) -> int:
    """The mask of signals `pid` blocks (Linux /proc); 0 where that cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    return 0


class ParentWatch:
    """Tells when the parent (make) has died or is handling a SIGINT or SIGTERM sent to it."""

    def __init__(self) -> None:
        self.ppid = os.getppid()
        self.baseline = _blocked_signals(self.ppid) & STOP_SIGNALS
        self.seen = 0

    def stopping(self) -> bool:
        """True once the parent is gone, or was seen handling a stop signal twice in a row."""
        if os.getppid() != self.ppid:
            return True
        # Twice, 0.2 s apart: make blocks signals only for an instant in its normal work.
        handling = _blocked_signals(self.ppid) & STOP_SIGNALS & ~self.baseline
        self.seen = self.seen + 1 if handling else 0
        return self.seen >= 2


def main(argv: list[str] | None = None) -> int:
    """Start both processes, print where to sign in, stop both on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m emulator.dev", description=__doc__)
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="also stop when the parent process (make) dies or is sent SIGINT or SIGTERM",
    )
    args = parser.parse_args(argv)
    parent = ParentWatch() if args.stop_with_parent else None
    LOCAL.mkdir(exist_ok=True)
    host = "127.0.0.1"
    port = os.environ.get("PORT", "8000")
    emulator_port = os.environ.get("EMULATOR_PORT", "4100")
    app_url = f"http://{host}:{port}"
    emulator_url = f"http://{host}:{emulator_port}"
    webhook_secret = _local_secret("webhook_secret", prefix="whsec_")
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--host",
            host,
            "--port",
            emulator_port,
            "--allowed-origin",
            app_url,
            "--allowed-origin",
            f"http://localhost:{port}",
            "--signing-key",
            str(LOCAL / "emulator-signing-key.pem"),
        ],
        cwd=ROOT,
    )
    env = {
        **os.environ,
        "HOST": host,
        "PORT": port,
        "WORKOS_API_KEY": "sk_test_default",
        "WORKOS_CLIENT_ID": "client_emulator",
        "WORKOS_BASE_URL": emulator_url,
        "APP_BASE_URL": app_url,
        "SECRET_KEY": _local_secret("secret_key"),
        "WORKOS_WEBHOOK_SECRET": webhook_secret,
        "SESSION_COOKIE_SECURE": "false",
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
    }
    service = None
    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        _wait(emulator_url + "/health", emulator)
        register_webhook(emulator_url, app_url, webhook_secret)
        service = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
        )
        _wait(app_url + "/healthz", service)
        print(
            f"\n  Service:  {app_url}   (open this and sign in)\n"
            f"  Emulator: {emulator_url}   (local WorkOS; API key sk_test_default)\n"
            "  Users:    alice@acme.com (Acme), bob@globex.com (Acme and Globex: picks one),\n"
            "            carol@example.com (no organization)\n"
            f"  Webhooks: every emulator event is signed and sent to {app_url}/webhooks/workos\n"
            "  Ctrl-C stops both.\n",
            flush=True,
        )
        while not stop["now"] and emulator.poll() is None and service.poll() is None:
            if parent is not None and parent.stopping():
                print("make was stopped: stopping both", flush=True)
                break
            time.sleep(0.2)
    finally:
        for proc in (service, emulator):
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in (service, emulator):
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
