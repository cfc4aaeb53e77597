"""The Flask side: routes, cookie, CSRF, CORS, headers and error pages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask

from service.config.settings import Settings
from service.web.hooks import Scopes

if TYPE_CHECKING:
    from service.extension import TokenService

# A mounted service's body limit, for its own routes (the host app's MAX_CONTENT_LENGTH is its).
MAX_BODY = 64 * 1024


def blueprints(service: TokenService) -> list[tuple[Blueprint, str]]:
    """The blueprints the service mounts, each with its path under the service's prefix."""
    from service.web import api, pages, signin_routes, webhooks

    mounted: list[tuple[Blueprint, str]] = [(api.bp, "/api")]
    if service.signin:
        mounted.append((signin_routes.bp, ""))
    if service.webhooks:
        mounted.append((webhooks.bp, ""))
    if service.whole_app:
        mounted.append((pages.bp, ""))
    else:
        # The picker and error pages' stylesheet, served under the prefix (the app's own
        # /static is the app's). A blueprint of this app only: it holds no routes of ours.
        own = Blueprint(
            "token_service",
            "service",
            static_folder="static",
            static_url_path="/static",
            template_folder="templates",
        )
        mounted.append((own, ""))
    return mounted


def init_app(
    app: Flask,
    service: TokenService,
    settings: Settings,
    mounted: list[tuple[Blueprint, str]],
    scopes: Scopes,
) -> None:
    """Mount the blueprints, the cookie, and the hooks every answer of the scopes passes."""
    from service.extension import static_url
    from service.web import auth
    from service.web.cookie import CookieSessionInterface
    from service.web.cookie_session import init_cookie_hooks
    from service.web.cors import init_cors
    from service.web.errors import register_error_handlers
    from service.web.headers import content_security_policy, init_security_headers
    from service.web.request_body import init_body_limit

    for blueprint, path in mounted:
        app.register_blueprint(blueprint, url_prefix=service.url_prefix + path or None)
    cookie = CookieSessionInterface(
        settings.secret_key,
        settings.secret_key_fallbacks,
        name=settings.session_cookie_name,
        domain=settings.session_cookie_domain,
        secure=settings.session_cookie_secure,
        samesite=settings.session_cookie_samesite,
        # Mounted: the browser sends the cookie to the service's routes only.
        path=None if service.whole_app else service.url_prefix,
    )
    if service.whole_app:
        app.session_interface = cookie
    else:
        service.cookie_interface = cookie
        init_cookie_hooks(app, cookie, [blueprint.name for blueprint, _ in mounted])
    csp = content_security_policy(settings.graphql_origin, settings.workos_origin)
    init_security_headers(app, csp, hsts=settings.session_cookie_secure, scopes=scopes)
    init_body_limit(app, scopes, limit=None if service.whole_app else MAX_BODY)
    register_error_handlers(app, scopes)
    init_cors(app, settings.cors_allowed_origins, bearer=settings.authkit_bearer)
    app.add_template_global(auth.home_url, "token_service_home")
    app.add_template_global(static_url, "token_service_static")
