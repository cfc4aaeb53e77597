"""The operator's commands on SQLite, through Flask's CLI runner, against the emulator."""

from __future__ import annotations

import re

import pytest

from devstack.control_client import API_KEY
from service import components
from tests.conftest import Browser
from tests.seed_names import ALICE, CAROL

WEBHOOK_SECRET = "whsec_operator_cli_0123456789"


@pytest.fixture
def signed_in(make_app, emulator):
    """An app with two sessions of Alice (one holding a cached token) and one of Carol."""
    app = make_app(WORKOS_WEBHOOK_SECRET=WEBHOOK_SECRET)
    browsers = [Browser(app.test_client(), emulator) for _ in range(3)]
    for browser, email in zip(browsers, (ALICE, ALICE, CAROL), strict=True):
        assert browser.sign_in(email).status_code == 302
    assert browsers[0].token().status_code == 200
    return app, browsers


def run(app, *args, **kwargs):
    return app.test_cli_runner().invoke(args=list(args), catch_exceptions=False, **kwargs)


def test_count_by_user_organization_and_all(signed_in):
    app, _ = signed_in
    assert run(app, "sessions", "count", "--all").output == "3\n"
    assert run(app, "sessions", "count", "--user", "user_alice").output == "2\n"
    assert run(app, "sessions", "count", "--organization", "org_acme").output == "2\n"
    assert run(app, "sessions", "count", "--user", "user_nobody").output == "0\n"


def test_list_shows_hashed_ids_users_organizations_and_times_only(signed_in):
    app, browsers = signed_in
    result = run(app, "sessions", "list", "--all")
    lines = result.output.splitlines()
    assert lines[0].split() == ["id", "user", "organization", "signed", "in", "expires"]
    assert lines[-1] == "3 session(s)"
    rows = [line.split() for line in lines[1:-1]]
    assert sorted((row[1], row[2]) for row in rows) == [
        ("user_alice", "org_acme"),
        ("user_alice", "org_acme"),
        ("user_carol", "-"),
    ]
    assert all(re.fullmatch(r"[0-9a-f]{12}", row[0]) for row in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[3]) for row in rows)
    for browser in browsers:  # no session id, cookie, token or email in the output
        record = browser.record()
        assert record.id not in result.output and record.user["email"] not in result.output
        for cookie in browser.client._cookies.values():
            assert cookie.value not in result.output
    assert "eyJ" not in result.output


def test_one_selection_exactly(signed_in):
    app, _ = signed_in
    for args in ([], ["--all", "--user", "user_alice"]):
        result = app.test_cli_runner().invoke(args=["sessions", "count", *args])
        assert result.exit_code == 2 and "exactly one of" in result.output


def test_end_by_user_signs_out_and_drops_cached_tokens(signed_in, emulator):
    app, browsers = signed_in
    broker = components.of(app).tokens
    assert len(broker) == 1
    assert run(app, "sessions", "end", "--user", "user_alice").output == "ended 2 session(s)\n"
    assert len(broker) == 0
    assert browsers[0].token().status_code == 401 and browsers[1].token().status_code == 401
    assert browsers[2].record() is not None  # Carol's goes on
    assert run(app, "sessions", "count", "--all").output == "1\n"


def test_end_all_asks_first(signed_in):
    app, browsers = signed_in
    refused = run(app, "sessions", "end", "--all", input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert run(app, "sessions", "count", "--all").output == "3\n"
    assert run(app, "sessions", "end", "--all", "--yes").output == "ended 3 session(s)\n"
    assert all(browser.record() is None for browser in browsers)


def test_end_by_organization(signed_in):
    app, _ = signed_in
    ended = run(app, "sessions", "end", "--organization", "org_acme")
    assert ended.output == "ended 2 session(s)\n"


def test_budget_show_without_redis_says_it_sees_its_own_process(signed_in):
    app, _ = signed_in
    output = run(app, "budget", "show").output
    assert output.startswith("scope: this process\n")
    assert (
        "window: 60 s; total 2500, of which 500 reserved for sign-ins; sign-ins at most" in output
    )
    assert re.search(r"^spent: \d+ \(sign-ins \d+, other kinds \d+\)$", output, re.M)
    assert "mint: not paused" in output and "note: without REDIS_URL" in output


def _lines(output: str) -> dict[str, tuple[str, str]]:
    found = {}
    for line in output.splitlines():
        status, name, reason = re.fullmatch(r"(\S+)\s+(\S+(?: \S+)?)\s{2,}(.*)", line).groups()
        found[name] = (status, reason)
    return found


def test_check_passes_against_the_emulator(make_app, emulator):
    emulator.set_redirect_uris(["http://localhost/callback"])
    app = make_app(WORKOS_WEBHOOK_SECRET=WEBHOOK_SECRET)
    result = app.test_cli_runner().invoke(args=["check"])
    lines = _lines(result.output)
    assert result.exit_code == 0, result.output
    assert [status for status, _ in lines.values()] == ["ok"] * 5 + ["skip", "ok"]
    assert list(lines) == [
        "api key",
        "client id",
        "redirect uri",
        "webhook secret",
        "session store",
        "redis",
        "clock",
    ]
    assert API_KEY not in result.output and WEBHOOK_SECRET not in result.output
    assert lines["session store"][1].endswith("sessions.sqlite3")  # SESSION_DB_PATH, named


def test_check_names_a_session_file_left_in_the_app_folder(make_app, emulator):
    emulator.set_redirect_uris(["http://localhost/callback"])
    app = make_app(SESSION_DB_PATH="")  # unset: the default file in the instance folder
    result = app.test_cli_runner().invoke(args=["check"])
    status, reason = _lines(result.output)["session store"]
    assert status == "ok" and app.instance_path in reason
    assert "set SESSION_DB_PATH to a volume" in reason


def test_check_fails_on_each_misconfiguration(make_app, emulator):
    emulator.set_redirect_uris(["https://app.example.com/callback"])
    app = make_app(WORKOS_API_KEY="sk_test_wrong", WORKOS_CLIENT_ID="client_other")
    result = app.test_cli_runner().invoke(args=["check"])
    lines = _lines(result.output)
    assert result.exit_code == 1, result.output
    assert lines["api key"] == ("FAIL", "WorkOS refused the key: GET /events answered 401")
    assert lines["client id"][0] == "FAIL"
    assert lines["redirect uri"][0] == "FAIL"  # the emulator refuses the unknown client first
    assert lines["webhook secret"][0] == "skip"
    assert lines["session store"][0] == "ok"
    assert "sk_test_wrong" not in result.output


def test_check_fails_on_an_unregistered_redirect_uri_alone(make_app, emulator):
    emulator.set_redirect_uris(["https://app.example.com/callback"])
    result = make_app().test_cli_runner().invoke(args=["check"])
    lines = _lines(result.output)
    assert result.exit_code == 1
    assert lines["redirect uri"] == (
        "FAIL",
        "authorize refused http://localhost/callback (400)",
    )
    assert lines["api key"][0] == lines["client id"][0] == "ok"
    ok = (
        make_app()
        .test_cli_runner()
        .invoke(args=["check", "--redirect-uri", "https://app.example.com/callback"])
    )
    assert ok.exit_code == 0, ok.output
