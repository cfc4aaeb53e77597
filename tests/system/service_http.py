"""What the system tests do over HTTP against a running service, written once."""

from __future__ import annotations

import requests
from flask import Flask

from devstack.stack import service_env, sign_in_over_http
from service.web.cookie import CookieSessionInterface
from tests.seed_names import ALICE

CSRF = {"X-CSRF": "1"}
# The SECRET_KEY every service started by start_service gets.
SECRET = service_env("http://unused", 0)["SECRET_KEY"]


def signed_in(url: str, email: str = ALICE) -> dict[str, str]:
    """A fresh browser's cookies after a real sign-in (each one a new session)."""
    with sign_in_over_http(url, email) as http:
        return http.cookies.get_dict()


def get_token(url: str, cookies: dict[str, str]) -> requests.Response:
    """The token route over a new connection (so requests spread over the workers)."""
    return requests.get(url + "/api/graphql-token", headers=CSRF, cookies=cookies, timeout=30)


def cookie_content(value: str) -> dict:
    """The session cookie's content, read (and verified) as the service reads it; {} if none."""
    if not value:
        return {}
    return CookieSessionInterface(SECRET).get_signing_serializer(Flask("decode")).loads(value)
