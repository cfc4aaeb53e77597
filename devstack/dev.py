"""`make run`: the emulator and the service under gunicorn, wired together, until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import time
from pathlib import Path

from devstack.control_client import API_KEY, EmulatorControl
from devstack.stack import HOST, ROOT, Process, local_service_env, start_emulator, start_gunicorn

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
    control = EmulatorControl(emulator_url)
    try:
        control.add_webhook(f"{app_url}/webhooks/workos", secret)
    finally:
        control.http.close()


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
    parser = argparse.ArgumentParser(prog="python -m devstack.dev", description=__doc__)
    parser.add_argument(
        "--stop-with-parent",
        action="store_true",
        help="also stop when the parent process (make) dies or is sent SIGINT or SIGTERM",
    )
    args = parser.parse_args(argv)
    parent = ParentWatch() if args.stop_with_parent else None
    LOCAL.mkdir(exist_ok=True)
    port = int(os.environ.get("PORT", "8000"))
    emulator_port = int(os.environ.get("EMULATOR_PORT", "4100"))
    app_url = f"http://{HOST}:{port}"
    # `make widgets` serves the React example here: its widgets call the emulator, its token
    # client calls the service, both from that origin.
    widgets_url = f"http://{HOST}:{int(os.environ.get('WIDGETS_PORT', '5173'))}"
    webhook_secret = _local_secret("webhook_secret", prefix="whsec_")
    env = {
        **local_service_env(f"http://{HOST}:{emulator_port}", port),
        "SECRET_KEY": _local_secret("secret_key"),
        "WORKOS_WEBHOOK_SECRET": webhook_secret,
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        # Origins set in the environment stay allowed; the example's is added.
        "CORS_ALLOWED_ORIGINS": ",".join(
            filter(None, [os.environ.get("CORS_ALLOWED_ORIGINS", "").strip(), widgets_url])
        ),
        # The app page links to the example (no link where this is unset, as in production).
        "WIDGETS_EXAMPLE_URL": f"{widgets_url}/",
    }
    processes: list[Process] = []
    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        # No log directory: both write to this terminal and share its Ctrl-C.
        emulator, emulator_url = start_emulator(
            None,
            "--allowed-origin",
            app_url,
            "--allowed-origin",
            f"http://localhost:{port}",
            "--allowed-origin",
            widgets_url,
            "--signing-key",
            str(LOCAL / "emulator-signing-key.pem"),
            port=emulator_port,
        )
        processes.append(emulator)
        register_webhook(emulator_url, app_url, webhook_secret)
        service, _ = start_gunicorn(env)
        processes.append(service)
        print(
            f"\n  Service:  {app_url}   (open this and sign in)\n"
            f"  Emulator: {emulator_url}   (local WorkOS; API key {API_KEY})\n"
            f"  Widgets:  {widgets_url}   (WorkOS's React widgets: `make widgets` serves them)\n"
            "  Users:    alice@acme.com (Acme), bob@globex.com (Acme and Globex: picks one),\n"
            "            carol@example.com (no organization)\n"
            f"  Webhooks: every emulator event is signed and sent to {app_url}/webhooks/workos\n"
            "  Ctrl-C stops both.\n",
            flush=True,
        )
        while not stop["now"] and all(proc.started.poll() is None for proc in processes):
            if parent is not None and parent.stopping():
                print("make was stopped: stopping both", flush=True)
                break
            time.sleep(0.2)
    except (RuntimeError, TimeoutError) as exc:  # a process exited or never answered
        raise SystemExit(str(exc)) from None
    finally:
        for proc in processes:  # both told at once, then waited for
            proc.terminate()
        for proc in reversed(processes):
            proc.stop(timeout=15)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
