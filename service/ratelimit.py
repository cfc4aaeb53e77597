"""Per-user rate limit on the token route (Flask-Limiter; on Redis when configured)."""

from __future__ import annotations

import math
import time

from flask import Flask, request
from flask_limiter import Limiter
from flask_login import current_user

from service.errors import error_response


def _user_key() -> str:
    # Signed-in callers are limited per user across all their sessions; others per address.
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"addr:{request.remote_addr}"


def _breach(limit):
    retry_after = max(1, math.ceil(limit.reset_at - time.time()))
    return error_response(
        429, "rate_limited", "Too many token requests; slow down.", retry_after=retry_after
    )


def init_rate_limit(app: Flask, limit: str, redis_url: str | None, view) -> Limiter:
    """Limit view to `limit` per user; counters live in Redis when redis_url is set."""
    limiter = Limiter(
        _user_key,
        app=app,
        storage_uri=redis_url or "memory://",
        strategy="moving-window",
        key_prefix="gts-limit",
        # Redis down: count in memory per process instead of failing the request.
        in_memory_fallback_enabled=bool(redis_url),
        swallow_errors=True,
        headers_enabled=False,
    )
    limiter.limit(limit, key_func=_user_key, on_breach=_breach)(view)
    return limiter
