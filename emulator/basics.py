"""What emulator modules share and import nothing back for: WorkOS-style ids and timestamps,
and the bound on every log the emulator keeps."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

LOG_LIMIT = 10_000


def iso(ts: float) -> str:
    """Epoch seconds as WorkOS-style ISO 8601 UTC with milliseconds."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(prefix: str) -> str:
    """A random WorkOS-style id such as `org_01...`."""
    return f"{prefix}_{secrets.token_hex(13).upper()}"
