"""`python -m bench [part ...]`: run the parts, print one table, write bench/results.json."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import burst, hotpath, instructions, latency, memory, slow, soak, surge, throughput
from bench.report import Row, machine, table

PARTS = {
    "throughput": throughput.run,
    "burst": burst.run,
    "latency": latency.run,
    "memory": memory.run,
    "soak": soak.run,
    "surge": surge.run,
    "slow": slow.run,
}
# Run only when named: diagnoses of the cache-hit path, not figures with a target.
EXTRA = {"hotpath": hotpath.run, "instructions": instructions.run}
RESULTS = Path(__file__).with_name("results.json")


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def _busy_warning(load: float, cores: int) -> str:
    if load <= cores:
        return ""
    return (
        f"WARNING: the machine was busy (load {load} on {cores} cores): rps and latency "
        "figures come out low and noisy; CPU-per-request figures hold up better"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts (all by default); 1 when a part could not run at all."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "parts",
        nargs="*",
        metavar="part",
        help=f"any of {', '.join([*PARTS, *EXTRA])} (default: all but {', '.join(EXTRA)})",
    )
    chosen = parser.parse_args(argv).parts or list(PARTS)
    unknown = [name for name in chosen if name not in {**PARTS, **EXTRA}]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    # SIGTERM unwinds like Ctrl-C, so every part's finally blocks stop their processes.
    signal.signal(signal.SIGTERM, _terminate)
    box = machine()
    print(
        f"bench: {box['cores_usable']} usable cores (cpu_count {box['cpu_count']}), "
        f"load average {box['load_average_at_start']}; load: wrk -t1 (throughput, soak), "
        "100 client threads (burst), one client (latency); "
        f"parts: {', '.join(chosen)}",
        flush=True,
    )
    busy = _busy_warning(box["load_average_at_start"][0], box["cores_usable"])
    if busy:
        print(busy, flush=True)
    rows: list[Row] = []
    raw: dict = {}
    failed = False
    started = time.monotonic()
    for name in chosen:
        part_started = time.monotonic()
        print(f"bench: {name} ...", flush=True)
        try:
            part_rows, part_raw = {**PARTS, **EXTRA}[name]()
        except Exception as exc:  # one broken part must not hide the others' numbers
            traceback.print_exc()
            failed = True
            part_rows, part_raw = [Row(f"{name}: did not run", repr(exc)[:120], "", False)], {}
        part_raw["seconds"] = round(time.monotonic() - part_started, 1)
        part_raw["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        rows += part_rows
        raw[name] = part_raw
    elapsed = time.monotonic() - started
    print()
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(
        f"Benchmarks on {box['cores_usable']} cores ({box['platform']}), {elapsed:.0f} s; "
        f"load average {box['load_average_at_start'][0]} at start, {load_end[0]} at end"
    )
    busy = _busy_warning(max(box["load_average_at_start"][0], load_end[0]), box["cores_usable"])
    if busy:
        print(busy)
    print(table(rows))
    RESULTS.write_text(
        json.dumps(
            {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": box,
                "seconds": round(elapsed, 1),
                "rows": [row.as_dict() for row in rows],
                "parts": raw,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"raw numbers: {RESULTS}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
