"""What the browser tests do and check on pages, shared by the modules of this tier."""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import expect

from devstack.stack import ROOT

# Screenshots for review; artifacts/ is git-ignored.
ARTIFACTS = ROOT / "artifacts" / "browser"
TIMEOUT_MS = 20_000  # generous: a loaded 2-core machine runs gunicorn, the emulator and Chromium
expect.set_options(timeout=TIMEOUT_MS)


def sign_in_without_page(context, email: str) -> None:
    """Sign the context in through the real AuthKit flow with no page open (no script runs).

    The context's request client shares its cookie jar, follows /login -> the emulator's
    authorize -> /callback -> / like a browser, and never loads app.js, so no token is fetched.
    """
    response = context.request.get("/login", params={"login_hint": email})
    assert response.ok and response.url.endswith("/"), (response.status, response.url)
    assert 'data-testid="user-email"' in response.text()


def expect_app(page, email: str, organization: str) -> None:
    """The app page shows the user, the organization and a GraphQL result naming both."""
    expect(page.get_by_test_id("user-email")).to_have_text(email)
    expect(page.get_by_test_id("organization-name")).to_have_text(organization)
    result = page.get_by_test_id("graphql-result")
    expect(result).to_have_attribute("data-state", "ok")
    expect(result.locator(".graphql-summary")).to_contain_text(email)
    expect(result.locator(".graphql-summary")).to_contain_text(organization)


def expect_token_kept_out_of_page(page, tokens: set[str]) -> None:
    """No token the page fetched is in its DOM, Web Storage or cookies."""
    assert tokens, "the page fetched no token to look for"
    html = page.content()
    storage = page.evaluate(
        "() => JSON.stringify({local: {...localStorage}, session: {...sessionStorage}})"
    )
    cookies = json.dumps(page.context.cookies())
    for token in tokens:
        assert token not in html, "a token is in the DOM"
        assert token not in storage, "a token is in Web Storage"
        assert token not in cookies, "a token is in a cookie"
    assert json.loads(storage) == {"local": {}, "session": {}}


def wait_until(page, condition, timeout_s: float, message: str) -> None:
    """Poll condition() (e.g. a count on the emulator) while the page keeps running."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        page.wait_for_timeout(200)


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under artifacts/browser/ for review."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
