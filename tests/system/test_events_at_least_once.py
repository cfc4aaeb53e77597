"""WorkOS events survive a crash: workers SIGKILLed in the middle of a large event, and the
redelivery (webhook) or the next poll (Events API) finishes it.

The event is `user.deleted` for a user with SESSIONS sessions. They are written straight into
the service's SQLite file by the test (a sign-in each over HTTP would take minutes); each is a
record as a sign-in makes it, and its cookie is signed with the service's SECRET_KEY. The
workers are killed as soon as the first of the records is gone, so the event is half applied.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import requests
from flask import Flask

from devstack.control_client import API_KEY
from devstack.stack import start_service
from service.sessions.sqlite_store import SqliteSessionStore
from service.web.cookie import CookieSessionInterface
from tests.system.service_http import CSRF, SECRET, cookie_content, signed_in
from tests.system.test_process_faults import wait_workers
from tests.unit.test_webhook_signature import sign

WEBHOOK_SECRET = "whsec_system_tests_0123456789abcdef"
SESSIONS = 3000
SAMPLE = 60  # sessions whose tokens are asked for after the redelivery


def _rows(path: Path) -> int:
    with sqlite3.connect(path, timeout=5) as db:
        return db.execute("SELECT count(*) FROM sessions").fetchone()[0]


def _many_sessions(url: str, path: Path) -> list[dict[str, str]]:
    """SESSIONS records of Alice (no WorkOS session: only user.deleted can end them), and the
    cookies of the first SAMPLE of them."""
    cookies = signed_in(url)
    store = SqliteSessionStore(path, SECRET)
    template = store.get(cookie_content(cookies["gts"])["session_id"])
    assert template is not None
    serializer = CookieSessionInterface(SECRET).get_signing_serializer(Flask("cookies"))
    jars = []
    for n in range(SESSIONS):
        record = replace(template, id=secrets.token_hex(16), sid=None)
        store.create(record)
        if n < SAMPLE:
            jars.append({"gts": serializer.dumps({"session_id": record.id})})
    # The sign-in's own record goes: its WorkOS session's session.revoked would end it first.
    store.delete(template.id)
    store.close()
    return jars


def _kill_workers_mid_event(master: int, path: Path, total: int) -> int:
    """SIGKILL every worker as soon as the event has ended its first session; the sessions
    left at that moment."""
    deadline = time.monotonic() + 60
    while (left := _rows(path)) >= total:
        assert time.monotonic() < deadline, "the event never started"
        time.sleep(0.005)
    victims = wait_workers(master, lambda pids: len(pids) == 2)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    wait_workers(master, lambda pids: len(pids) == 2 and not pids & victims)
    return left


def _signed_out(url: str, jars: list[dict[str, str]]) -> int:
    answers = [
        requests.get(url + "/api/graphql-token", headers=CSRF, cookies=jar, timeout=30)
        for jar in jars
    ]
    assert {a.status_code for a in answers} <= {200, 401}
    return sum(a.status_code == 401 for a in answers)


@pytest.mark.timeout(240)
def test_a_webhook_redelivered_after_a_crash_finishes_the_event(tmp_path, upstream):
    proc, url = start_service(
        tmp_path, upstream.url, WORKOS_WEBHOOK_SECRET=WEBHOOK_SECRET, WEB_CONCURRENCY=2
    )
    path = tmp_path / "sessions.sqlite3"
    try:
        jars = _many_sessions(url, path)
        total = _rows(path)
        body = json.dumps(
            {"id": "event_crash_01", "event": "user.deleted", "data": {"id": "user_alice"}}
        ).encode()

        def deliver() -> requests.Response | None:
            headers = {"WorkOS-Signature": sign(body, WEBHOOK_SECRET, int(time.time() * 1000))}
            try:
                return requests.post(
                    url + "/webhooks/workos", data=body, headers=headers, timeout=60
                )
            except requests.ConnectionError:
                return None  # its worker was killed: WorkOS sees no 2xx and delivers again

        first = threading.Thread(target=deliver)
        first.start()
        left = _kill_workers_mid_event(proc.pid, path, total)
        first.join(timeout=60)
        assert 0 < left < total, "the workers were not killed in the middle of the event"
        after_crash = _rows(path)

        again = deliver()
        assert again is not None and again.json() == {"status": "applied"}
        assert _rows(path) == 0
        assert _signed_out(url, jars) == SAMPLE
        print(
            f"\nuser.deleted over {total} sessions, workers SIGKILLed: {after_crash} left after "
            f"the crash, 0 after the redelivery ({SAMPLE} of {SAMPLE} sampled cookies 401)"
        )
        third = deliver()
        assert third is not None and third.json() == {"status": "duplicate"}
    finally:
        proc.stop()


@pytest.mark.timeout(240)
def test_the_poller_applies_again_an_event_its_worker_died_in(tmp_path, upstream):
    proc, url = start_service(
        tmp_path, upstream.url, WORKOS_EVENTS_POLL_SECONDS="0.5", WEB_CONCURRENCY=2
    )
    path = tmp_path / "sessions.sqlite3"
    try:
        jars = _many_sessions(url, path)
        total = _rows(path)
        time.sleep(1.5)  # the poller has its cursor at the newest event
        response = requests.delete(
            upstream.url + "/user_management/users/user_alice",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=10,
        )
        assert response.status_code in (200, 202, 204), response.text
        left = _kill_workers_mid_event(proc.pid, path, total)
        assert 0 < left < total, "the workers were not killed in the middle of the event"
        # The dead poller's lease runs out (10 s at most); the next resumes at its cursor.
        deadline = time.monotonic() + 40
        while _rows(path):
            assert time.monotonic() < deadline, f"{_rows(path)} sessions never signed out"
            time.sleep(0.2)
        assert _signed_out(url, jars) == SAMPLE
    finally:
        proc.stop()
