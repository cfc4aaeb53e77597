"""The service mounted as a Flask extension under /bff in an app with its own routes, session,
`/`, error pages and flask-login, served on a real port: a sign-in through /bff/login against
the emulator, tokens from /bff/api, and the app's own things left as they were."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, jsonify, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager, UserMixin, current_user, login_user

from service import components
from service.extension import TokenService
from tests.conftest import app_env
from tests.seed_names import ACME, ALICE
from tests.support import ThreadedServer, free_port

HOST_SECRET = "host-app-secret-0123456789abcdef0123456789"
CSRF = {"X-CSRF": "1"}


class HostUser(UserMixin):
    """The host app's own user, of its own LoginManager."""

    def __init__(self, user_id: str):
        self.id = user_id


def host_app(emulator_url: str, tmp_path, origin: str) -> Flask:
    """A small app with its own `/`, session, 404 page and login manager, and the service."""
    app = Flask("host")
    # The service's settings as app.config keys; the app's own session cookie keys stay its
    # own, and the service's cookie is configured by TOKEN_SERVICE_SESSION_COOKIE_*.
    config = app_env(emulator_url, APP_BASE_URL=origin, SESSION_DB_PATH=str(tmp_path / "s.sqlite3"))
    del config["SESSION_COOKIE_SECURE"]
    app.config.update(config)
    app.config.update(
        SECRET_KEY=HOST_SECRET,
        SESSION_COOKIE_NAME="host_session",
        TOKEN_SERVICE_SESSION_COOKIE_SECURE=False,
    )
    logins = LoginManager(app)
    logins.user_loader(HostUser)

    @app.get("/")
    def home():
        return f"<p>host home, visits {session.get('visits', 0)}</p>"

    @app.post("/visit")
    def visit():
        session["visits"] = session.get("visits", 0) + 1
        return jsonify(visits=session["visits"])

    @app.post("/host-login")
    def host_login():
        login_user(HostUser("host-user-1"))
        return jsonify(ok=True)

    @app.get("/whoami")
    def whoami():
        return jsonify(id=current_user.get_id())

    @app.errorhandler(404)
    def not_found(exc):
        return "<p>host not found</p>", 404

    TokenService(app, url_prefix="/bff")
    return app


@pytest.fixture
def host(emulator, tmp_path):
    """The host app on a real port: (app, base URL)."""
    port = free_port()
    app = host_app(emulator.url, tmp_path, f"http://127.0.0.1:{port}")
    server = ThreadedServer(app, port).start()
    yield app, server.url
    server.stop()
    poller = components.of(app).events_poller
    if poller is not None:
        poller.stop()


def sign_in(http: requests.Session, url: str, email: str = ALICE) -> requests.Response:
    """Through the mounted /bff/login, the emulator's AuthKit, and /bff/callback."""
    login = http.get(url + "/bff/login", params={"login_hint": email}, allow_redirects=False)
    assert login.status_code == 302, login.text
    redirect_uri = parse_qs(urlsplit(login.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == url + "/bff/callback"
    authorize = http.get(login.headers["Location"], allow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    assert authorize.headers["Location"].startswith(url + "/bff/callback?")
    return http.get(authorize.headers["Location"], allow_redirects=False)


def test_signs_in_and_gets_tokens_under_the_prefix(host):
    app, url = host
    http = requests.Session()
    assert http.post(url + "/visit").json() == {"visits": 1}
    callback = sign_in(http, url)
    assert callback.status_code == 302
    assert callback.headers["Location"] == "/"  # the app's home, not a page of the service
    cookie = next(c for c in http.cookies if c.name == "gts")
    assert cookie.path == "/bff" and cookie.has_nonstandard_attr("HttpOnly")
    assert "SameSite=Lax" in callback.headers["Set-Cookie"]

    token = http.get(url + "/bff/api/graphql-token", headers=CSRF)
    assert token.status_code == 200, token.text
    assert token.json()["organization_id"] == ACME
    assert token.headers["Cache-Control"] == "no-store"
    widget = http.get(url + "/bff/api/widget-token", headers=CSRF)
    assert widget.status_code == 200, widget.text
    assert widget.json()["token"]
    me = http.get(url + "/bff/api/session", headers=CSRF).json()
    assert me["user"]["email"] == ALICE
    assert me["logout"]["url"] == "/bff/logout"

    # The app's own session kept its value through the sign-in, and goes on working.
    assert http.post(url + "/visit").json() == {"visits": 2}
    home = http.get(url + "/")
    assert home.text == "<p>host home, visits 2</p>"
    assert "Content-Security-Policy" not in home.headers  # the service's headers are its own
    assert type(app.session_interface) is SecureCookieSessionInterface

    signed_out = http.post(url + "/bff/logout", headers={**CSRF, "Accept": "application/json"})
    assert signed_out.status_code == 200, signed_out.text
    assert http.get(url + "/bff/api/graphql-token", headers=CSRF).status_code == 401
    assert http.post(url + "/visit").json() == {"visits": 3}


def test_the_apps_login_manager_and_the_service_keep_their_own_users(host):
    _, url = host
    http = requests.Session()
    assert http.get(url + "/whoami").json() == {"id": None}
    assert http.post(url + "/host-login").status_code == 200
    # Signed in to the app only: the service sees nobody.
    anonymous = http.get(url + "/bff/api/session", headers=CSRF)
    assert anonymous.status_code == 401
    sign_in(http, url)
    assert http.get(url + "/whoami").json() == {"id": "host-user-1"}
    assert http.get(url + "/bff/api/session", headers=CSRF).json()["user"]["email"] == ALICE
    assert http.get(url + "/bff/api/graphql-token", headers=CSRF).status_code == 200


def test_errors_under_the_prefix_are_the_services_and_the_apps_stay_its_own(host):
    _, url = host
    http = requests.Session()
    for path, status, code in (
        ("/bff/api/graphql-token", 401, "unauthenticated"),
        ("/bff/api/session", 401, "unauthenticated"),
    ):
        response = http.get(url + path, headers=CSRF)
        assert response.status_code == status
        body = response.json()
        assert body["error"] == code and body["message"]
        assert body["request_id"] == response.headers["X-Request-ID"]
    sign_in(http, url)
    no_csrf = http.get(url + "/bff/api/graphql-token")
    assert no_csrf.status_code == 403 and no_csrf.json()["error"] == "csrf_required"

    # The service's HTML error page: its headers, and its stylesheet served under the prefix.
    page = http.get(url + "/bff/login/organization")
    assert page.status_code == 400 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'href="/bff/static/app.css"' in page.text and 'href="/"' in page.text
    assert http.get(url + "/bff/static/app.css").status_code == 200

    # The app's own 404 page, for its paths and for paths no route of the service holds.
    for path in ("/nowhere", "/bff/nowhere"):
        missing = http.get(url + path)
        assert missing.status_code == 404 and missing.text == "<p>host not found</p>"
        assert "X-Request-ID" not in missing.headers
