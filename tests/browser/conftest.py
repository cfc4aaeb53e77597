"""Browser tier: Debian's headless Chromium, driven by Playwright, against gunicorn + emulator.

One emulator process and one gunicorn (the Procfile command) per test module; a module may
set `EMULATOR_ARGS` (extra `python -m emulator` flags) and `SERVICE_ENV` (service settings).
Each test gets a reset emulator and a fresh browser context whose pages are all watched for
Content-Security-Policy violations and uncaught errors; any one of them fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from devstack.stack import free_port, start_emulator, start_service
from tests.browser.helpers import TIMEOUT_MS
from tests.emulator_control import EmulatorControl
from tests.support import note_secret, require_tool

CHROMIUM = "/usr/bin/chromium"
# `playwright install` cannot download here: drive the Debian package. The background
# networking flags stop Chromium's own connections, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",  # we run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TOKEN_ROUTE = "/api/graphql-token"
GRAPHQL_ROUTE = "/client/graphql"

# Reports each `securitypolicyviolation` event of every document to the test (see Watch).
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolation({
    directive: event.effectiveDirective || event.violatedDirective,
    blocked: event.blockedURI,
    page: event.documentURI,
  });
});
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@dataclass
class Stack:
    """The emulator and the service of one test module."""

    url: str  # the service
    emulator: EmulatorControl
    tmp: Path


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    """gunicorn + the emulator process, configured by the module's EMULATOR_ARGS/SERVICE_ENV."""
    require_tool(CHROMIUM, "apt-get install chromium")
    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    service_origin = f"http://127.0.0.1:{port}"
    emulator_args = getattr(request.module, "EMULATOR_ARGS", ())
    emulator_proc, emulator_url = start_emulator(
        tmp, "--allowed-origin", service_origin, *emulator_args
    )
    try:
        env = {"WEB_CONCURRENCY": "1", **getattr(request.module, "SERVICE_ENV", {})}
        service_proc, url = start_service(tmp, emulator_url, port=port, **env)
    except BaseException:
        emulator_proc.stop()
        raise
    try:
        yield Stack(url=url, emulator=EmulatorControl(emulator_url), tmp=tmp)
    finally:
        service_proc.stop()
        emulator_proc.stop()


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the whole run."""
    require_tool(CHROMIUM, "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Watch:
    """What every page of one browser context did: requests, tokens seen, problems."""

    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, url)
    tokens: set[str] = field(default_factory=set)
    graphql: list = field(default_factory=list)  # JSON bodies of /client/graphql answers
    csp: list[dict] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def count(self, path: str, method: str = "GET") -> int:
        """How many requests the pages sent to this path (any origin)."""
        return sum(1 for m, url in self.requests if m == method and _path(url) == path)

    @property
    def token_fetches(self) -> int:
        return self.count(TOKEN_ROUTE)

    @property
    def csp_console(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def take_csp(self) -> list:
        """Violations seen so far (events and console lines), forgotten after (for canaries)."""
        seen = [*self.csp, *self.csp_console]
        self.csp.clear()
        self.console[:] = [text for text in self.console if text not in seen]
        return seen

    def attach(self, page) -> None:
        page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def on_request(self, request) -> None:
        self.requests.append((request.method, request.url))

    def on_response(self, response) -> None:
        path = _path(response.url)
        if path == TOKEN_ROUTE and response.ok:
            token = (_json(response) or {}).get("token")
            if token:
                self.tokens.add(token)
                note_secret(token)  # the run's secrets check looks for it in every log
        elif path == GRAPHQL_ROUTE and response.request.method == "POST":
            self.graphql.append(_json(response))

    @property
    def graphql_errors(self) -> list:
        """GraphQL answers that carried errors (or that could not be read)."""
        return [body for body in self.graphql if not isinstance(body, dict) or body.get("errors")]


def _json(response):
    """The response's JSON body, or None when the page went away before it could be read."""
    try:
        return response.json()
    except Exception:  # a closed page or target: the test decides what a missing body means
        return None


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def emulator(stack) -> EmulatorControl:
    """The module's emulator, back to its seed (and its request log empty) for each test."""
    stack.emulator.reset()
    return stack.emulator


@pytest.fixture
def watch() -> Watch:
    return Watch()


def watched_context(chromium, stack: Stack, watch: Watch):
    """A fresh browser context (no cookies, no storage) whose every page `watch` watches."""
    context = chromium.new_context(base_url=stack.url, viewport={"width": 1000, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.expose_binding("__cspViolation", lambda _source, report: watch.csp.append(report))
    context.add_init_script(CSP_LISTENER)
    context.on("page", watch.attach)
    context.on("request", watch.on_request)
    context.on("response", watch.on_response)
    return context


@pytest.fixture
def context(chromium, stack, emulator, watch):
    """A fresh browser context (no cookies, no storage) whose every page is watched."""
    context = watched_context(chromium, stack, watch)
    try:
        yield context
    finally:
        context.close()
    violations = [*watch.csp, *watch.csp_console]
    assert not violations, f"Content-Security-Policy violations: {violations}"
    assert not watch.page_errors, f"uncaught errors in pages: {watch.page_errors}"


@pytest.fixture
def page(context):
    return context.new_page()
