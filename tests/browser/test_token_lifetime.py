"""Short-lived tokens: the page keeps querying across several expiries, one fetch per expiry."""

from playwright.sync_api import expect

from devstack.control_client import MINT
from tests.browser.helpers import (
    expect_app,
    expect_token_kept_out_of_page,
    sign_in_without_page,
    wait_until,
)
from tests.seed_names import ALICE

# Seconds each Client API token lives: the page refreshes MARGIN - 1 s before its end, so each
# token is in use TOKEN_TTL - MARGIN = 5 s, the token client's shortest refresh delay (and the
# time it trusts a token it was just handed); shorter tokens would not be in use any shorter.
TOKEN_TTL = 8
MARGIN = 3  # the service hands a cached token out while more than this is left
EXPIRIES = 3
QUERY_INTERVAL_MS = 1000

EMULATOR_ARGS = ("--client-token-ttl", str(TOKEN_TTL))
SERVICE_ENV = {"TOKEN_REFRESH_MARGIN_SECONDS": str(MARGIN)}

# app.js reads body[data-query-interval-ms] when it starts; the page has no setting for it,
# so set it on the body as soon as the parser makes one (module scripts run after parsing).
QUICK_QUERIES = f"""
new MutationObserver((_, observer) => {{
  if (!document.body) return;
  document.body.dataset.queryIntervalMs = '{QUERY_INTERVAL_MS}';
  observer.disconnect();
}}).observe(document, {{childList: true, subtree: true}});
"""


def test_queries_keep_running_across_expiries_one_token_fetch_each(context, emulator, watch):
    sign_in_without_page(context, ALICE)
    context.add_init_script(QUICK_QUERIES)
    page = context.new_page()
    page.goto("/")
    expect_app(page, ALICE, "Acme Corp")
    body = page.evaluate("() => ({...document.body.dataset})")
    assert body["queryIntervalMs"] == str(QUERY_INTERVAL_MS)
    assert body["tokenMarginSeconds"] == str(MARGIN)  # the page tells app.js the service's margin
    assert (watch.token_fetches, emulator.count(MINT)) == (1, 1)

    # Each token is handed out for TOKEN_TTL - MARGIN seconds; then the page needs a new one.
    budget = (EXPIRIES + 1) * TOKEN_TTL + 10
    wait_until(
        page,
        lambda: emulator.count(MINT) > EXPIRIES,
        budget,
        f"fewer than {EXPIRIES + 1} tokens minted in {budget} s",
    )
    # The newest token is in use: two more queries answered after its mint.
    answered = len(watch.graphql)
    wait_until(page, lambda: len(watch.graphql) >= answered + 2, 15, "the queries stopped")

    mints, fetches, queries = emulator.count(MINT), watch.token_fetches, len(watch.graphql)
    print(
        f"ttl {TOKEN_TTL} s, margin {MARGIN} s: {queries} queries, "
        f"{fetches} token fetches, {mints} mints ({mints - 1} expiries)"
    )
    assert watch.graphql_errors == [], "a query went out with an expired or refused token"
    assert fetches == mints, f"{fetches} token fetches for {mints} tokens"
    assert queries >= 2 * fetches, "the page did not keep querying"
    assert len(watch.tokens) == mints
    expect(page.get_by_test_id("graphql-result")).to_have_attribute("data-state", "ok")
    seconds = int(page.get_by_test_id("token-expires-in").get_attribute("data-seconds"))
    assert 0 < seconds <= TOKEN_TTL
    expect_token_kept_out_of_page(page, watch.tokens)
