"""A session WorkOS ends (revoked in the emulator) signs every open tab out, with a notice.

The pages check their session every 15 s (app.js SESSION_CHECK_MS), on their own clock: a
Playwright fake clock, moved on 15 s at once once the service has heard of the revocation.
"""

from playwright.sync_api import expect

from tests.browser.helpers import expect_app, screenshot, sign_in_without_page, wait_until
from tests.seed_names import ALICE

WEBHOOK_SECRET = "whsec_browser_test_0123456789abcdef"
SERVICE_ENV = {"WORKOS_WEBHOOK_SECRET": WEBHOOK_SECRET}
SESSION_CHECK_MS = 15_000
NOTICE_TIMEOUT_MS = 30_000  # allow for a busy machine


def test_a_session_revoked_at_workos_signs_every_tab_out(context, stack, emulator, watch):
    emulator.add_webhook(stack.url + "/webhooks/workos", WEBHOOK_SECRET)
    sign_in_without_page(context, ALICE)
    context.clock.install()  # the tabs' timers, Date and performance.now, on a clock we move
    tabs = [context.new_page(), context.new_page()]
    for tab in tabs:
        tab.goto("/")
        expect_app(tab, ALICE, "Acme Corp")

    assert len(emulator.revoke_sessions(ALICE)) == 1
    delivered = lambda: [d for d in emulator.deliveries() if d.get("status") == 200]  # noqa: E731
    wait_until(tabs[0], delivered, 10, "the service did not take the webhook")
    # Like a laptop lid closed for the interval: each tab's next tick finds its check due.
    context.clock.fast_forward(SESSION_CHECK_MS)

    for tab in tabs:
        notice = tab.get_by_test_id("signed-out-notice")
        expect(notice).to_have_text(
            "You were signed out. Sign in again to go on.", timeout=NOTICE_TIMEOUT_MS
        )
        expect(tab.get_by_test_id("sign-in")).to_be_visible()
    expect(tabs[0].get_by_test_id("signed-out-confirmation")).to_have_count(0)
    screenshot(tabs[0], "ended")
    assert delivered(), emulator.deliveries()
    # The page went back to the sign-in page on its own: the token route answers 401 now.
    assert tabs[0].request.get("/api/session", headers={"X-CSRF": "1"}).status == 401
