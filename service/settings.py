"""Settings read once from the environment, validated with messages that say how to fix them."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict, overload
from urllib.parse import urlsplit

from limits import parse_many

from service.redis_link import check_url
from service.widget_tokens import SCOPE


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one service process (design.md §2)."""

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


GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_hex(32))'"
COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
COOKIE_DOMAIN = re.compile(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
# A host name or IPv4 address, optionally with a leading dot (it and its subdomains).
ALLOWED_HOST = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*")
# RFC 6750 token68-like characters: what fits an Authorization: Bearer header unquoted.
METRICS_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build Settings from environ (default os.environ) with overrides keyed by variable name."""
    env = {**(os.environ if environ is None else environ)}
    env.update({k: str(v) for k, v in (overrides or {}).items() if v is not None})
    r = _Reader(env)
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


class _CookieSettings(TypedDict):
    session_cookie_name: str
    session_cookie_domain: str | None
    session_cookie_samesite: str


class _AuthKitSettings(TypedDict):
    authkit_bearer: bool
    authkit_issuer: str | None


class _Reader:
    """Reads one variable at a time and raises SettingsError naming it."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def raw(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def required(self, name: str, *, prefix: str, hint: str) -> str:
        value = self.raw(name)
        if value is None:
            raise SettingsError(f"{name} is required: set it to {hint} ({prefix}...).")
        if not value.startswith(prefix):
            raise SettingsError(f"{name} must start with '{prefix}': set it to {hint}.")
        return value

    def secret_key(self) -> str:
        value = self.raw("SECRET_KEY")
        if value is None:
            raise SettingsError(
                "SECRET_KEY is required (the same value on every worker and host): "
                f"generate one with {GENERATE_SECRET}"
            )
        if len(value) < 32:
            raise SettingsError(
                f"SECRET_KEY is too short ({len(value)} characters, at least 32): "
                f"generate one with {GENERATE_SECRET}"
            )
        return value

    def secret_key_fallbacks(self) -> tuple[str, ...]:
        keys = tuple(k.strip() for k in (self.raw("SECRET_KEY_FALLBACKS") or "").split(","))
        keys = tuple(k for k in keys if k)
        if any(len(k) < 32 for k in keys):
            raise SettingsError(
                "SECRET_KEY_FALLBACKS must be comma-separated former SECRET_KEY values, "
                "each at least 32 characters."
            )
        return keys

    def metrics_token(self) -> str | None:
        value = self.raw("METRICS_TOKEN")
        if value is not None and (len(value) < 16 or not METRICS_TOKEN.fullmatch(value)):
            raise SettingsError(
                "METRICS_TOKEN must be at least 16 characters of letters, digits and - . _ ~ + / = "
                f"(it is sent as a Bearer token): generate one with {GENERATE_SECRET}"
            )
        return value

    def authkit(self, base_url: str) -> _AuthKitSettings:
        bearer = self.boolean("AUTHKIT_BEARER", False)
        issuer = self.url("AUTHKIT_ISSUER", None)
        if issuer is not None and not bearer:
            raise SettingsError(
                "AUTHKIT_ISSUER is read only with AUTHKIT_BEARER=true: set both, or neither."
            )
        # The issuer of WorkOS's access tokens is its API base, unless a custom auth domain.
        return {
            "authkit_bearer": bearer,
            "authkit_issuer": (issuer or base_url) if bearer else None,
        }

    def allowed_hosts(self) -> tuple[str, ...]:
        found = []
        for value in (self.raw("ALLOWED_HOSTS") or "").split(","):
            value = value.strip().lower()
            if not value:
                continue
            if not ALLOWED_HOST.fullmatch(value):
                raise SettingsError(
                    "ALLOWED_HOSTS must be comma-separated host names such as app.example.com "
                    f"(no scheme or port; .example.com for its subdomains), got {value!r}."
                )
            found.append(value)
        return tuple(found)

    def origins(self, name: str) -> tuple[str, ...]:
        found = []
        for value in (self.raw(name) or "").split(","):
            value = value.strip()
            if not value:
                continue
            parts = urlsplit(value)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or f"{parts.scheme}://{parts.netloc}" != value
            ):
                raise SettingsError(
                    f"{name} must be comma-separated origins such as https://app.example.com "
                    f"(scheme and host, no path or trailing slash), got {value!r}."
                )
            found.append(value)
        return tuple(found)

    def scopes(self, name: str, default: str) -> tuple[str, ...]:
        value = self.raw(name) or default
        if value.lower() == "none":  # only scope-less (user-only) widget tokens
            return ()
        found = [s.strip() for s in value.split(",") if s.strip()]
        bad = [s for s in found if not SCOPE.fullmatch(s)]
        if bad:
            raise SettingsError(
                f"{name} must be comma-separated widget scopes such as "
                f"widgets:users-table:manage (or none), got {bad[0]!r}."
            )
        return tuple(dict.fromkeys(found))

    def cookie(self, secure: bool) -> _CookieSettings:
        domain = self.raw("SESSION_COOKIE_DOMAIN")
        if domain is not None and not COOKIE_DOMAIN.fullmatch(domain):
            raise SettingsError(
                f"SESSION_COOKIE_DOMAIN must be a host name such as example.com, got {domain!r}."
            )
        samesite = self.raw("SESSION_COOKIE_SAMESITE") or "Lax"
        samesite = samesite.capitalize()
        if samesite not in ("Lax", "Strict", "None"):
            raise SettingsError(
                f"SESSION_COOKIE_SAMESITE must be Lax, Strict or None, got {samesite!r}."
            )
        if samesite == "None" and not secure:
            raise SettingsError(
                "SESSION_COOKIE_SAMESITE=None needs SESSION_COOKIE_SECURE=true: browsers refuse "
                "a SameSite=None cookie that is not Secure."
            )
        # __Host- makes the browser refuse the cookie unless it is Secure, host-only, Path=/.
        default = "__Host-gts" if secure and domain is None else "gts"
        name = self.raw("SESSION_COOKIE_NAME") or default
        if not COOKIE_NAME.fullmatch(name):
            raise SettingsError(
                f"SESSION_COOKIE_NAME must be letters, digits, '-' or '_', got {name!r}."
            )
        if name.startswith("__Host-") and (not secure or domain is not None):
            raise SettingsError(
                "SESSION_COOKIE_NAME starting with __Host- needs SESSION_COOKIE_SECURE=true and "
                "no SESSION_COOKIE_DOMAIN (browsers refuse such a cookie otherwise)."
            )
        if name.startswith("__Secure-") and not secure:
            raise SettingsError(
                "SESSION_COOKIE_NAME starting with __Secure- needs SESSION_COOKIE_SECURE=true."
            )
        return {
            "session_cookie_name": name,
            "session_cookie_domain": domain,
            "session_cookie_samesite": samesite,
        }

    @overload
    def url(self, name: str, default: str) -> str: ...
    @overload
    def url(self, name: str, default: None) -> str | None: ...
    def url(self, name: str, default: str | None) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise SettingsError(
                f"{name} must be an http(s) URL with a host and no query, got {value!r}."
            )
        return value.rstrip("/")

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise SettingsError(f"{name} must be true or false, got {value!r}.")

    @overload
    def number(
        self, name: str, default: float, *, integer: bool = False, allow_zero: bool = False
    ) -> float: ...
    @overload
    def number(
        self, name: str, default: None, *, integer: bool = False, allow_zero: bool = False
    ) -> float | None: ...
    def number(
        self, name: str, default: float | None, *, integer: bool = False, allow_zero: bool = False
    ) -> float | None:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            raise SettingsError(f"{name} must be {kind}, got {value!r}.") from None
        if number < 0 or (number == 0 and not allow_zero):
            bound = "0 or more" if allow_zero else "greater than 0"
            raise SettingsError(f"{name} must be {bound}, got {value!r}.")
        return number

    def choice(self, name: str, default: str, allowed: tuple[str, ...], upper: bool = False) -> str:
        value = self.raw(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}.")
        return value

    def rate_limit(self, name: str, default: str) -> str:
        value = self.raw(name) or default
        try:
            parse_many(value)
        except ValueError:
            raise SettingsError(
                f"{name} must be a rate limit such as '120/minute', got {value!r}."
            ) from None
        return value

    def budget(self, name: str, default: str) -> str:
        value = self.raw(name) or default
        try:
            items = parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1:
            raise SettingsError(
                f"{name} must be one rate such as '5000/minute' (calls per window), got {value!r}."
            )
        return value

    def percent(self, name: str, default: int, low: int = 0, high: int = 90) -> int:
        value = self.raw(name)
        if value is None:
            return default
        if not (value.isascii() and value.isdigit()) or not low <= int(value) <= high:
            raise SettingsError(
                f"{name} must be a whole number from {low} to {high}, got {value!r}."
            )
        return int(value)

    def webhook_secret(self) -> str | None:
        value = self.raw("WORKOS_WEBHOOK_SECRET")
        if value is not None and len(value) < 16:
            raise SettingsError(
                "WORKOS_WEBHOOK_SECRET is too short: set it to the endpoint's secret from the "
                "WorkOS dashboard (Webhooks)."
            )
        return value

    def redis_url(self) -> str | None:
        value = self.raw("REDIS_URL")
        if value is None:
            return None
        try:
            check_url(value)
        except ValueError as exc:
            # The value may carry a password: name the problem, never echo the URL.
            raise SettingsError(
                f"REDIS_URL must be a redis://host:port/db, rediss://..., unix:///path or "
                f"redis+cluster://host:port[,host:port...] (rediss+cluster:// for TLS): {exc}."
            ) from None
        return value
