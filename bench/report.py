"""Rows of the printed table, percentiles, and the machine a run had."""

from __future__ import annotations

import math
import os
import platform
from dataclasses import asdict, dataclass


@dataclass
class Row:
    """One line of the table: met is None for figures shown without a target."""

    metric: str
    measured: str
    target: str = ""
    met: bool | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def machine() -> dict:
    """Cores and platform of this run."""
    return {
        "cpu_count": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def table(rows: list[Row]) -> str:
    """The rows as a markdown table."""
    lines = ["| metric | measured | target | met? |", "|---|---|---|---|"]
    for row in rows:
        if row.met is None:
            met = "n/a" if row.target else "-"
        else:
            met = "yes" if row.met else "NO"
        lines.append(f"| {row.metric} | {row.measured} | {row.target or '-'} | {met} |")
    return "\n".join(lines)
