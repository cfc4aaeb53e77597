"""Per-user rate limit on the token route (Flask-Limiter; on Redis when configured)."""

from __future__ import annotations

import hashlib
import math
import time

from flask import Flask, request
from flask_limiter import Limiter
from flask_login import current_user

from service.errors import error_response


def _user_key() -> str:
    # Signed-in callers are limited per user across all their sessions; others per address.
    # Hashed, so that counters kept in Redis name no user.
    if current_user.is_authenticated:
        who = f"user:{current_user.id}"
    else:
        who = f"addr:{request.remote_addr}"
    return hashlib.sha256(who.encode()).hexdigest()[:32]


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
    limited = limiter.limit(limit, key_func=_user_key, on_breach=_breach)(view)
    # The decorator counts only calls made through the wrapper it returns, so the route must
    # call that wrapper (the middleware skips decorated limits).
    for endpoint, function in list(app.view_functions.items()):
        if function is view:
            app.view_functions[endpoint] = limited
    return limiter
