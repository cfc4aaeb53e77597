"""The GraphQL token service: create_app() builds everything; importing does nothing."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def create_app(overrides: Mapping[str, object] | None = None) -> Flask:
    """Build the app from the environment, with overrides keyed by variable name (tests)."""
    from service import api, auth, cli, ops, pages, tracing, webhooks
    from service.budget import MAX_PAUSE, Budget
    from service.cookie import CookieSessionInterface
    from service.cors import init_cors
    from service.errors import register_error_handlers
    from service.events import EventApplier, EventsPoller
    from service.keys import derive
    from service.metrics import Metrics
    from service.ratelimit import RateLimit
    from service.redis_link import RedisLink
    from service.redis_store import make_token_store
    from service.sealing import Sealer
    from service.security import content_security_policy, init_body_limit, init_security_headers
    from service.session_stores import make_session_store
    from service.sessions import Sessions
    from service.settings import load_settings
    from service.tokens import TokenBroker
    from service.tracing_proxies import TracedBroker, TracedGate, TracedSessionStore, cache_observer
    from service.widget_tokens import token_minter
    from service.workos import WorkOSClient

    settings = load_settings(overrides=overrides)
    ops.configure_logging(settings.log_level, settings.log_format)
    # Off unless OTEL_* asks: then proxies add spans around the stores, cache and gate.
    traced = tracing.enable()

    # Templates and static files live inside the package, so `pip install` carries them.
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=list(settings.secret_key_fallbacks),
        SESSION_COOKIE_NAME=settings.session_cookie_name,
        SESSION_COOKIE_DOMAIN=settings.session_cookie_domain,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE=settings.session_cookie_samesite,
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SECURE=settings.session_cookie_secure,
        REMEMBER_COOKIE_SAMESITE=settings.session_cookie_samesite,
        # The cookie is written when it changes, not re-signed on every answer: the sign-in's
        # age is the session record's (SESSION_LIFETIME_SECONDS from its sign-in time).
        SESSION_REFRESH_EACH_REQUEST=False,
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

    metrics = Metrics(shared_budget=bool(settings.redis_url))
    # One Redis link for tokens, sessions, rate limits and the WorkOS budget: one client, one
    # outage state.
    link = None
    if settings.redis_url:
        link = RedisLink(
            settings.redis_url, on_state_change=lambda down: metrics.store_degraded.set(int(down))
        )
    budget = Budget(
        settings.workos_request_budget,
        settings.workos_signin_reserve_percent,
        signin_percent=settings.workos_signin_ceiling_percent,
        link=link,
        secret_key=settings.secret_key,
        processes=settings.web_concurrency,
        observer=metrics.observe_budget,
    )
    client = WorkOSClient(
        base_url=settings.workos_base_url,
        api_key=settings.workos_api_key,
        client_id=settings.workos_client_id,
        timeout=settings.workos_timeout_seconds,
        observer=metrics.observe_workos,
        gate=TracedGate(budget) if traced else budget,
    )
    store = make_token_store(
        link,
        settings.secret_key,
        settings.token_cache_maxsize,
        fallbacks=settings.secret_key_fallbacks,
    )
    broker = TokenBroker(
        token_minter(client),
        store=store,
        refresh_margin=settings.token_refresh_margin_seconds,
        fallback_ttl=settings.token_fallback_ttl_seconds,
        maxsize=settings.token_cache_maxsize,
        # A key cools down as long as WorkOS pauses mints (MAX_PAUSE): its Retry-After is then
        # the wait left, not a shorter one that only meets the pause again.
        max_cooldown=MAX_PAUSE,
        observer=cache_observer(metrics.observe_token) if traced else metrics.observe_token,
    )
    if traced:
        broker = TracedBroker(broker)  # type: ignore[assignment]
    app.session_interface = CookieSessionInterface(
        settings.secret_key, settings.secret_key_fallbacks
    )
    session_store = make_session_store(settings, app.instance_path, link)
    if traced:
        session_store = TracedSessionStore(session_store)
    sessions = Sessions(session_store, broker, settings.session_lifetime_seconds)
    revoked = None
    if settings.authkit_bearer:
        from service.access_tokens import AccessTokenVerifier
        from service.bearer import BearerAuth
        from service.revoked import RevokedSessions

        assert settings.authkit_issuer is not None  # set with authkit_bearer (settings.py)
        revoked = RevokedSessions(session_store, broker, settings.secret_key)
        app.extensions["bearer"] = BearerAuth(
            AccessTokenVerifier(client.get_jwks, settings.authkit_issuer), revoked
        )
    applier = EventApplier(sessions, revoked)
    app.extensions.update(
        settings=settings,
        workos=client,
        tokens=broker,
        sessions=sessions,
        events=applier,
        metrics=metrics,
        budget=budget,
        rate_limit=RateLimit(settings.token_rate_limit, link, settings.secret_key),
        signin_rate_limit=RateLimit(
            settings.signin_rate_limit,
            link,
            settings.secret_key,
            message="Too many sign-in attempts from this address; wait a little.",
        ),
        switch_rate_limit=RateLimit(
            settings.switch_rate_limit,
            link,
            settings.secret_key,
            message="Too many organization switches; wait a little.",
        ),
        sealer=Sealer(settings.secret_key, "pending-authentication", settings.secret_key_fallbacks),
        organization_sealer=Sealer(
            settings.secret_key, "organization-list", settings.secret_key_fallbacks
        ),
        pkce_key=derive(settings.secret_key, "pkce-verifier"),
    )
    if settings.workos_events_poll_seconds:
        poller = EventsPoller(client, applier, session_store, settings.workos_events_poll_seconds)
        app.extensions["events_poller"] = poller
        poller.start()

    ops.init_request_hooks(app)
    if traced:
        # Outermost: the request's span covers the proxy fix and everything after it.
        app.wsgi_app = tracing.TracingMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    csp = content_security_policy(settings.graphql_origin, settings.workos_origin)
    init_security_headers(app, csp, hsts=settings.session_cookie_secure)
    init_body_limit(app)
    register_error_handlers(app)
    init_cors(app, settings.cors_allowed_origins, bearer=settings.authkit_bearer)
    auth.init_auth(app)
    for blueprint in (pages.bp, api.bp, ops.bp, webhooks.bp):
        app.register_blueprint(blueprint)
    cli.register(app)
    return app
