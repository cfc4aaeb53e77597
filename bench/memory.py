"""Bytes per cached token: in process (tracemalloc) and in Redis (MEMORY USAGE)."""

from __future__ import annotations

import gc
import secrets
import sys
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import redis
import requests

from bench.report import Row
from bench.stack import ORG, TOKEN_ROUTE, Stack, bench_user
from devstack.control_client import API_KEY
from service.tokens.broker import TokenBroker

ENTRIES = 5000
REDIS_SESSIONS = 20
TARGET_BYTES = 2048


def _mint_many(emulator_url: str, count: int) -> list[bytes]:
    """Real emulator-minted tokens, as the raw bytes a response body would hold."""
    body = {"organization_id": ORG, "user_id": bench_user(0)[0]}
    local = threading.local()

    def one(_: int) -> bytes:
        if not hasattr(local, "http"):
            local.http = requests.Session()
        response = local.http.post(
            emulator_url + "/client/token",
            json=body,
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["token"].encode("ascii")

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(count)))


def in_process(raw_tokens: list[bytes]) -> dict:
    """tracemalloc growth of a TokenBroker (MemoryTokenStore) filled with len(raw_tokens) keys.

    Everything an entry keeps is allocated inside the traced window, as in the service, where
    the token comes from a JSON body and the key strings from that request's session cookie.
    """
    source = iter(raw_tokens)
    broker = TokenBroker(lambda user_id, org_id: next(source).decode("ascii"))
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for _ in raw_tokens:
        session_id = secrets.token_hex(16)  # the service's session_id shape
        user_id = f"user_{secrets.token_hex(13).upper()}"  # a WorkOS id shape
        broker.get(session_id, user_id, ORG.encode().decode())
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(broker) == len(raw_tokens)
    sample = raw_tokens[0].decode("ascii")
    key_strings = sum(
        sys.getsizeof(s) for s in (secrets.token_hex(16), f"user_{'X' * 26}", ORG + "")
    )
    return {
        "entries": len(raw_tokens),
        "bytes_per_entry": (after - before) / len(raw_tokens),
        "token_length_chars": sum(len(t) for t in raw_tokens) / len(raw_tokens),
        "token_str_bytes": sys.getsizeof(sample),
        "key_strings_bytes": key_strings,
    }


# What a cached token costs (its value and its index entry), and what a signed-in session
# costs beside it (the record, its user/sid/organization indexes, the kept organization list);
# rate-limit counters and the WorkOS budget's log are per user and per deployment.
TOKEN_GROUPS = ("gts:tok", "gts:sess")
SESSION_GROUPS = ("gts:s", "gts:su", "gts:sx", "gts:so", "gts:v")


def in_redis(redis_url: str, tokens: int) -> dict:
    """MEMORY USAGE of the store's keys under gts:* (locks left out), per cached token.

    Keys are grouped by the name's first two segments (e.g. gts:tok, gts:sess); the token
    groups, and apart from them the session groups, are divided by the tokens (= sessions) held.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        names = [k.decode() for k in client.scan_iter(match="gts:*", count=1000)]
        groups: dict[str, dict] = {}
        for name in names:
            if "lock" in name:
                continue  # a single-flight lock lives only while a mint is in flight
            group = groups.setdefault(":".join(name.split(":")[:2]), {"keys": 0, "bytes": 0})
            group["keys"] += 1
            group["bytes"] += client.memory_usage(name, samples=0) or 0
            group["type"] = client.type(name).decode()

        def per(kinds: tuple[str, ...]) -> float | None:
            held = [g["bytes"] for name, g in groups.items() if name in kinds]
            return sum(held) / tokens if held else None

        return {
            "keys_scanned": len(names),
            "tokens": tokens,
            "groups": groups,
            "bytes_per_token": per(TOKEN_GROUPS),
            "bytes_per_session": per(SESSION_GROUPS),
        }
    finally:
        client.close()


def run() -> tuple[list[Row], dict]:
    """Fill an in-process broker with real tokens; then let the service fill Redis."""
    with Stack("memory") as stack:
        upstream = stack.emulator(REDIS_SESSIONS)
        raw_tokens = _mint_many(upstream.url, ENTRIES)
        memory = in_process(raw_tokens)
        redis_url = stack.redis()
        url = stack.service(upstream.url, REDIS_URL=redis_url)
        for cookie in stack.sign_in(url, REDIS_SESSIONS):
            response = requests.get(
                url + TOKEN_ROUTE, headers={"X-CSRF": "1", "Cookie": cookie}, timeout=10
            )
            response.raise_for_status()
        shared = in_redis(redis_url, REDIS_SESSIONS)
    per_entry = memory["bytes_per_entry"]
    rows = [
        Row(
            f"bytes per cached token, in process ({ENTRIES} real tokens)",
            f"{per_entry:.0f} B (token itself {memory['token_str_bytes']} B)",
            f"<= {TARGET_BYTES} B",
            per_entry <= TARGET_BYTES,
        )
    ]
    if shared["bytes_per_token"] is None:
        rows.append(
            Row(
                "bytes per cached token, in Redis",
                "n/a (Redis store not wired: no gts:* token keys)",
                f"<= {TARGET_BYTES} B",
            )
        )
    else:
        detail = ", ".join(
            f"{name}: {g['keys']} x {g['bytes'] / g['keys']:.0f} B"
            for name, g in sorted(shared["groups"].items())
        )
        rows.append(
            Row(
                f"bytes per cached token, in Redis (MEMORY USAGE, {REDIS_SESSIONS} tokens)",
                f"{shared['bytes_per_token']:.0f} B (gts:tok + gts:sess; all keys: {detail})",
                f"<= {TARGET_BYTES} B",
                shared["bytes_per_token"] <= TARGET_BYTES,
            )
        )
        rows.append(
            Row(
                "bytes per signed-in session in Redis beside its token (record, indexes, "
                "kept organization list)",
                f"{shared['bytes_per_session'] or 0:.0f} B",
            )
        )
    return rows, {"in_process": memory, "redis": shared}
