"""Behind a proxy and a path prefix: Debian's nginx on /bff in front of gunicorn, configured as
docs/deployment.md ("Behind a proxy") says, and sign-in, the token and sign-out through it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from devstack.stack import Process, free_port, start_service, wait_http
from tests.seed_names import ALICE
from tests.support import require_tool

NGINX = "/usr/sbin/nginx"
PREFIX = "/bff"
CSRF = {"X-CSRF": "1"}

# The location block of docs/deployment.md, with the service's port filled in.
LOCATION = """
    location /bff/ {
        proxy_pass http://127.0.0.1:%(service_port)d/;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Prefix /bff;
    }
"""
CONFIG = """
worker_processes 1;
pid %(tmp)s/nginx.pid;
error_log %(tmp)s/nginx-error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    server {
        listen 127.0.0.1:%(port)d;
%(location)s
    }
}
"""


@pytest.fixture
def proxied(tmp_path, upstream):
    """gunicorn (TRUSTED_PROXIES=1, no APP_BASE_URL) behind nginx; the public base URL."""
    require_tool(NGINX, "apt-get install nginx-light")
    service, service_url = start_service(
        tmp_path,
        upstream.url,
        TRUSTED_PROXIES=1,
        APP_BASE_URL="",
        ALLOWED_HOSTS="127.0.0.1",
        WEB_CONCURRENCY=1,
    )
    port = free_port()
    values = {"tmp": tmp_path, "port": port, "service_port": int(service_url.rsplit(":", 1)[1])}
    config = Path(tmp_path / "nginx.conf")
    config.write_text(CONFIG % {**values, "location": LOCATION % values})
    nginx = Process(
        [NGINX, "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"],
        log_path=tmp_path / "nginx.log",
    ).start()
    try:
        wait_http(f"http://127.0.0.1:{port}{PREFIX}/healthz", proc=nginx.popen)
        yield f"http://127.0.0.1:{port}{PREFIX}"
    finally:
        nginx.stop()
        service.stop()


def test_sign_in_token_and_sign_out_through_nginx_under_a_prefix(proxied, upstream):
    public = proxied
    origin = public[: -len(PREFIX)]
    http = requests.Session()
    login = http.get(public + "/login", params={"login_hint": ALICE}, allow_redirects=False)
    assert login.status_code == 302
    # The callback URL sent to WorkOS is the public one: the proxy's host and the prefix.
    redirect_uri = parse_qs(urlsplit(login.headers["Location"]).query)["redirect_uri"][0]
    assert redirect_uri == public + "/callback"
    authorize = http.get(login.headers["Location"], allow_redirects=False)
    assert authorize.headers["Location"].startswith(public + "/callback?")
    callback = http.get(authorize.headers["Location"], allow_redirects=False)
    assert callback.status_code == 302 and callback.headers["Location"] == PREFIX + "/"
    cookie = next(c for c in http.cookies if c.name == "gts")
    assert cookie.path == PREFIX  # scoped to the prefix: the app's own routes never see it

    page = http.get(origin + callback.headers["Location"])
    assert page.status_code == 200
    assert f'href="{PREFIX}/static/app.css"' in page.text
    assert f'data-base-path="{PREFIX}"' in page.text
    assert f'action="{PREFIX}/logout"' in page.text
    assert http.get(public + "/static/app.js").status_code == 200

    token = http.get(public + "/api/graphql-token", headers=CSRF)
    assert token.status_code == 200 and token.json()["organization_id"] == "org_acme"
    session = http.get(public + "/api/session", headers=CSRF).json()
    assert session["logout"]["url"] == PREFIX + "/logout"

    out = http.post(public + "/logout", headers={**CSRF, "Accept": "application/json"})
    assert out.status_code == 200
    logout_url = out.json()["logout_url"]
    assert parse_qs(urlsplit(logout_url).query)["return_to"] == [public + "/?signed_out=1"]
    assert http.get(public + "/api/graphql-token", headers=CSRF).status_code == 401
