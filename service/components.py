"""The service's collaborators (WorkOS client, budget, token broker, sessions, limits), built
once per app from its Settings and kept in app.extensions."""

from __future__ import annotations

from flask import Flask

from service.config.settings import Settings


def build(app: Flask, settings: Settings, *, traced: bool) -> None:
    """Build every collaborator of the routes into app.extensions (and start the poller)."""
    from service.core.keys import derive
    from service.core.redis_link import RedisLink
    from service.core.sealing import Sealer
    from service.ops.metrics import Metrics
    from service.ops.tracing_proxies import (
        TracedBroker,
        TracedGate,
        TracedSessionStore,
        cache_observer,
    )
    from service.sessions.events import EventApplier, EventsPoller
    from service.sessions.lifecycle import Sessions
    from service.sessions.organizations import OrganizationLists
    from service.sessions.stores import make_session_store
    from service.tokens.broker import TokenBroker
    from service.tokens.redis_store import make_token_store
    from service.tokens.widgets import token_minter
    from service.web.ratelimit import RateLimit
    from service.workos.budget import MAX_PAUSE, Budget
    from service.workos.client import WorkOSClient

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
    session_store = make_session_store(settings, app.instance_path, link)
    if traced:
        session_store = TracedSessionStore(session_store)
    sessions = Sessions(session_store, broker, settings.session_lifetime_seconds)
    revoked = None
    if settings.authkit_bearer:
        from service.sessions.revoked import RevokedSessions
        from service.web.bearer import BearerAuth
        from service.workos.access_tokens import AccessTokenVerifier

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
        organizations=OrganizationLists(
            client,
            session_store,
            Sealer(settings.secret_key, "organization-list", settings.secret_key_fallbacks),
        ),
        pkce_key=derive(settings.secret_key, "pkce-verifier"),
    )
    if settings.workos_events_poll_seconds:
        poller = EventsPoller(client, applier, session_store, settings.workos_events_poll_seconds)
        app.extensions["events_poller"] = poller
        poller.start()
