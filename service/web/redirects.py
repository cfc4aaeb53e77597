"""Where a sign-in or a sign-out may send the browser: a path on this origin, nothing else."""

from __future__ import annotations

from urllib.parse import unquote


def safe_next(value: str | None, default: str = "/") -> str:
    """Return value when it is a path on this origin, default otherwise."""
    if not value or len(value) > 2048:
        return default
    # Decode once so that encoded forms (%2F%2Fhost, %5Chost) are judged as browsers read them.
    decoded = unquote(value)
    for candidate in (value, decoded):
        if not candidate.startswith("/") or candidate.startswith("//"):
            return default
        if "\\" in candidate or any(ord(c) < 0x20 or ord(c) == 0x7F for c in candidate):
            return default
    return value
