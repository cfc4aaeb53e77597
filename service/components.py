"""What the service is built of (WorkOS client, budget, token broker, sessions, limits):
one typed Components per app, built once from its Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

from service.config.settings import Settings
from service.web.context import unproxied

if TYPE_CHECKING:
    from service.core.sealing import Sealer
    from service.ops.metrics import Metrics
    from service.sessions.events import EventApplier, EventsPoller
    from service.sessions.lifecycle import Sessions
    from service.sessions.organizations import OrganizationLists
    from service.sessions.values import ValueStore
    from service.tokens.broker import TokenBroker
    from service.web.bearer import BearerAuth
    from service.web.ratelimit import RateLimit
    from service.workos.budget import Budget
    from service.workos.client import WorkOSClient

# The one key of app.extensions the service uses: its TokenService, which holds these.
EXTENSION = "token_service"


@dataclass(slots=True)
class Limits:
    """The per-caller rate limits: token routes (per user), sign-ins (per address), switches."""

    token: RateLimit
    signin: RateLimit
    switch: RateLimit


@dataclass(slots=True)
class Components:
    """Every collaborator of the routes, the CLI and the probes, built once per app."""

    settings: Settings
    workos: WorkOSClient
    budget: Budget
    tokens: TokenBroker
    sessions: Sessions
    # Beside the records, on the same backend: pending sign-ins and organization choices,
    # kept organization lists, applied event ids, the events poller's cursor and lease.
    values: ValueStore
    events: EventApplier
    organizations: OrganizationLists
    metrics: Metrics
    limits: Limits
    # Seals a sign-in's pending authentication (email verification, organization choice).
    pending_sealer: Sealer
    # Keys the PKCE verifier derived from a sign-in's state.
    pkce_key: bytes
    # AUTHKIT_BEARER: the verifier of AuthKit access tokens; None otherwise.
    bearer: BearerAuth | None = None
    # WORKOS_EVENTS_POLL_SECONDS: the Events API poller's thread; None otherwise.
    events_poller: EventsPoller | None = None


def of(app: Flask) -> Components:
    """The Components of an app the service is built into."""
    return app.extensions[EXTENSION].components


def current() -> Components:
    """The Components of the app handling this request (or CLI command)."""
    return unproxied(current_app).extensions[EXTENSION].components


def build(app: Flask, settings: Settings, *, traced: bool) -> Components:
    """Build every collaborator from settings (and start the events poller when asked)."""
    """Build every collaborator of the routes into app.extensions (and start the poller)."""
    from service.core.keys import derive
    from service.core.redis_link import RedisLink
    from service.core.sealing import Sealer
    from service.ops.metrics import Metrics
    from service.ops.tracing_proxies import (
        TracedBroker,
        TracedGate,
        TracedSessionStore,
        TracedValueStore,
        cache_observer,
    )
    from service.sessions.events import EventApplier, EventsPoller
    from service.sessions.lifecycle import Sessions
    from service.sessions.organizations import OrganizationLists
    from service.sessions.stores import make_session_stores
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
    stores = make_session_stores(settings, app.instance_path, link)
    records, values = stores.records, stores.values
    if traced:
        records, values = TracedSessionStore(records), TracedValueStore(values)
    sessions = Sessions(records, broker, settings.session_lifetime_seconds)
    revoked = bearer = None
    if settings.authkit_bearer:
        from service.sessions.revoked import RevokedSessions
        from service.web.bearer import BearerAuth
        from service.workos.access_tokens import AccessTokenVerifier

        assert settings.authkit_issuer is not None  # set with authkit_bearer (settings.py)
        revoked = RevokedSessions(values, broker, settings.secret_key)
        bearer = BearerAuth(AccessTokenVerifier(client.get_jwks, settings.authkit_issuer), revoked)
    applier = EventApplier(sessions, values, revoked)
    poller = None
    if settings.workos_events_poll_seconds:
        poller = EventsPoller(client, applier, values, settings.workos_events_poll_seconds)
        poller.start()
    return Components(
        settings=settings,
        workos=client,
        budget=budget,
        tokens=broker,
        sessions=sessions,
        values=values,
        events=applier,
        organizations=OrganizationLists(
            client,
            values,
            Sealer(settings.secret_key, "organization-list", settings.secret_key_fallbacks),
        ),
        metrics=metrics,
        limits=Limits(
            token=RateLimit(settings.token_rate_limit, link, settings.secret_key),
            signin=RateLimit(
                settings.signin_rate_limit,
                link,
                settings.secret_key,
                message="Too many sign-in attempts from this address; wait a little.",
            ),
            switch=RateLimit(
                settings.switch_rate_limit,
                link,
                settings.secret_key,
                message="Too many organization switches; wait a little.",
            ),
        ),
        pending_sealer=Sealer(
            settings.secret_key, "pending-authentication", settings.secret_key_fallbacks
        ),
        pkce_key=derive(settings.secret_key, "pkce-verifier"),
        bearer=bearer,
        events_poller=poller,
    )
