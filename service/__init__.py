"""The GraphQL token service: create_app() builds everything; importing does nothing."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def create_app(overrides: Mapping[str, object] | None = None) -> Flask:
    """Build the app from the environment, with overrides keyed by variable name (tests)."""
    from service.config.settings import load_settings
    from service.core import tracing
    from service.extension import TokenService
    from service.ops.logs import configure_logging

    settings = load_settings(overrides=overrides)
    configure_logging(settings.log_level, settings.log_format)
    # Off unless OTEL_* asks: then proxies add spans around the stores, cache and gate.
    traced = tracing.enable()

    # Templates and static files live inside the package, so `pip install` carries them.
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=list(settings.secret_key_fallbacks),
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        # Any other Host (the proxy's X-Forwarded-Host when trusted) is 400 before a route
        # runs: it would pick the callback URL and where a sign-out returns.
        TRUSTED_HOSTS=list(settings.allowed_hosts) or None,
    )

    if settings.trusted_proxies:
        # Client address, scheme, host and path prefix from the N proxies in front; without
        # TRUSTED_PROXIES the X-Forwarded-* headers are anyone's and are ignored.
        n = settings.trusted_proxies
        # Flask's documented way to add WSGI middleware; mypy forbids assigning to a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n
        )
    if traced:
        # Outermost: the request's span covers the proxy fix and everything after it.
        app.wsgi_app = tracing.TracingMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    # The whole app is the service: its cookie is the app's session, its pages own `/`, and
    # its headers and error pages cover every answer.
    TokenService(app, settings=settings, whole_app=True)
    return app
