"""Idle tabs cost nothing: a hidden app page neither refreshes its token nor queries.

Time-compressed: the issue's figure is a tab hidden for 10 minutes with 60 s tokens, ten
token lifetimes; here it is ten lifetimes of 6 s tokens (60 s). Hidden is what a background
tab reports: `document.visibilityState` 'hidden' and a `visibilitychange` event.
"""

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
    page = context.new_page()
    page.goto("/")
    expect_app(page, ALICE, "Acme Corp")
    wait_until(page, lambda: len(watch.graphql) >= 2, 15, "the page ran no queries")

    page.evaluate(SET_VISIBILITY, "hidden")
    mints, fetches, queries = emulator.count(MINT), watch.token_fetches, len(watch.graphql)
    page.wait_for_timeout(LIFETIMES * TOKEN_TTL * 1000)
    hidden_mints = emulator.count(MINT) - mints
    hidden_fetches = watch.token_fetches - fetches
    hidden_queries = len(watch.graphql) - queries
    assert page.get_by_test_id("token-expires-in").get_attribute("data-seconds") == "0"

    shown_after_ms = page.evaluate(SHOW_AND_TIME)
    print(
        f"FIGURE hidden tab: {LIFETIMES} lifetimes of {TOKEN_TTL} s tokens hidden -> "
        f"{hidden_mints} mints, {hidden_fetches} token fetches, {hidden_queries} queries; "
        f"shown again -> a token after {shown_after_ms:.0f} ms"
    )
    assert hidden_mints <= 1
    assert hidden_fetches <= 1 and hidden_queries <= 1  # at most one already under way
    assert shown_after_ms < 1000
    wait_until(page, lambda: len(watch.graphql) > queries + hidden_queries, 10, "no query")
