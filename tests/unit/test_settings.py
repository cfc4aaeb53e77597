"""Settings: every required variable missing or malformed names itself and how to fix it."""

import pytest

from service.config.settings import SettingsError, load_settings

GOOD = {
    "WORKOS_API_KEY": "sk_test_abc",
    "WORKOS_CLIENT_ID": "client_abc",
    "SECRET_KEY": "x" * 32,
    "APP_BASE_URL": "https://app.example.com",
}


def test_defaults():
    s = load_settings(GOOD)
    assert s.workos_base_url == "https://api.workos.com"
    assert s.workos_graphql_url == "https://api.workos.com/client/graphql"
    assert s.session_cookie_secure is True
    assert s.token_refresh_margin_seconds is None
    assert s.token_fallback_ttl_seconds == 300
    assert s.token_cache_maxsize == 10000
    assert s.redis_url is None
    assert s.workos_timeout_seconds == 5
    assert s.token_rate_limit == "120/minute"
    assert (s.signin_rate_limit, s.switch_rate_limit) == ("30/minute", "10/minute")
    assert s.workos_request_budget == "5000/minute"
    assert s.workos_signin_reserve_percent == 20
    assert s.workos_signin_ceiling_percent == 50
    assert s.web_concurrency == 2
    assert s.session_db_path is None  # the instance folder's sessions.sqlite3
    assert s.workos_webhook_secret is None and s.workos_events_poll_seconds is None
    assert (s.log_level, s.log_format) == ("INFO", "json")
    assert s.graphql_origin == "https://api.workos.com"
    assert s.trusted_proxies == 0
    assert (s.session_cookie_name, s.session_cookie_domain) == ("__Host-gts", None)
    assert s.session_cookie_samesite == "Lax"
    assert s.cors_allowed_origins == s.secret_key_fallbacks == ()
    assert s.metrics_token is None


def test_overrides_win_over_environ():
    s = load_settings(GOOD, {"WORKOS_BASE_URL": "http://127.0.0.1:4100/", "LOG_FORMAT": "TEXT"})
    assert s.workos_base_url == "http://127.0.0.1:4100"
    assert s.workos_graphql_url == "http://127.0.0.1:4100/client/graphql"
    assert s.log_format == "text"


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("WORKOS_API_KEY", None, ["WORKOS_API_KEY is required", "sk_"]),
        ("WORKOS_API_KEY", "pk_live", ["WORKOS_API_KEY must start with 'sk_'"]),
        ("WORKOS_CLIENT_ID", None, ["WORKOS_CLIENT_ID is required"]),
        ("WORKOS_CLIENT_ID", "abc", ["WORKOS_CLIENT_ID must start with 'client_'"]),
        ("SECRET_KEY", None, ["SECRET_KEY is required", "secrets.token_hex"]),
        ("SECRET_KEY", "short", ["SECRET_KEY is too short"]),
        ("WORKOS_BASE_URL", "ftp://x", ["WORKOS_BASE_URL must be an http(s) URL"]),
        ("APP_BASE_URL", "localhost:8000", ["APP_BASE_URL must be an http(s) URL"]),
        ("SESSION_COOKIE_SECURE", "maybe", ["SESSION_COOKIE_SECURE must be true or false"]),
        ("SESSION_LIFETIME_SECONDS", "1.5", ["SESSION_LIFETIME_SECONDS must be a whole number"]),
        ("TOKEN_CACHE_MAXSIZE", "0", ["TOKEN_CACHE_MAXSIZE must be greater than 0"]),
        ("TOKEN_REFRESH_MARGIN_SECONDS", "-1", ["TOKEN_REFRESH_MARGIN_SECONDS must be 0 or more"]),
        ("TOKEN_FALLBACK_TTL_SECONDS", "abc", ["TOKEN_FALLBACK_TTL_SECONDS must be a number"]),
        ("WORKOS_TIMEOUT_SECONDS", "0", ["WORKOS_TIMEOUT_SECONDS must be greater than 0"]),
        ("TOKEN_RATE_LIMIT", "lots", ["TOKEN_RATE_LIMIT must be a rate limit"]),
        ("SIGNIN_RATE_LIMIT", "often", ["SIGNIN_RATE_LIMIT must be a rate limit"]),
        ("SWITCH_RATE_LIMIT", "10", ["SWITCH_RATE_LIMIT must be a rate limit"]),
        ("WORKOS_REQUEST_BUDGET", "plenty", ["WORKOS_REQUEST_BUDGET must be one rate"]),
        ("WORKOS_REQUEST_BUDGET", "5000/minute;100/second", ["WORKOS_REQUEST_BUDGET must be one"]),
        ("WORKOS_SIGNIN_RESERVE_PERCENT", "95", ["WORKOS_SIGNIN_RESERVE_PERCENT must be a whole"]),
        ("WORKOS_SIGNIN_RESERVE_PERCENT", "2.5", ["WORKOS_SIGNIN_RESERVE_PERCENT must be a whole"]),
        ("WEB_CONCURRENCY", "0", ["WEB_CONCURRENCY must be greater than 0"]),
        ("WORKOS_SIGNIN_CEILING_PERCENT", "0", ["WORKOS_SIGNIN_CEILING_PERCENT must be a whole"]),
        ("WORKOS_SIGNIN_CEILING_PERCENT", "101", ["WORKOS_SIGNIN_CEILING_PERCENT must be a whole"]),
        ("WORKOS_SIGNIN_CEILING_PERCENT", "10", ["at least WORKOS_SIGNIN_RESERVE_PERCENT (20)"]),
        ("REDIS_URL", "http://x", ["REDIS_URL must be a redis://"]),
        ("WORKOS_WEBHOOK_SECRET", "short", ["WORKOS_WEBHOOK_SECRET is too short", "Webhooks"]),
        ("WORKOS_EVENTS_POLL_SECONDS", "0", ["WORKOS_EVENTS_POLL_SECONDS must be greater than 0"]),
        ("WORKOS_EVENTS_POLL_SECONDS", "often", ["WORKOS_EVENTS_POLL_SECONDS must be a number"]),
        ("LOG_LEVEL", "LOUD", ["LOG_LEVEL must be one of"]),
        ("LOG_FORMAT", "xml", ["LOG_FORMAT must be one of"]),
        ("TRUSTED_PROXIES", "-1", ["TRUSTED_PROXIES must be 0 or more"]),
        ("APP_BASE_URL", None, ["APP_BASE_URL or ALLOWED_HOSTS is required"]),
        ("ALLOWED_HOSTS", "https://app.example.com", ["ALLOWED_HOSTS must be comma-separated"]),
        ("ALLOWED_HOSTS", "app.example.com:443", ["ALLOWED_HOSTS must be comma-separated"]),
        ("TRUSTED_PROXIES", "one", ["TRUSTED_PROXIES must be a whole number"]),
        ("SESSION_COOKIE_NAME", "a b", ["SESSION_COOKIE_NAME must be letters"]),
        ("SESSION_COOKIE_DOMAIN", "https://x.com", ["SESSION_COOKIE_DOMAIN must be a host"]),
        ("SESSION_COOKIE_SAMESITE", "loose", ["SESSION_COOKIE_SAMESITE must be Lax, Strict"]),
        ("CORS_ALLOWED_ORIGINS", "https://a.com/", ["CORS_ALLOWED_ORIGINS must be", "origins"]),
        ("CORS_ALLOWED_ORIGINS", "https://a.com,*", ["CORS_ALLOWED_ORIGINS must be"]),
        ("CORS_ALLOWED_ORIGINS", "a.com", ["CORS_ALLOWED_ORIGINS must be"]),
        ("SECRET_KEY_FALLBACKS", "old", ["SECRET_KEY_FALLBACKS must be", "32 characters"]),
        ("METRICS_TOKEN", "short", ["METRICS_TOKEN must be at least 16"]),
        ("METRICS_TOKEN", "has a space in it, 0123456789", ["METRICS_TOKEN must be"]),
    ],
)
def test_bad_values_name_the_variable(name, value, words):
    env = (
        {**GOOD, name: value} if value is not None else {k: v for k, v in GOOD.items() if k != name}
    )
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    for word in words:
        assert word in str(info.value)


def test_zero_margin_is_allowed():
    assert (
        load_settings(GOOD, {"TOKEN_REFRESH_MARGIN_SECONDS": "0"}).token_refresh_margin_seconds == 0
    )


def test_secret_values_are_not_echoed_in_errors():
    with pytest.raises(SettingsError) as info:
        load_settings({**GOOD, "WORKOS_API_KEY": "pk_very_secret_value"})
    assert "pk_very_secret_value" not in str(info.value)


def test_cookie_name_follows_secure_and_domain():
    assert load_settings(GOOD, {"SESSION_COOKIE_SECURE": "false"}).session_cookie_name == "gts"
    shared = load_settings(GOOD, {"SESSION_COOKIE_DOMAIN": "example.com"})
    assert (shared.session_cookie_name, shared.session_cookie_domain) == ("gts", "example.com")
    named = load_settings(GOOD, {"SESSION_COOKIE_NAME": "app_session"})
    assert named.session_cookie_name == "app_session"


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_SECURE": "false"}, ["needs"]),
        ({"SESSION_COOKIE_NAME": "__Host-x", "SESSION_COOKIE_DOMAIN": "a.com"}, ["__Host-"]),
        ({"SESSION_COOKIE_NAME": "__Host-x", "SESSION_COOKIE_SECURE": "false"}, ["__Host-"]),
        ({"SESSION_COOKIE_NAME": "__Secure-x", "SESSION_COOKIE_SECURE": "false"}, ["__Secure-"]),
    ],
)
def test_cookie_combinations_browsers_refuse_are_refused(overrides, words):
    with pytest.raises(SettingsError) as info:
        load_settings(GOOD, overrides)
    assert all(word in str(info.value) for word in words)
    assert "SESSION_COOKIE" in str(info.value)


def test_samesite_none_with_secure_and_lists():
    s = load_settings(
        GOOD,
        {
            "SESSION_COOKIE_SAMESITE": "none",
            "CORS_ALLOWED_ORIGINS": " https://app.example.com, http://127.0.0.1:5173 ",
            "SECRET_KEY_FALLBACKS": f"{'a' * 32}, {'b' * 40}",
            "TRUSTED_PROXIES": "2",
            "METRICS_TOKEN": "m" * 20,
        },
    )
    assert s.session_cookie_samesite == "None"
    assert s.cors_allowed_origins == ("https://app.example.com", "http://127.0.0.1:5173")
    assert s.secret_key_fallbacks == ("a" * 32, "b" * 40)
    assert (s.trusted_proxies, s.metrics_token) == (2, "m" * 20)


def test_fallback_keys_are_not_echoed_in_errors():
    with pytest.raises(SettingsError) as info:
        load_settings({**GOOD, "SECRET_KEY_FALLBACKS": "x" * 40 + ",short-old-key"})
    assert "short-old-key" not in str(info.value)


def test_authkit_bearer_is_off_by_default_and_checked():
    assert load_settings(GOOD).authkit_bearer is False
    on = load_settings({**GOOD, "AUTHKIT_BEARER": "true"})
    assert on.authkit_bearer and on.authkit_issuer == "https://api.workos.com"
    custom = {**GOOD, "AUTHKIT_BEARER": "yes", "AUTHKIT_ISSUER": "https://auth.example.com/"}
    assert load_settings(custom).authkit_issuer == "https://auth.example.com"
    with pytest.raises(SettingsError, match="AUTHKIT_BEARER must be true or false"):
        load_settings({**GOOD, "AUTHKIT_BEARER": "sometimes"})
    with pytest.raises(SettingsError, match="AUTHKIT_ISSUER is read only with AUTHKIT_BEARER"):
        load_settings({**GOOD, "AUTHKIT_ISSUER": "https://auth.example.com"})
    with pytest.raises(SettingsError, match="AUTHKIT_ISSUER must be an http"):
        load_settings({**GOOD, "AUTHKIT_BEARER": "true", "AUTHKIT_ISSUER": "auth.example.com"})
