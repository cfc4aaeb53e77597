"""Settings read once from the environment, validated with messages that say how to fix them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from service.config.reader import Reader, SettingsError


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one service process (docs/reference/configuration.md)."""

    workos_api_key: str
    workos_client_id: str
    workos_base_url: str
    workos_graphql_url: str
    app_base_url: str | None
    secret_key: str
    session_cookie_secure: bool
    session_lifetime_seconds: int
    token_refresh_margin_seconds: float | None
    token_fallback_ttl_seconds: float
    token_cache_maxsize: int
    redis_url: str | None
    workos_timeout_seconds: float
    token_rate_limit: str
    signin_rate_limit: str
    switch_rate_limit: str
    workos_request_budget: str
    workos_signin_reserve_percent: int
    workos_signin_ceiling_percent: int
    web_concurrency: int
    session_db_path: str | None
    workos_webhook_secret: str | None
    workos_events_poll_seconds: float | None
    log_level: str
    log_format: str
    trusted_proxies: int = 0
    session_cookie_name: str = "gts"
    session_cookie_domain: str | None = None
    session_cookie_samesite: str = "Lax"
    cors_allowed_origins: tuple[str, ...] = ()
    widget_token_scopes: tuple[str, ...] = ("widgets:users-table:manage",)
    widgets_example_url: str | None = None
    secret_key_fallbacks: tuple[str, ...] = ()
    metrics_token: str | None = None
    authkit_bearer: bool = False
    authkit_issuer: str | None = None
    allowed_hosts: tuple[str, ...] = ()

    @property
    def workos_origin(self) -> str:
        """Scheme and host of the WorkOS API, for CSP form-action."""
        return _origin(self.workos_base_url)

    @property
    def graphql_origin(self) -> str:
        """Scheme and host the browser sends GraphQL to, for CSP connect-src."""
        return _origin(self.workos_graphql_url)


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build Settings from environ (default os.environ) with overrides keyed by variable name."""
    env = {**(os.environ if environ is None else environ)}
    env.update({k: str(v) for k, v in (overrides or {}).items() if v is not None})
    r = Reader(env)
    base_url = r.url("WORKOS_BASE_URL", "https://api.workos.com")
    settings = Settings(
        workos_api_key=r.required(
            "WORKOS_API_KEY", prefix="sk_", hint="the secret key from the WorkOS dashboard"
        ),
        workos_client_id=r.required(
            "WORKOS_CLIENT_ID", prefix="client_", hint="the AuthKit client id"
        ),
        workos_base_url=base_url,
        workos_graphql_url=r.url("WORKOS_GRAPHQL_URL", base_url + "/client/graphql"),
        app_base_url=r.url("APP_BASE_URL", None),
        secret_key=r.secret_key(),
        session_cookie_secure=r.boolean("SESSION_COOKIE_SECURE", True),
        session_lifetime_seconds=int(r.number("SESSION_LIFETIME_SECONDS", 43200, integer=True)),
        token_refresh_margin_seconds=r.number(
            "TOKEN_REFRESH_MARGIN_SECONDS", None, allow_zero=True
        ),
        token_fallback_ttl_seconds=r.number("TOKEN_FALLBACK_TTL_SECONDS", 300),
        token_cache_maxsize=int(r.number("TOKEN_CACHE_MAXSIZE", 10000, integer=True)),
        redis_url=r.redis_url(),
        workos_timeout_seconds=r.number("WORKOS_TIMEOUT_SECONDS", 5),
        token_rate_limit=r.rate_limit("TOKEN_RATE_LIMIT", "120/minute"),
        signin_rate_limit=r.rate_limit("SIGNIN_RATE_LIMIT", "30/minute"),
        switch_rate_limit=r.rate_limit("SWITCH_RATE_LIMIT", "10/minute"),
        workos_request_budget=r.budget("WORKOS_REQUEST_BUDGET", "5000/minute"),
        workos_signin_reserve_percent=r.percent("WORKOS_SIGNIN_RESERVE_PERCENT", 20),
        workos_signin_ceiling_percent=r.percent(
            "WORKOS_SIGNIN_CEILING_PERCENT", 50, low=1, high=100
        ),
        # gunicorn's worker count: without Redis each process spends budget / workers.
        web_concurrency=int(r.number("WEB_CONCURRENCY", 2, integer=True)),
        session_db_path=r.raw("SESSION_DB_PATH"),
        workos_webhook_secret=r.webhook_secret(),
        workos_events_poll_seconds=r.number("WORKOS_EVENTS_POLL_SECONDS", None),
        log_level=r.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True),
        log_format=r.choice("LOG_FORMAT", "json", ("json", "text")),
        trusted_proxies=int(r.number("TRUSTED_PROXIES", 0, integer=True, allow_zero=True)),
        cors_allowed_origins=r.origins("CORS_ALLOWED_ORIGINS"),
        widget_token_scopes=r.scopes("WIDGET_TOKEN_SCOPES", "widgets:users-table:manage"),
        widgets_example_url=r.url("WIDGETS_EXAMPLE_URL", None),
        secret_key_fallbacks=r.secret_key_fallbacks(),
        metrics_token=r.metrics_token(),
        **r.authkit(base_url),
        allowed_hosts=r.allowed_hosts(),
        **r.cookie(r.boolean("SESSION_COOKIE_SECURE", True)),
    )
    if settings.workos_signin_ceiling_percent < settings.workos_signin_reserve_percent:
        raise SettingsError(
            "WORKOS_SIGNIN_CEILING_PERCENT must be at least WORKOS_SIGNIN_RESERVE_PERCENT "
            f"({settings.workos_signin_reserve_percent}): sign-ins could never use their reserve."
        )
    if settings.app_base_url is None and not settings.allowed_hosts:
        # The callback URL sent to WorkOS, and where a sign-out returns, would come from the
        # request's Host header: anyone's to choose.
        raise SettingsError(
            "APP_BASE_URL or ALLOWED_HOSTS is required: set APP_BASE_URL to this service's "
            "public origin, or (behind a proxy that sets the host) ALLOWED_HOSTS to the host "
            "names it may be reached under."
        )
    return settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
