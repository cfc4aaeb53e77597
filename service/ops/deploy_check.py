"""`flask --app wsgi check`: the deployment against the configured WorkOS, one line a check.

Each check runs even when an earlier one failed; the exit status is 1 when any failed. The
WorkOS calls (three) go straight out, not through the request budget of the workers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qs, urlsplit

import click
import requests
from flask import current_app, url_for
from flask.cli import with_appcontext

from service.components import current
from service.config.settings import Settings
from service.sessions.stores import DEFAULT_DB
from service.web.webhooks import InvalidSignature, verify_signature
from service.workos.client import WorkOSClient

MAX_CLOCK_SKEW = 30.0  # seconds; well inside the webhook signature's 180 s tolerance


class Failed(Exception):
    """A check that did not pass; its message is the line's reason."""


class Skipped(Exception):
    """A check that does not apply to this configuration."""


class _Context:
    """What the checks share: settings, the WorkOS client, and the API call's Date header."""

    def __init__(self, redirect_uri: str | None) -> None:
        self.settings: Settings = current().settings
        self.client: WorkOSClient = current().workos
        self.redirect_uri = redirect_uri
        self.workos_date: str | None = None
        self.answered_at = 0.0

    def get(self, url: str, **kwargs: object) -> requests.Response:
        try:
            return requests.get(
                url,
                timeout=self.settings.workos_timeout_seconds,
                allow_redirects=False,
                **kwargs,  # type: ignore[arg-type]  # params and headers only
            )
        except requests.RequestException as exc:
            raise Failed(f"WorkOS did not answer ({type(exc).__name__})") from None


def _api_key(ctx: _Context) -> str:
    answer = ctx.get(
        ctx.settings.workos_base_url.rstrip("/") + "/events",
        params={"events": "user.created", "limit": 1},
        headers={"Authorization": f"Bearer {ctx.settings.workos_api_key}"},
    )
    ctx.workos_date, ctx.answered_at = answer.headers.get("Date"), time.time()
    if answer.status_code in (401, 403):
        raise Failed(f"WorkOS refused the key: GET /events answered {answer.status_code}")
    if answer.status_code != 200:
        raise Failed(f"GET /events answered {answer.status_code}")
    return "an authenticated GET /events answered 200"


def _client_id(ctx: _Context) -> str:
    answer = ctx.get(ctx.client.jwks_url)
    keys = answer.json().get("keys") if answer.status_code == 200 else None
    if not isinstance(keys, list) or not keys:
        raise Failed(f"GET /sso/jwks/<client id> answered {answer.status_code} without keys")
    return f"the client's JWKS answered {len(keys)} key(s)"


def _redirect_uri(ctx: _Context) -> str:
    redirect_uri = ctx.redirect_uri
    if redirect_uri is None:
        if not ctx.settings.app_base_url:
            raise Skipped("APP_BASE_URL is unset: pass --redirect-uri to check one")
        with current_app.test_request_context():  # url_for needs one outside a request
            redirect_uri = ctx.settings.app_base_url.rstrip("/") + url_for("auth.callback")
    url = ctx.client.authorization_url(
        redirect_uri=redirect_uri,
        state=secrets.token_urlsafe(16),
        code_challenge=secrets.token_urlsafe(32),
    )
    answer = ctx.get(url)
    location = answer.headers.get("Location", "")
    error = parse_qs(urlsplit(location).query).get("error") if location else None
    if answer.status_code >= 400 or error:
        what = error[0] if error else f"{answer.status_code}"
        raise Failed(f"authorize refused {redirect_uri} ({what})")
    return f"authorize accepts {redirect_uri} ({answer.status_code})"


def _webhook_secret(ctx: _Context) -> str:
    secret = ctx.settings.workos_webhook_secret
    if not secret:
        raise Skipped("WORKOS_WEBHOOK_SECRET is unset (POST /webhooks/workos is off)")
    body = json.dumps({"id": "event_check", "event": "check", "data": {}}).encode()
    stamp = str(int(time.time() * 1000))

    def header(key: str) -> str:
        signature = hmac.new(key.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        return f"t={stamp}, v1={signature.hexdigest()}"

    try:
        verify_signature(header(secret), body, secret)
    except InvalidSignature as exc:
        raise Failed(f"a payload signed with it does not verify ({exc})") from None
    try:
        verify_signature(header(secret + "x"), body, secret)
    except InvalidSignature:
        return "a payload signed with it verifies; one signed with another is refused"
    raise Failed("a payload signed with another secret verifies")


def _session_store(ctx: _Context) -> str:
    values = current().values  # on the records' backend: the same file or Redis
    name, value = f"check:{secrets.token_hex(8)}", secrets.token_hex(8)
    values.set_value(name, value, 60)
    read = values.get_value(name)
    popped = values.pop_value(name)
    if read != value or popped != value or values.get_value(name) is not None:
        raise Failed("a probe value written was not read back and deleted")
    line = f"{values.health().get('backend')}: wrote, read and deleted a probe value"
    if ctx.settings.redis_url:
        return line
    # The default file sits in the app's instance folder: a redeploy that replaces the folder
    # (a new container, a fresh checkout) loses every session, which is said here, not later.
    path = ctx.settings.session_db_path or os.path.join(current_app.instance_path, DEFAULT_DB)
    where = f"{line} in {path}"
    if ctx.settings.session_db_path is None:
        where += " (the default, inside the app's folder: set SESSION_DB_PATH to a volume)"
    return where


def _redis(ctx: _Context) -> str:
    from service.core.redis_link import RedisLink, ping_every_node

    if not ctx.settings.redis_url:
        raise Skipped("REDIS_URL is unset (sessions in SQLite, tokens in process memory)")
    link = RedisLink(ctx.settings.redis_url)
    key, value = f"gts:check:{{{secrets.token_hex(8)}}}", secrets.token_hex(8).encode()
    try:
        read = link.run(lambda r: (r.set(key, value, px=60000), r.get(key), r.delete(key))[1])
        link.run(ping_every_node)
    except Exception as exc:
        raise Failed(f"Redis did not answer ({type(exc).__name__})") from None
    finally:
        link.close()
    if read != value:
        raise Failed("a probe key written was not read back")
    return "wrote, read and deleted a probe key; every node answers PING"


def _clock(ctx: _Context) -> str:
    if ctx.workos_date is None:
        raise Failed("no Date header from WorkOS (see the api key check)")
    theirs = parsedate_to_datetime(ctx.workos_date).timestamp()
    skew = ctx.answered_at - theirs  # Date has whole seconds: up to 1 s of this is rounding
    line = f"this host is {skew:+.1f} s from WorkOS's Date (within ±{MAX_CLOCK_SKEW:g} s)"
    if abs(skew) > MAX_CLOCK_SKEW + 1:
        raise Failed(line.replace("within", "over"))
    return line


CHECKS: list[tuple[str, Callable[[_Context], str]]] = [
    ("api key", _api_key),
    ("client id", _client_id),
    ("redirect uri", _redirect_uri),
    ("webhook secret", _webhook_secret),
    ("session store", _session_store),
    ("redis", _redis),
    ("clock", _clock),
]


@click.command("check")
@with_appcontext
@click.option(
    "--redirect-uri", metavar="URL", help="the callback URL to check (default: APP_BASE_URL's)"
)
def check(redirect_uri: str | None) -> None:
    """Check the deployment against the configured WorkOS; exit 1 when any check fails."""
    ctx = _Context(redirect_uri)
    failed = 0
    for name, run in CHECKS:
        try:
            status, reason = "ok", run(ctx)
        except Skipped as exc:
            status, reason = "skip", str(exc)
        except Failed as exc:
            status, reason = "FAIL", str(exc)
        except Exception as exc:  # a check that breaks is a failed check, not a traceback
            status, reason = "FAIL", f"{type(exc).__name__}"
        failed += status == "FAIL"
        click.echo(f"{status:4}  {name:14}  {reason}")
    if failed:
        raise SystemExit(1)
