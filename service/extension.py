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

from flask import Blueprint, Flask, current_app, url_for

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
MAX_BODY = 64 * 1024  # bytes a request to the service's routes may carry


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
        """Build the service into app: its collaborators, routes, cookie and hooks."""
        from service import components
        from service.core import tracing
        from service.ops import probes, request_hooks
        from service.web import api, auth, pages, webhooks
        from service.web.cookie import CookieSessionInterface
        from service.web.cookie_session import init_cookie_hooks
        from service.web.cors import init_cors
        from service.web.errors import register_error_handlers
        from service.web.headers import content_security_policy, init_security_headers
        from service.web.hooks import WHOLE_APP
        from service.web.request_body import init_body_limit

        settings = self._settings or settings_from_config(app.config)
        self.components = components.build(
            app, settings, traced=self.whole_app and tracing.enabled()
        )
        app.extensions["token_service"] = self
        cookie = CookieSessionInterface(
            settings.secret_key,
            settings.secret_key_fallbacks,
            name=settings.session_cookie_name,
            domain=settings.session_cookie_domain,
            secure=settings.session_cookie_secure,
            samesite=settings.session_cookie_samesite,
            # Mounted: the browser sends the cookie to the service's routes only.
            path=None if self.whole_app else self.url_prefix,
        )

        mounted: list[tuple[Blueprint, str]] = [(api.bp, "/api")]
        if self.signin:
            from service.web import signin_routes

            mounted.append((signin_routes.bp, ""))
        if self.webhooks:
            mounted.append((webhooks.bp, ""))
        if self.pages:
            mounted += [(pages.bp, ""), (probes.bp, "")]
        else:
            # The picker and error pages' stylesheet, served under the prefix (the app's own
            # /static is the app's). A blueprint of this app only: it holds no routes of ours.
            own = Blueprint(
                "token_service",
                __name__,
                static_folder="static",
                static_url_path="/static",
                template_folder="templates",
            )
            mounted.append((own, ""))
        for blueprint, path in mounted:
            app.register_blueprint(blueprint, url_prefix=self.url_prefix + path or None)
        names = [blueprint.name for blueprint, _ in mounted]
        scopes = WHOLE_APP if self.whole_app else names

        if self.whole_app:
            app.session_interface = cookie
        else:
            self.cookie_interface = cookie
            init_cookie_hooks(app, cookie, names)
        request_hooks.init_request_hooks(app, scopes)
        csp = content_security_policy(settings.graphql_origin, settings.workos_origin)
        init_security_headers(app, csp, hsts=settings.session_cookie_secure, scopes=scopes)
        init_body_limit(app, scopes, limit=None if self.whole_app else MAX_BODY)
        register_error_handlers(app, scopes)
        init_cors(app, settings.cors_allowed_origins, bearer=settings.authkit_bearer)
        app.add_template_global(auth.home_url, "token_service_home")
        app.add_template_global(static_url, "token_service_static")


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
