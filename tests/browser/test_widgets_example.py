"""WorkOS's own React widgets (examples/widgets, `@workos-inc/widgets` 1.18.0) in Chromium.

The example is built once per run from its lock file (offline when npm's cache has the
packages) with this stack's URLs, and served by a static server on another 127.0.0.1 port:
its widgets call the emulator's `/_widgets/*` API, its token clients call the service (both
with CORS for that origin). The users sign in through the service's own flow first.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from devstack.control_client import API_KEY
from devstack.stack import ROOT, free_port
from tests.browser.conftest import Watch, watched_context
from tests.browser.helpers import sign_in_without_page, wait_until
from tests.seed_names import ACME, ALICE, BOB, CAROL, GLOBEX
from tests.support import ThreadedServer, note_secret, require_tool

EXAMPLE = ROOT / "examples" / "widgets"
EXAMPLE_PORT = free_port()
EXAMPLE_ORIGIN = f"http://127.0.0.1:{EXAMPLE_PORT}"
WEBHOOK_SECRET = "whsec_widgets_example_0123456789abcdef"
SERVICE_ENV = {
    "CORS_ALLOWED_ORIGINS": EXAMPLE_ORIGIN,
    "WORKOS_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "WIDGETS_EXAMPLE_URL": f"{EXAMPLE_ORIGIN}/",
}
EMULATOR_ARGS = ("--allowed-origin", EXAMPLE_ORIGIN)
SHOTS = ROOT / "artifacts" / "widgets"
WIDGET_TOKEN_ROUTE = "/api/widget-token"
API = {"Authorization": f"Bearer {API_KEY}"}
MANAGE = "widgets:users-table:manage"
BUILD_TIMEOUT_S = 300


def _run(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Run a build step in the example's folder; its duration in seconds."""
    started = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=EXAMPLE,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return time.monotonic() - started


def _static_site(dist: Path):
    """A WSGI app serving the built files (index.html at /), nothing else."""
    root = dist.resolve()

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        file = (root / (path.lstrip("/") or "index.html")).resolve()
        if root not in file.parents or not file.is_file():
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        body = file.read_bytes()
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.fixture(scope="module")
def example(stack):
    """The example built for this stack (npm ci from the lock file, vite build), served."""
    require_tool("npm", "apt-get install npm")
    installed = _run(["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"])
    (EXAMPLE / "node_modules" / ".installed").touch()  # the Makefile's stamp: no second npm ci
    dist = stack.tmp / "widgets-dist"
    env = {"VITE_SERVICE_URL": stack.url, "VITE_EMULATOR_URL": stack.emulator.url}
    built = _run(
        ["node_modules/.bin/vite", "build", "--outDir", str(dist), "--emptyOutDir"], env=env
    )
    print(f"widgets example: npm ci {installed:.1f} s, vite build {built:.1f} s")
    server = ThreadedServer(_static_site(dist), EXAMPLE_PORT).start()
    try:
        yield server.url + "/"
    finally:
        server.stop()


class WidgetTokens:
    """What the pages of one context got from the widget token route and the `/_widgets/*` API."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict | None]] = []
        self.tokenless_403s = 0  # the widgets' first call, sent before their token arrived
        self.other_403s: list[str] = []

    def on_response(self, response) -> None:
        path = urlsplit(response.url).path
        if path.startswith("/_widgets/") and response.status == 403:
            if "authorization" in response.request.headers:
                self.other_403s.append(f"{response.request.method} {path}")
            else:
                self.tokenless_403s += 1
        if path != WIDGET_TOKEN_ROUTE or response.request.method != "GET":
            return
        try:
            body = response.json()
        except Exception:
            body = None
        if isinstance(body, dict) and body.get("token"):
            note_secret(body["token"])  # the run's secrets check looks for it in every log
        self.answers.append((response.status, body))

    @property
    def ok(self) -> list[dict]:
        return [body for status, body in self.answers if status == 200 and body]


@pytest.fixture
def widget_tokens(context) -> WidgetTokens:
    tokens = WidgetTokens()
    context.on("response", tokens.on_response)
    return tokens


def widget(page, widget_id: str):
    """A widget's root element once it shows its data (not loading, not its error screen)."""
    root = page.locator(f'[data-woswidgets-widget-id="{widget_id}"][data-woswidgets-widget]')
    expect(root).to_have_attribute("data-woswidgets-widget-state", "resolved")
    return root


def shot(page, name: str, target=None) -> Path:
    """A PNG of the widget (or the page) under artifacts/widgets/ for review."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    (target or page).screenshot(path=str(path), animations="disabled")
    return path


FORBIDDEN_LINE = "error: Failed to load resource: the server responded with a status of 403"


def console_errors(
    watch: Watch, tokens: WidgetTokens | None = None, allowed: tuple[str, ...] = ()
) -> list[str]:
    """The pages' console errors, but Chromium's line for each 403 the widgets were meant to get.

    @workos-inc/widgets 1.18.0 sends a widget's first data request before its `authToken`
    function has answered (UserProfile's `me`, UsersManagement's lists: their queries do not
    wait for the token), without Authorization; the 403 makes it fetch the token and retry.
    Chromium logs each such 403. Any other 403, and every other error line, counts.
    """
    assert tokens is None or not tokens.other_403s, tokens.other_403s
    expected = tokens.tokenless_403s if tokens else 0
    errors = []
    for line in watch.console:
        if not line.startswith("error:") or any(text in line for text in allowed):
            continue
        if line.startswith(FORBIDDEN_LINE) and expected:
            expected -= 1
            continue
        errors.append(line)
    return errors


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def emulator_get(stack, path: str, **params) -> dict:
    answer = requests.get(stack.emulator.url + path, params=params, headers=API, timeout=10)
    answer.raise_for_status()
    return answer.json()


def acme_roles(stack, user_id: str) -> list[str]:
    memberships = emulator_get(
        stack, "/user_management/organization_memberships", organization_id=ACME, user_id=user_id
    )["data"]
    return [m["role"]["slug"] for m in memberships if m.get("status") != "inactive"]


def verification_code(stack, user_id: str) -> str:
    """The latest elevated-access code the emulator "sent" to the user."""
    listed = requests.get(stack.emulator.url + "/_emulate/widgets/verifications", timeout=10)
    codes = [v for v in listed.json()["verifications"] if v["user_id"] == user_id]
    assert codes, listed.text
    return codes[-1]["code"]


def member_row(users, email: str):
    return users.get_by_role("row").filter(has_text=email)


def open_example(context, example: str):
    page = context.new_page()
    page.goto(example)
    expect(page.get_by_test_id("user-email")).to_be_visible()
    return page


def test_alice_manages_acmes_members(context, stack, example, widget_tokens, watch):
    sign_in_without_page(context, ALICE)
    page = open_example(context, example)
    users = widget(page, "users-management")
    expect(member_row(users, ALICE)).to_have_count(1)
    expect(member_row(users, BOB)).to_have_count(1)

    # Invite someone through the widget: they are listed as invited.
    invitee = "dana@acme.com"
    users.get_by_role("button", name="Invite user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Email address").fill(invitee)
    dialog.get_by_role("button", name="Invite").click()
    expect(dialog).to_have_count(0)
    expect(member_row(users, invitee)).to_contain_text("Invited")

    # Bob (a member) becomes an admin.
    assert acme_roles(stack, "user_bob") == ["member"]
    member_row(users, BOB).get_by_role("button", name="User actions").click()
    page.get_by_role("menuitem", name="Edit role").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").click()
    page.get_by_role("option", name="Admin").click()
    with page.expect_response(
        lambda r: (
            "/_widgets/UserManagement/members/user_bob" in r.url and r.request.method == "POST"
        )
    ) as changed:
        dialog.get_by_role("button", name="Save").click()
    assert changed.value.ok, changed.value.status
    expect(dialog).to_have_count(0)
    expect(member_row(users, BOB)).to_contain_text("Admin")
    assert acme_roles(stack, "user_bob") == ["admin"]
    shot(page, "users-management", users)

    # The invitation goes: the invitee is no longer listed.
    member_row(users, invitee).get_by_role("button", name="User actions").click()
    page.get_by_role("menuitem", name="Revoke invitation").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Revoke").click()
    expect(member_row(users, invitee)).to_have_count(0)
    # UsersManagement's token carries the scope; the user-scoped widgets' token carries none.
    by_scopes = {tuple(body["scopes"]): body for body in widget_tokens.ok}
    assert set(by_scopes) == {(MANAGE,), ()}
    assert claims(by_scopes[(MANAGE,)]["token"])["permissions"] == [MANAGE]
    assert claims(by_scopes[()]["token"])["permissions"] == []
    assert not console_errors(watch, widget_tokens), watch.console


def test_alice_changes_her_name_in_her_profile(context, stack, example, widget_tokens, watch):
    sign_in_without_page(context, ALICE)
    page = open_example(context, example)
    profile = widget(page, "user-profile")
    expect(profile).to_contain_text("Alice Anders")
    expect(profile).to_contain_text(ALICE)
    shot(page, "user-profile", profile)

    profile.get_by_label("Full name").get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("First name").fill("Alicia")
    dialog.get_by_label("Last name").fill("Andersen")
    with page.expect_response(
        lambda r: r.url.endswith("/_widgets/UserProfile/me") and r.request.method == "POST"
    ) as saved:
        dialog.get_by_role("button", name="Save").click()
    assert saved.value.ok, saved.value.status
    expect(dialog).to_have_count(0)
    expect(profile).to_contain_text("Alicia Andersen")
    user = emulator_get(stack, "/user_management/users/user_alice")
    assert (user["first_name"], user["last_name"]) == ("Alicia", "Andersen")

    # Setting a password needs elevated access: a code "sent" by email, read from the emulator.
    security = widget(page, "user-security")
    security.get_by_role("button", name="Set a password").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Send verification code").click()
    dialog.locator("input[name=otp-0]").click()
    page.keyboard.type(verification_code(stack, "user_alice"))  # a full code submits itself
    expect(dialog.get_by_role("heading", name="Set a password")).to_be_visible()
    dialog.get_by_label("Enter a password").fill("correct horse battery staple 7")
    dialog.get_by_label("Confirm your password").fill("correct horse battery staple 7")
    dialog.get_by_role("button", name="Set password").click()
    expect(dialog).to_have_count(0)
    expect(security.get_by_role("button", name="Change")).to_be_visible()
    shot(page, "user-security", security)
    assert not console_errors(watch, widget_tokens), watch.console


def test_alices_sessions_mark_the_current_one_and_revoke_the_other(
    chromium, context, stack, emulator, example, widget_tokens, watch
):
    emulator.add_webhook(stack.url + "/webhooks/workos", WEBHOOK_SECRET)
    other_watch, other_tokens = Watch(), WidgetTokens()
    other = watched_context(chromium, stack, other_watch)
    other.on("response", other_tokens.on_response)
    try:
        sign_in_without_page(other, ALICE)
        sign_in_without_page(context, ALICE)
        other_page = open_example(other, example)
        widget(other_page, "user-profile")
        page = open_example(context, example)

        mine = page.evaluate(
            """async (service) => (await (await fetch(service + '/api/session',
                 {headers: {'X-CSRF': '1'}, credentials: 'include'})).json()).session_id""",
            stack.url,
        )
        theirs = other_page.evaluate(
            """async (service) => (await (await fetch(service + '/api/session',
                 {headers: {'X-CSRF': '1'}, credentials: 'include'})).json()).session_id""",
            stack.url,
        )
        assert mine and theirs and mine != theirs

        sessions = widget(page, "user-sessions")
        current = sessions.locator(".woswidgets-card-list-item").filter(has_text="This device")
        expect(sessions.get_by_text("This device")).to_have_count(1)
        # One "Sign out" for the other session, one for "all other devices"; none for this one.
        expect(current.get_by_role("button", name="Sign out")).to_have_count(0)
        expect(sessions.get_by_role("button", name="Sign out")).to_have_count(2)
        shot(page, "user-sessions", sessions)

        sessions.get_by_role("button", name="Sign out").first.click()
        confirm = page.get_by_role("alertdialog")
        expect(confirm).to_contain_text("Sign out of device?")
        # Wait for the widget's own call: its list has no button while it loads, too.
        with page.expect_response(
            lambda r: (
                "/_widgets/UserProfile/sessions/revoke/" in r.url and r.request.method == "DELETE"
            )
        ) as revoked:
            confirm.get_by_role("button", name="Sign out").click()
        assert revoked.value.ok, revoked.value.status
        expect(sessions.get_by_role("button", name="Sign out")).to_have_count(0)
        expect(widget(page, "user-sessions").get_by_text("This device")).to_have_count(1)
        active = emulator_get(stack, "/user_management/users/user_alice/sessions")["data"]
        assert [s["id"] for s in active if s.get("status", "active") == "active"] == [mine]

        # The service hears of it by webhook: the other browser is signed out, this one is not.
        def other_signed_out() -> bool:
            answer = other.request.get(
                WIDGET_TOKEN_ROUTE, headers={"X-CSRF": "1"}, fail_on_status_code=False
            )
            return answer.status == 401

        wait_until(page, other_signed_out, 20, "the other browser was not signed out")
        other_page.reload()
        expect(other_page.get_by_test_id("sign-in-link")).to_have_attribute(
            "href", stack.url + "/login"
        )
        assert page.request.get("/api/session", headers={"X-CSRF": "1"}).status == 200
        assert not console_errors(watch, widget_tokens), watch.console
        # The signed-out page's own 401 from /api/session is Chromium's console line, expected.
        assert not console_errors(other_watch, other_tokens, ("status of 401",)), (
            other_watch.console
        )
        assert not other_watch.csp and not other_watch.page_errors
    finally:
        other.close()


def test_bob_switches_to_globex_in_the_organization_switcher(
    context, stack, example, widget_tokens, watch
):
    page = context.new_page()
    page.goto("/login?login_hint=" + BOB)
    page.get_by_label("Acme Corp").check()  # bob is in two organizations: he picks Acme
    page.get_by_test_id("choose-organization").click()
    expect(page.get_by_test_id("organization-name")).to_have_text("Acme Corp")

    page.goto(example)
    switcher = widget(page, "organization-switcher")
    expect(switcher).to_contain_text("Acme Corp")
    # A member at Acme: his token lacks the users-table permission, the page says so.
    expect(page.get_by_test_id("no-manage-permission")).to_be_visible()
    assert {body["organization_id"] for body in widget_tokens.ok} == {ACME}
    switcher.click()  # the widget is its own trigger button
    shot(page, "organization-switcher")
    fetched = len(widget_tokens.answers)
    page.get_by_role("menuitem", name="Globex").click()

    expect(page.get_by_test_id("organization-name")).to_have_text("Globex")
    expect(widget(page, "organization-switcher")).to_contain_text("Globex")
    wait_until(page, lambda: len(widget_tokens.ok) > fetched, 10, "no token after the switch")
    after = widget_tokens.ok[fetched:]
    assert {body["organization_id"] for body in after} == {GLOBEX}
    assert {claims(body["token"]).get("org_id") for body in after} == {GLOBEX}
    # An admin at Globex: UsersManagement lists Globex's members (bob alone).
    users = widget(page, "users-management")
    expect(member_row(users, BOB)).to_have_count(1)
    expect(member_row(users, ALICE)).to_have_count(0)
    assert not console_errors(watch, widget_tokens), watch.console


def test_carol_without_organization_sees_her_profile(context, stack, example, widget_tokens, watch):
    sign_in_without_page(context, CAROL)
    app = context.new_page()  # the service's app page links to the example (WIDGETS_EXAMPLE_URL)
    app.goto("/")
    expect(app.get_by_test_id("widgets-example-link")).to_have_attribute("href", EXAMPLE_ORIGIN)
    app.close()
    page = open_example(context, example)
    expect(page.get_by_test_id("organization-name")).to_have_text("no organization")
    profile = widget(page, "user-profile")
    expect(profile).to_contain_text("Carol Chen")
    expect(profile).to_contain_text(CAROL)
    shot(page, "user-profile-carol", profile)
    assert widget_tokens.ok
    for body in widget_tokens.ok:
        assert body["organization_id"] is None and "org_id" not in claims(body["token"])
    expect(page.get_by_test_id("widget-users-management")).to_have_count(0)
    assert not console_errors(watch, widget_tokens), watch.console
