"""Fixtures shared by the tiers: the emulator on a real port, the app factory, sign-in."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.emulator_control import API_KEY, CLIENT_ID, EmulatorControl
from tests.support import ThreadedServer

SECRET = "test-secret-key-0123456789abcdef0123456789"


@pytest.fixture(scope="session")
def emulator_server():
    """The emulator served in a thread on a free loopback port, for the whole run."""
    from emulator.app import create_app as create_emulator

    server = ThreadedServer(create_emulator(allowed_origins=("http://localhost",))).start()
    yield server
    server.stop()


@pytest.fixture
def emulator(emulator_server) -> EmulatorControl:
    """The emulator, reset to its seed before each test."""
    control = EmulatorControl(emulator_server.url)
    control.reset()
    return control


def service_env(emulator_url: str, **extra) -> dict[str, str]:
    """Settings that point the service at an emulator."""
    env = {
        "WORKOS_API_KEY": API_KEY,
        "WORKOS_CLIENT_ID": CLIENT_ID,
        "WORKOS_BASE_URL": emulator_url,
        "SECRET_KEY": SECRET,
        "SESSION_COOKIE_SECURE": "false",
        "APP_BASE_URL": "http://localhost",
        "WORKOS_TIMEOUT_SECONDS": "1",
        "REDIS_URL": "",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def make_app(emulator):
    """Build an app against the emulator, with extra settings."""
    from service import create_app

    def build(**extra):
        app = create_app(service_env(emulator.url, **extra))
        app.config["TESTING"] = True
        return app

    return build


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


class Browser:
    """Signs a test client in through the real AuthKit flow against the emulator."""

    def __init__(self, client, emulator: EmulatorControl):
        self.client = client
        self.emulator = emulator

    def start(self, email: str | None, next_path: str | None = None):
        """GET /login; returns the redirect to the emulator's authorize URL."""
        params = {k: v for k, v in (("login_hint", email), ("next", next_path)) if v}
        response = self.client.get("/login?" + urlencode(params))
        assert response.status_code == 302
        return response

    def sign_in(self, email: str, next_path: str | None = None):
        """Full flow up to the callback's answer."""
        authorize = self.start(email, next_path).headers["Location"]
        return self.client.get(self.emulator.authorize(authorize))

    def token(self, **headers):
        return self.client.get("/api/graphql-token", headers={"X-CSRF": "1", **headers})

    def csrf(self) -> str:
        """This session's form CSRF token (rendering a page makes one)."""
        self.client.get("/")
        with self.client.session_transaction() as s:
            return s["csrf_token"]


@pytest.fixture
def browser(client, emulator) -> Browser:
    return Browser(client, emulator)
