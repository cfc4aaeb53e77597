"""The token service as a Flask extension: its routes under a prefix of an existing app.

    tokens = TokenService(url_prefix="/bff")
    tokens.init_app(app)

Mounted in another app, everything of the service stays on its own blueprints: its cookie
(read and written by its routes alone), its user loading (not the app's LoginManager), its
error pages, security headers and CORS. The app's session, `/`, error handlers and login
manager are untouched. create_app() builds the standalone service on the same class, as the
whole app (whole_app=True): the cookie is then the app's session and the hooks app-wide.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Flask, current_app, url_for

from service.config.settings import Settings, load_settings

if TYPE_CHECKING:
    from service.web.cookie import CookieSessionInterface

# Flask's own keys for the app's session cookie: in a host app they are its session's, so the
# service's cookie reads TOKEN_SERVICE_SESSION_COOKIE_* (or the environment) instead.
FLASK_COOKIE_KEYS = frozenset(
    {
        "SESSION_COOKIE_NAME",
        "SESSION_COOKIE_DOMAIN",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_SAMESITE",
    }
)
PREFIX = "TOKEN_SERVICE_"


class TokenService:
    """Mounts the token routes (and the sign-in and webhook routes) in a Flask app."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        url_prefix: str = "",
        signin: bool = True,
        webhooks: bool = True,
        home: str = "/",
        settings: Settings | None = None,
        whole_app: bool = False,
    ):
        self.url_prefix = url_prefix.rstrip("/")
        self.signin = signin
        self.webhooks = webhooks
        self.home = home  # where a sign-in returns by default, under the app's script root
        self.whole_app = whole_app  # create_app: the service's pages, ops routes, app-wide hooks
        self.pages = whole_app
        self._settings = settings
        self.cookie_interface: CookieSessionInterface | None = (
            None  # set by init_app when the cookie is not the app's session
        )
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the service into app: its components, then the ops and web packages."""
        from service import components, ops, web
        from service.core import tracing
        from service.web.hooks import WHOLE_APP

        settings = self._settings or settings_from_config(app.config)
        self.components = components.build(
            app, settings, traced=self.whole_app and tracing.enabled()
        )
        app.extensions["token_service"] = self
        mounted = web.blueprints(self)
        scopes = WHOLE_APP if self.whole_app else [blueprint.name for blueprint, _ in mounted]
        ops.init_app(app, scopes, whole_app=self.whole_app)
        web.init_app(app, self, settings, mounted, scopes)


def static_url(filename: str) -> str:
    """The URL of one of the service's static files (app.css, app.js)."""
    whole_app = current_app.extensions["token_service"].whole_app
    return url_for("static" if whole_app else "token_service.static", filename=filename)


def settings_from_config(config: Mapping[str, object]) -> Settings:
    """Settings from the app's config (keys named like the environment variables), falling
    back to the environment; TOKEN_SERVICE_<NAME> wins over <NAME>."""
    given: dict[str, object] = {}
    prefixed: dict[str, object] = {}
    for key, value in config.items():
        if not isinstance(key, str) or value is None:
            continue
        if isinstance(value, list | tuple):  # SECRET_KEY_FALLBACKS as Flask takes it
            value = ",".join(str(item) for item in value)
        if key.startswith(PREFIX):
            prefixed[key.removeprefix(PREFIX)] = value
        elif key not in FLASK_COOKIE_KEYS:
            given[key] = value
    # Flask's False is "False" once read as a string; the settings' booleans take "false".
    overrides = {**given, **prefixed}
    return load_settings(
        overrides={k: str(v).lower() if isinstance(v, bool) else v for k, v in overrides.items()}
    )
