"""The pages' other states in headless Chromium: no organization, the picker, an outage, no JS."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from devstack.control_client import MINT
from tests.browser.helpers import TIMEOUT_MS, expect_app, screenshot, sign_in_without_page
from tests.seed_names import ALICE, BOB, CAROL, GLOBEX

QUERY_INTERVAL_MS = 500
# app.js reads body[data-query-interval-ms] when it starts (see test_token_lifetime.py).
QUICK_QUERIES = f"""
new MutationObserver((_, observer) => {{
  if (!document.body) return;
  document.body.dataset.queryIntervalMs = '{QUERY_INTERVAL_MS}';
  observer.disconnect();
}}).observe(document, {{childList: true, subtree: true}});
"""
RETRY_AFTER = 3  # seconds the failing WorkOS asks for; the service passes it on
OUTAGE = re.compile(r"^WorkOS is not answering; retrying (in \d+ s|now…)$")


def test_carol_without_an_organization_is_told_whom_to_ask_and_fetches_nothing(
    context, emulator, watch
):
    sign_in_without_page(context, CAROL)
    context.add_init_script(QUICK_QUERIES)
    context.clock.install()  # the page's timers on a clock we move
    page = context.new_page()
    page.goto("/")

    guidance = page.get_by_test_id("no-organization")
    expect(guidance).to_be_visible()
    expect(guidance).to_contain_text("You are not a member of any organization yet.")
    expect(guidance).to_contain_text("Ask your organization's WorkOS admin")
    expect(guidance).to_contain_text(CAROL)
    expect(page.get_by_test_id("fetch-token")).to_be_hidden()
    expect(page.get_by_test_id("token-expires-in")).to_be_hidden()
    expect(page.get_by_test_id("graphql-result")).to_be_hidden()
    expect(page.get_by_test_id("organization-name")).to_have_text("No organization")  # app.js ran
    # Many query intervals pass (on the page's clock, each timer firing in turn): the page
    # never asks for a token it cannot have.
    page.clock.run_for(10 * QUERY_INTERVAL_MS)
    page.wait_for_timeout(500)  # a request the last ticks sent would be seen by now
    expect(page.get_by_test_id("status")).to_have_text("")
    expect(page.get_by_test_id("outage")).to_be_hidden()
    screenshot(page, "no-organization")
    assert watch.token_fetches == 0 and emulator.count(MINT) == 0
    assert watch.count("/api/session") >= 1  # it still notices a session that ends


def test_the_picker_preselects_nothing_and_asks_for_a_choice(page, emulator):
    page.goto("/")
    page.get_by_label("Email (optional)").fill(BOB)
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_role("heading", name="Choose an organization")).to_be_visible()
    options = page.get_by_test_id("organization-option")
    expect(options).to_have_count(2)
    submit = page.get_by_test_id("choose-organization")
    expect(submit).to_have_text("Continue with this organization")

    submit.click()  # nothing chosen: the browser's own check keeps the form here
    assert page.evaluate("() => document.querySelector('form.picker').checkValidity()") is False
    expect(page).to_have_url(re.compile(r"/login/organization$"))
    expect(page.get_by_test_id("organization-problem")).to_have_count(0)

    # A browser that skips that check: the server asks again, in words, on the same picker.
    page.evaluate("() => { document.querySelector('form.picker').noValidate = true; }")
    submit.click()
    problem = page.get_by_test_id("organization-problem")
    expect(problem).to_have_text("Choose an organization first, then continue.")
    expect(options).to_have_count(2)
    for option in options.all():
        expect(option).not_to_be_checked()
    screenshot(page, "organization-picker-problem")

    page.get_by_label("Globex").check()
    page.get_by_test_id("choose-organization").click()
    expect_app(page, BOB, "Globex")


def test_an_outage_is_said_once_in_words_with_a_countdown_and_details(
    context, stack, emulator, watch
):
    sign_in_without_page(context, ALICE)
    emulator.hook(
        "POST",
        "/client/token",
        503,
        headers={"Retry-After": str(RETRY_AFTER)},
    )
    page = context.new_page()
    page.goto("/")

    outage = page.get_by_test_id("outage")
    message = page.get_by_test_id("outage-message")
    expect(message).to_have_text(OUTAGE)
    expect(message).to_have_count(1)
    # Counting down while the client backs off: a number of seconds no larger than the wait.
    seconds = int(outage.get_attribute("data-retry-in"))
    assert 0 <= seconds <= RETRY_AFTER + 1, seconds
    # Said once: no red status line, no failure in the GraphQL or members card.
    expect(page.get_by_test_id("status")).to_have_text("")
    expect(page.get_by_test_id("graphql-result")).not_to_have_attribute("data-state", "error")
    expect(page.get_by_test_id("members-status")).to_have_text("")
    expect(page.locator(".graphql-errors")).to_have_count(0)
    assert page.inner_text("main").count("not answering") == 1
    # The request id is there for whoever looks into it, behind a disclosure.
    request_id = page.get_by_test_id("outage-request-id")
    expect(request_id).to_be_hidden()
    expect(page.get_by_test_id("token-expires-in")).to_have_text("none yet")
    screenshot(page, "outage")
    outage.locator("summary").click()
    expect(request_id).to_be_visible()
    expect(request_id).to_have_text(re.compile(r"^\S{8,}$"))
    expect(page.get_by_test_id("outage-code")).to_have_text("upstream_unavailable")
    screenshot(page, "outage-details")

    # The countdown moves: a later reading differs from the first (or it is retrying now).
    first = message.text_content()
    expect(message).not_to_have_text(first, timeout=RETRY_AFTER * 1000 + TIMEOUT_MS)

    emulator.clear_hooks()  # WorkOS answers again: the notice goes, the page recovers
    expect(outage).to_be_hidden(timeout=TIMEOUT_MS + 30_000)
    expect_app(page, ALICE, "Acme Corp")
    expect(page.get_by_test_id("member-row").first).to_be_visible()
    expect(page.get_by_test_id("token-expires-in")).to_have_text(re.compile(r"^\d+:\d\d$"))


def test_sign_in_picker_switch_and_sign_out_work_without_javascript(chromium, stack, emulator):
    context = chromium.new_context(base_url=stack.url, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/")
        page.get_by_label("Email (optional)").fill(BOB)
        page.get_by_test_id("sign-in").click()
        page.get_by_label("Acme Corp").check()
        page.get_by_test_id("choose-organization").click()
        expect(page.get_by_test_id("organization-name")).to_have_text("Acme Corp")
        expect(page.get_by_test_id("fetch-token")).to_be_visible()  # the script would use it

        page.get_by_test_id("organization-switcher").select_option(GLOBEX)
        page.get_by_role("button", name="Switch").click()
        expect(page.get_by_test_id("organization-name")).to_have_text("Globex")
        expect(page.get_by_test_id("organization-switcher")).to_have_value(GLOBEX)

        page.get_by_test_id("sign-out").click()
        expect(page.get_by_test_id("signed-out-confirmation")).to_contain_text(
            "You have signed out."
        )
        assert page.request.get("/api/session", headers={"X-CSRF": "1"}).status == 401
        assert emulator.count(MINT) == 0  # nothing ran that would ask for a token
    finally:
        context.close()
