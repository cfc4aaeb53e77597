"""Sign-in, the app page, organization switch, tabs and sign-out in headless Chromium."""

import re

from playwright.sync_api import expect

from devstack.control_client import MINT
from tests.browser.helpers import (
    expect_app,
    expect_token_kept_out_of_page,
    screenshot,
    sign_in_without_page,
    wait_until,
)
from tests.seed_names import ACME, ALICE, BOB, GLOBEX

TOKEN_STATUS = """async () => {
  const response = await fetch('/api/graphql-token', {headers: {'X-CSRF': '1'}});
  return response.status;
}"""


def test_alice_signs_in_through_the_emulators_user_picker(page, emulator, watch):
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "signin")

    page.get_by_test_id("sign-in").click()  # no email: the emulator lists its users
    expect(page.get_by_test_id("user-list")).to_be_visible()
    screenshot(page, "emulator-user-picker")
    page.get_by_test_id(f"login-{ALICE}").click()

    expect_app(page, ALICE, "Acme Corp")
    expect(page.get_by_test_id("graphql-result")).to_contain_text("Alice Anders")
    expect(page.get_by_test_id("token-expires-in")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(page.get_by_test_id("sign-out")).to_be_visible()
    assert page.get_by_test_id("organization-switcher").count() == 0  # one organization only
    screenshot(page, "app")

    assert watch.token_fetches == 1
    assert emulator.count(MINT) == 1
    expect_token_kept_out_of_page(page, watch.tokens)
    print(f"alice: token fetches {watch.token_fetches}, mints {emulator.count(MINT)}")


def test_bob_picks_globex_at_sign_in_then_switches_to_acme(page, emulator, watch):
    page.goto("/")
    page.get_by_label("Email (optional)").fill(BOB)
    page.get_by_test_id("sign-in").click()

    expect(page.get_by_role("heading", name="Choose an organization")).to_be_visible()
    options = page.get_by_test_id("organization-option")
    expect(options).to_have_count(2)
    for option in options.all():
        expect(option).not_to_be_checked()  # nothing pre-selected: the choice is bob's
    screenshot(page, "organization-picker")
    page.get_by_label("Globex").check()
    page.get_by_test_id("choose-organization").click()

    expect_app(page, BOB, "Globex")
    switcher = page.get_by_test_id("organization-switcher")
    expect(switcher).to_have_value(GLOBEX)
    assert (watch.token_fetches, emulator.count(MINT)) == (1, 1)

    switcher.select_option(ACME)  # switching on change, no button press needed
    expect_app(page, BOB, "Acme Corp")
    expect(page.get_by_test_id("graphql-result")).not_to_contain_text("Globex")
    expect(switcher).to_have_value(ACME)
    expect(switcher).to_be_enabled()
    screenshot(page, "app-switched")

    minted_for = [
        e["body"]["organization_id"] for e in emulator.requests_log() if e["route"] == MINT
    ]
    assert minted_for == [GLOBEX, ACME]
    assert watch.token_fetches == 2
    expect_token_kept_out_of_page(page, watch.tokens)
    print(f"bob: token fetches {watch.token_fetches}, mints {emulator.count(MINT)}")


def test_three_tabs_opened_at_once_cost_one_token_fetch(context, stack, emulator, watch):
    sign_in_without_page(context, ALICE)
    assert emulator.count(MINT) == 0 and watch.token_fetches == 0
    # Keep the first mint in flight for a second (below WORKOS_TIMEOUT_SECONDS), so that the
    # three tabs overlap however slowly a loaded machine starts them.
    emulator.hook("POST", "/client/token", delay_ms=1000, count=1)
    tabs = [context.new_page() for _ in range(3)]
    for tab in tabs:  # start all three navigations, then wait for them together
        tab.evaluate("url => { location.href = url; }", stack.url + "/")
    for tab in tabs:
        expect_app(tab, ALICE, "Acme Corp")

    mints = emulator.count(MINT)
    print(f"three tabs: token fetches {watch.token_fetches}, mints {mints}")
    assert mints == 1, mints
    # The tabs share the token over BroadcastChannel under a Web Lock. A tab granted the lock
    # before the holder's message reaches it asks the token route again, which answers from
    # the service's cache (no mint): so the route count is reported, the mint count asserted.
    assert 1 <= watch.token_fetches <= len(tabs)
    assert len(watch.tokens) == 1
    for tab in tabs:
        expect_token_kept_out_of_page(tab, watch.tokens)


def test_sign_out_returns_to_sign_in_and_the_token_route_then_answers_401(
    context, stack, emulator, watch
):
    sign_in_without_page(context, ALICE)
    first, second = context.new_page(), context.new_page()
    for tab in (first, second):
        tab.goto("/")
        expect_app(tab, ALICE, "Acme Corp")
    assert first.evaluate(TOKEN_STATUS) == 200

    first.get_by_test_id("sign-out").click()
    expect(first.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(first).to_have_url(stack.url + "/?signed_out=1")  # back from WorkOS's logout
    expect(first.get_by_test_id("signed-out-confirmation")).to_contain_text("You have signed out.")
    expect(first.get_by_test_id("signed-out-notice")).to_have_count(0)
    screenshot(first, "signed-out")
    assert first.evaluate(TOKEN_STATUS) == 401
    assert emulator.count("GET /user_management/sessions/logout") == 1
    # The other tab was told over the channel; it finds the session gone and leaves as well.
    expect(second.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(second.get_by_test_id("signed-out-notice")).to_be_visible()  # it did not ask
    assert second.evaluate(TOKEN_STATUS) == 401
    print(f"sign-out: token fetches {watch.token_fetches}, mints {emulator.count(MINT)}")


def test_the_csp_watch_sees_a_violation(page, watch):
    """Canary: the no-violation checks of this tier would catch one."""
    page.goto("/")
    header = page.request.get("/").headers["content-security-policy"]
    assert "script-src 'self'" in header
    page.evaluate("() => fetch('http://203.0.113.1/').catch(() => null)")  # not in connect-src
    wait_until(
        page,
        lambda: watch.csp and watch.csp_console,
        10,
        "the violation was neither reported as an event nor logged",
    )
    assert any("connect-src" in str(v) for v in watch.take_csp())
