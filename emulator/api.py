"""Pieces every route module shares: the state, the API-key check, bodies and JSON errors."""

from __future__ import annotations

import functools
import hmac
from typing import TypeGuard
from urllib.parse import urlsplit

from flask import Response, current_app, jsonify, request

from emulator.state import EmulatorState


def get_state() -> EmulatorState:
    """The emulator state of the current app."""
    return current_app.extensions["emulator"]


def issuer() -> str:
    """The emulator's base URL as callers reach it (the `iss` of its tokens)."""
    return request.host_url.rstrip("/")


def error(status: int, **body: object) -> tuple[Response, int]:
    """A JSON error response with exactly the given keys."""
    return jsonify(body), status


def params() -> dict:
    """The request body as a dict, from JSON or a form (WorkOS accepts both)."""
    if request.is_json:
        body = request.get_json(silent=True)
        return body if isinstance(body, dict) else {}
    return request.form.to_dict()


def bearer() -> str | None:
    """The Bearer credential of the request, if any."""
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credential.strip() or None


def is_api_key(value: object) -> bool:
    """Whether value is the configured API key (constant-time)."""
    key = get_state().settings.api_key
    return isinstance(value, str) and hmac.compare_digest(value.encode(), key.encode())


def require_api_key(view):
    """Answer 401 `{message, code}` unless the request carries `Bearer <api key>`."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not is_api_key(bearer()):
            return error(
                401, message="Unauthorized: a valid API key is required.", code="unauthorized"
            )
        return view(*args, **kwargs)

    return wrapper


def is_http_url(value: object) -> TypeGuard[str]:
    """Whether value is an absolute http(s) URL."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
