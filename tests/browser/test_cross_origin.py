"""A front end on another origin (CORS_ALLOWED_ORIGINS): a page served by a second server on
another 127.0.0.1 port gets tokens from the service with its cookie, and signs out by script.

Two ports of one host are two origins but one site, so the SameSite=Lax cookie goes with
credentialed fetches; a front end on another site needs SameSite=None; Secure
(docs/quickstart-react-cross-origin.md).
"""

from __future__ import annotations

import json

import pytest

from devstack.stack import ROOT, free_port
from tests.browser.helpers import sign_in_without_page
from tests.support import ThreadedServer, note_secret

SPA_PORT = free_port()
SPA_ORIGIN = f"http://127.0.0.1:{SPA_PORT}"
OTHER_PORT = free_port()  # an origin the service does not list
SERVICE_ENV = {"CORS_ALLOWED_ORIGINS": SPA_ORIGIN}
STATIC = ROOT / "service" / "static"
# The browser client is several modules: the front end serves each one the npm package ships.
CLIENT = {
    f"/{name}": (STATIC / name).read_bytes()
    for name in json.loads((STATIC / "package.json").read_text())["files"]
    if name.endswith(".js")
}
PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>front end</title><link rel="icon" href="data:,">
<script type="module">
import { TokenClient } from './graphql-token.js';
window.service = new URLSearchParams(location.search).get('service');
window.client = new TokenClient({ baseUrl: window.service, channel: null, locks: null });
document.title = 'ready';
</script>
"""


def _front_end(environ, start_response):
    """The front end's own server: its page and a copy of the browser client, nothing else."""
    path = environ["PATH_INFO"]
    if path == "/":
        body, kind = PAGE, "text/html; charset=utf-8"
    elif path in CLIENT:
        body, kind = CLIENT[path], "text/javascript"
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]
    start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture(scope="module")
def front_ends():
    servers = [ThreadedServer(_front_end, port).start() for port in (SPA_PORT, OTHER_PORT)]
    yield [server.url for server in servers]
    for server in servers:
        server.stop()


def _open(context, front_end: str, service: str):
    page = context.new_page()
    page.goto(f"{front_end}/?service={service}")
    page.wait_for_function("document.title === 'ready'")
    return page


GET_SESSION = """async () => {
  const r = await fetch(window.service + '/api/session',
    { headers: { 'X-CSRF': '1' }, credentials: 'include' });
  return { status: r.status, body: await r.json() };
}"""
SIGN_OUT = """async () => {
  const r = await fetch(window.service + '/logout', { method: 'POST', credentials: 'include',
    headers: { 'X-CSRF': '1', Accept: 'application/json' } });
  return { status: r.status, body: await r.json() };
}"""
TOKEN_FAILURE = """async () => {
  try { await window.client.refresh(); return null; }
  catch (error) { return { status: error.status, code: error.code }; }
}"""


def test_allowed_origin_gets_tokens_and_signs_out(context, stack, front_ends):
    sign_in_without_page(context, "alice@acme.com")
    page = _open(context, front_ends[0], stack.url)

    token = page.evaluate("() => window.client.getToken()")
    note_secret(token)  # the run's secrets check looks for it in every log
    assert token.startswith("eyJ")
    session = page.evaluate(GET_SESSION)
    assert session["status"] == 200 and session["body"]["user"]["email"] == "alice@acme.com"
    assert session["body"]["logout"]["url"] == "/logout"

    out = page.evaluate(SIGN_OUT)
    assert out["status"] == 200 and "/user_management/sessions/logout" in out["body"]["logout_url"]
    assert page.evaluate(TOKEN_FAILURE) == {"status": 401, "code": "unauthenticated"}


def test_an_origin_not_listed_is_refused_by_the_browser(context, stack, front_ends, watch):
    sign_in_without_page(context, "alice@acme.com")
    page = _open(context, front_ends[1], stack.url)
    failure = page.evaluate(TOKEN_FAILURE)
    # The preflight is not granted: the browser reports a network error, the page reads nothing.
    assert failure["status"] == 0 and failure["code"] in ("network_error", "timeout")
    assert not watch.tokens
    watch.console.clear()  # Chromium's own CORS console lines are what this test expects
