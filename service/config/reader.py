"""Reads the environment one variable at a time, each validated; errors name the variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypedDict, overload
from urllib.parse import urlsplit

from limits import parse_many

from service.core.redis_link import check_url
from service.tokens.widgets import SCOPE


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


GENERATE_SECRET = "python -c 'import secrets; print(secrets.token_hex(32))'"
COOKIE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
COOKIE_DOMAIN = re.compile(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
# A host name or IPv4 address, optionally with a leading dot (it and its subdomains).
ALLOWED_HOST = re.compile(r"\.?[a-z0-9-]+(\.[a-z0-9-]+)*")
# RFC 6750 token68-like characters: what fits an Authorization: Bearer header unquoted.
METRICS_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")


class CookieSettings(TypedDict):
    session_cookie_name: str
    session_cookie_domain: str | None
    session_cookie_samesite: str


class AuthKitSettings(TypedDict):
    authkit_bearer: bool
    authkit_issuer: str | None


class Reader:
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

    def authkit(self, base_url: str) -> AuthKitSettings:
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

    def cookie(self, secure: bool) -> CookieSettings:
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
