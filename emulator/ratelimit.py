"""A per-API-key request limit like WorkOS's (6,000 per 60 s): 429 with Retry-After.

Off unless `--rate-limit N/minute` or `PUT /_emulate/rate_limit` sets it. Calls made with the
API key (Bearer, or `client_secret` in an authenticate body) are counted in a sliding log: no
span of the window admits more than N, as strict as WorkOS's "per 60 s" reads. Refused calls
are not counted (WorkOS does not say whether it counts them).
"""

from __future__ import annotations

import math
import re
from collections import deque

UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")
# WorkOS's own answer, as seen in production (docs/workos.md#rate-limits).
BODY = {
    "message": "Rate limit exceeded. See the WorkOS docs for more information: "
    "https://workos.com/docs/reference/rate-limits",
    "code": "rate_limit_exceeded",
}


def parse_rate(value: object) -> tuple[int, float] | None:
    """(amount, window seconds) of "N/second|minute|hour"; None for None; ValueError else."""
    if value is None:
        return None
    match = RATE.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError("rate limit must be 'N/minute' (or /second, /hour) with N >= 1, or null")
    return int(match.group(1)), UNITS[match.group(2)]


class KeyLimiter:
    """Admitted calls per key in the last window."""

    def __init__(self, amount: int, window: float):
        self.amount = amount
        self.window = window
        self._logs: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> int | None:
        """Count a call: None when admitted, else whole seconds until one would be."""
        times = self._logs.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.amount:
            return max(1, math.ceil(times[0] + self.window - now))
        times.append(now)
        return None
