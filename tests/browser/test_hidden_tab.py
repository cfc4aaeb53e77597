"""Idle tabs cost nothing: a hidden app page neither refreshes its token nor queries.

Time-compressed: the issue's figure is a tab hidden for 10 minutes with 60 s tokens, ten
token lifetimes; here it is ten lifetimes of 6 s tokens (60 s) on the page's clock, which
Playwright's fake clock (installed before the page loads, otherwise running at real speed)
moves on at once, firing every timer of the page due on the way, one after another, as 60 s
would. The service and the emulator keep real time: the page stays hidden for one real token
lifetime as well, so the token the service held has expired when the page is shown, and the
token it gets then is newly minted, as after a real 10 minutes. Hidden is what a background
tab reports: `document.visibilityState` 'hidden' and a `visibilitychange` event.
"""

import time

from devstack.control_client import MINT
from tests.browser.helpers import expect_app, sign_in_without_page, wait_until
from tests.browser.test_token_lifetime import QUICK_QUERIES
from tests.seed_names import ALICE

TOKEN_TTL = 6  # seconds: 60 s tokens, ten times faster
LIFETIMES = 10  # hidden this many token lifetimes (10 minutes of 60 s tokens)

EMULATOR_ARGS = ("--client-token-ttl", str(TOKEN_TTL))
SERVICE_ENV = {"TOKEN_REFRESH_MARGIN_SECONDS": "1"}

SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => state === 'hidden'});
  document.dispatchEvent(new Event('visibilitychange'));
}"""

# Shows the page and resolves with the ms until the countdown shows a live token again.
SHOW_AND_TIME = """() => new Promise((resolve) => {
  const shown = document.querySelector('[data-testid="token-expires-in"]');
  const started = performance.now();
  const observer = new MutationObserver(() => {
    if (Number(shown.dataset.seconds) > 0) {
      observer.disconnect();
      resolve(performance.now() - started);
    }
  });
  observer.observe(shown, {attributes: true});
  Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});
  Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});
  document.dispatchEvent(new Event('visibilitychange'));
})"""


def test_a_hidden_tab_mints_nothing_and_has_a_token_within_a_second_of_being_shown(
    context, emulator, watch
):
    sign_in_without_page(context, ALICE)
    context.add_init_script(QUICK_QUERIES)
    context.clock.install()  # the page's timers, Date and performance.now, on a clock we move
    page = context.new_page()
    under_way: set = set()  # the page's requests sent and not yet over
    page.on("request", lambda request: under_way.add(request))
    page.on("requestfinished", lambda request: under_way.discard(request))
    page.on("requestfailed", lambda request: under_way.discard(request))
    page.goto("/")
    expect_app(page, ALICE, "Acme Corp")
    wait_until(page, lambda: len(watch.graphql) >= 2, 15, "the page ran no queries")

    page.evaluate(SET_VISIBILITY, "hidden")
    mints, fetches, queries = emulator.count(MINT), watch.token_fetches, len(watch.graphql)
    # What was under way when the page was hidden ends (its time-out timer is the page's);
    # from then on not one request goes out, whatever the page's timers do.
    wait_until(page, lambda: not under_way, 10, "the page's requests did not end")
    page.wait_for_timeout(300)  # the page's scripts take those answers in
    settled = (emulator.count(MINT), watch.token_fetches, len(watch.graphql), len(watch.requests))
    hidden_at = time.monotonic()
    page.clock.run_for(LIFETIMES * TOKEN_TTL * 1000)
    # One real lifetime too: the service's token (minted before hiding) is past its margin.
    page.wait_for_timeout(max(0.0, hidden_at + TOKEN_TTL - time.monotonic()) * 1000)
    hidden_mints = emulator.count(MINT) - mints
    hidden_fetches = watch.token_fetches - fetches
    hidden_queries = len(watch.graphql) - queries
    assert page.get_by_test_id("token-expires-in").get_attribute("data-seconds") == "0"
    assert (emulator.count(MINT), watch.token_fetches, len(watch.graphql), len(watch.requests)) == (
        settled
    ), f"requests while hidden: {watch.requests[settled[3] :]}"

    shown_after_ms = page.evaluate(SHOW_AND_TIME)
    shown_mints = emulator.count(MINT) - mints - hidden_mints
    print(
        f"FIGURE hidden tab: {LIFETIMES} lifetimes of {TOKEN_TTL} s tokens hidden -> "
        f"{hidden_mints} mints, {hidden_fetches} token fetches, {hidden_queries} queries; "
        f"shown again -> a token after {shown_after_ms:.0f} ms ({shown_mints} mints)"
    )
    assert hidden_mints <= 1
    assert hidden_fetches <= 1 and hidden_queries <= 1  # at most one already under way
    assert shown_after_ms < 1000
    assert shown_mints == 1, "the page was shown with a token the service had minted before"
    wait_until(page, lambda: len(watch.graphql) > queries + hidden_queries, 10, "no query")
