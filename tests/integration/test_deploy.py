"""Deployment settings in process: trusted proxies, cookie settings, CORS, sign-out by script,
and the operations routes behind METRICS_TOKEN."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Browser

SPA = "https://app.example.com"
FORWARDED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "public.example.com",
    "X-Forwarded-Prefix": "/bff",
}
METRICS_TOKEN = "metrics-token-0123456789"
JSON = {"Accept": "application/json", "X-CSRF": "1"}


def _redirect_uri(response) -> str:
    return parse_qs(urlsplit(response.headers["Location"]).query)["redirect_uri"][0]


# 1. behind proxies ---------------------------------------------------------------------------


def test_forwarded_headers_are_ignored_without_trusted_proxies(make_app):
    client = make_app(APP_BASE_URL="", ALLOWED_HOSTS="localhost").test_client()
    response = client.get("/login", headers=FORWARDED)
    assert _redirect_uri(response) == "http://localhost/callback"
    assert "Path=/;" in response.headers["Set-Cookie"]


def test_trusted_proxy_gives_scheme_host_and_prefix(make_app):
    client = make_app(
        APP_BASE_URL="", TRUSTED_PROXIES=1, ALLOWED_HOSTS="public.example.com"
    ).test_client()
    response = client.get("/login", headers=FORWARDED)
    assert _redirect_uri(response) == "https://public.example.com/bff/callback"
    assert "Path=/bff;" in response.headers["Set-Cookie"]
    page = client.get("/", headers=FORWARDED)
    assert 'href="/bff/static/app.css"' in page.text and 'href="/bff/"' in page.text


def test_secure_host_only_cookie_keeps_path_slash_under_a_prefix(make_app):
    client = make_app(
        APP_BASE_URL="",
        TRUSTED_PROXIES=1,
        SESSION_COOKIE_SECURE="true",
        ALLOWED_HOSTS="public.example.com",
    )
    cookie = client.test_client().get("/login", headers=FORWARDED).headers["Set-Cookie"]
    assert cookie.startswith("__Host-gts=") and "Path=/;" in cookie and "Secure" in cookie


@pytest.mark.parametrize("trusted", [0, 1])
def test_a_host_outside_allowed_hosts_picks_no_url(make_app, trusted):
    """Without APP_BASE_URL the Host header (or a trusted proxy's X-Forwarded-Host) made the
    redirect_uri sent to WorkOS and where an anonymous sign-out went back to."""
    client = make_app(
        APP_BASE_URL="", ALLOWED_HOSTS="app.example.com", TRUSTED_PROXIES=trusted
    ).test_client()
    header = {"X-Forwarded-Host": "evil.example"} if trusted else {"Host": "evil.example"}
    for response in (
        client.get("/login", headers=header),
        client.post("/logout", headers=header),
        client.post("/logout", headers={**header, **JSON}),
    ):
        assert response.status_code == 400, response.headers.get("Location")
        assert "evil.example" not in response.headers.get("Location", "")
    assert client.post("/logout", headers={**header, **JSON}).json["error"] == "bad_request"
    good = {"X-Forwarded-Host": "app.example.com"} if trusted else {"Host": "app.example.com"}
    assert _redirect_uri(client.get("/login", headers=good)) == "http://app.example.com/callback"


# 2. cookie settings --------------------------------------------------------------------------


def test_cookie_name_domain_and_samesite(make_app):
    app = make_app(
        SESSION_COOKIE_NAME="app_session",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_SAMESITE="Strict",
    )
    cookie = app.test_client().get("/login").headers["Set-Cookie"]
    assert cookie.startswith("app_session=")
    assert "Domain=example.com" in cookie and "SameSite=Strict" in cookie


# 3. CORS -------------------------------------------------------------------------------------


@pytest.fixture
def spa(make_app, emulator) -> Browser:
    browser = Browser(make_app(CORS_ALLOWED_ORIGINS=SPA).test_client(), emulator)
    browser.sign_in("alice@acme.com")
    return browser


@pytest.mark.parametrize("path, method", [("/api/graphql-token", "GET"), ("/logout", "POST")])
def test_preflight_from_an_allowed_origin_is_granted(spa, path, method):
    response = spa.client.options(
        path,
        headers={
            "Origin": SPA,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "x-csrf, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert {"X-CSRF", "Content-Type"} <= set(
        response.headers["Access-Control-Allow-Headers"].replace(" ", "").split(",")
    )
    assert "Origin" in response.headers["Vary"]


def test_answers_to_an_allowed_origin_carry_cors_headers(spa):
    response = spa.client.get("/api/graphql-token", headers={"X-CSRF": "1", "Origin": SPA})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"] and "Cookie" in response.headers["Vary"]
    errors = spa.client.get("/api/graphql-token", headers={"Origin": SPA})  # 403 csrf_required
    assert errors.headers["Access-Control-Allow-Origin"] == SPA


@pytest.mark.parametrize("origin", ["https://evil.example", SPA + ".evil", "null", SPA + ":444"])
def test_other_origins_get_no_cors_headers(spa, origin):
    for response in (
        spa.client.get("/api/session", headers={"X-CSRF": "1", "Origin": origin}),
        spa.client.options(
            "/api/session",
            headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
        ),
    ):
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control")]


def test_pages_get_no_cors_headers_even_for_an_allowed_origin(spa):
    response = spa.client.get("/", headers={"Origin": SPA})
    assert "Access-Control-Allow-Origin" not in response.headers


# 4. sign-out from a script -------------------------------------------------------------------


def test_session_names_the_logout_route(spa):
    session = spa.client.get("/api/session", headers={"X-CSRF": "1"}).json
    with spa.client.session_transaction() as s:
        csrf = s["csrf_token"]
    assert session["logout"] == {"url": "/logout", "method": "POST", "csrf_token": csrf}


@pytest.mark.parametrize(
    "return_to, back_to",
    [
        (None, "http://localhost/?signed_out=1"),
        ("/done?x=1", "http://localhost/done?x=1"),
        (SPA + "/bye", SPA + "/bye"),
    ],
)
def test_json_logout_answers_the_logout_url(spa, return_to, back_to):
    data = {"return_to": return_to} if return_to else {}
    response = spa.client.post("/logout", data=data, headers=JSON)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    url = urlsplit(response.json["logout_url"])
    assert url.path == "/user_management/sessions/logout"
    assert parse_qs(url.query)["return_to"] == [back_to]
    assert spa.token().status_code == 401


@pytest.mark.parametrize(
    "return_to",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", SPA + ".evil/", "javascript:x"],
)
def test_return_to_elsewhere_is_refused(spa, return_to):
    response = spa.client.post("/logout", data={"return_to": return_to}, headers=JSON)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert spa.token().status_code == 200  # still signed in


def test_json_logout_needs_csrf_and_a_form_still_gets_a_redirect(spa):
    refused = spa.client.post("/logout", headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.json["error"] == "csrf_required"
    form = spa.client.post("/logout", data={"csrf_token": spa.csrf(), "return_to": "/bye"})
    assert form.status_code == 302
    assert parse_qs(urlsplit(form.headers["Location"]).query)["return_to"] == [
        "http://localhost/bye"
    ]


def test_json_logout_when_signed_out_already(make_app):
    response = make_app().test_client().post("/logout", headers={"Accept": "application/json"})
    assert response.status_code == 200 and response.json == {
        "logout_url": "http://localhost/?signed_out=1"
    }


# 6. operations routes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token-0123456789", f"Basic {METRICS_TOKEN}", METRICS_TOKEN]
)
def test_metrics_needs_the_token_when_set(make_app, header):
    client = make_app(METRICS_TOKEN=METRICS_TOKEN).test_client()
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401 and response.json["error"] == "unauthenticated"
    assert METRICS_TOKEN not in response.get_data(as_text=True)


def test_metrics_and_details_with_the_token(make_app):
    client = make_app(METRICS_TOKEN=METRICS_TOKEN).test_client()
    bearer = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert client.get("/metrics", headers=bearer).status_code == 200
    assert client.get("/readyz").json == {"status": "ok"}
    detailed = client.get("/readyz", headers=bearer).json
    assert detailed["status"] == "ok" and detailed["session_store"]["backend"] == "sqlite"


def test_readyz_says_only_ok_without_a_metrics_token(client):
    assert client.get("/readyz").json == {"status": "ok"}
    assert client.get("/metrics").status_code == 200  # open, as before, when no token is set
