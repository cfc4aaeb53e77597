"""The emulator's Flask application factory."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from emulator import (
    client_api,
    control,
    management,
    middleware,
    user_management,
    webhooks,
    widgets_members,
    widgets_profile,
    widgets_security,
    widgets_token,
)
from emulator.keys import SigningKey
from emulator.seed import load_seed
from emulator.state import EmulatorState, Settings


def create_app(
    *,
    seed: Mapping | str | Path | None = None,
    api_key: str = "sk_test_default",
    client_token_ttl: int = 300,
    latency_ms: int = 0,
    allowed_origins: Iterable[str] = (),
    signing_key_path: str | os.PathLike | None = None,
    client_id: str = "client_emulator",
    rate_limit: str | None = None,
    redirect_uris: Iterable[str] = (),
) -> Flask:
    """Build the emulator; its state is `app.extensions["emulator"]`."""
    app = Flask(__name__)
    app.json = _OrderedJSON(app)
    settings = Settings(
        api_key=api_key,
        client_id=client_id,
        client_token_ttl=int(client_token_ttl),
        latency_ms=int(latency_ms),
        allowed_origins=tuple(allowed_origins),
        rate_limit=rate_limit,
        redirect_uris=tuple(redirect_uris),
    )
    app.extensions["emulator"] = EmulatorState(
        load_seed(seed), settings, SigningKey.load(signing_key_path)
    )
    middleware.install(app)
    blueprints = (
        user_management.bp,
        management.bp,
        webhooks.bp,
        client_api.bp,
        widgets_token.bp,
        widgets_members.bp,
        widgets_profile.bp,
        widgets_security.bp,
        control.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.add_url_rule("/health", "health", lambda: jsonify(status="ok"))
    app.register_error_handler(HTTPException, _http_error)
    return app


class _OrderedJSON(DefaultJSONProvider):
    sort_keys = False  # keep WorkOS field order in answers


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    """Unknown routes and methods answer WorkOS-style JSON, like the official emulator."""
    code = (exc.name or "error").lower().replace(" ", "_")
    allowed = getattr(exc, "valid_methods", None)  # MethodNotAllowed's
    headers = {"Allow": ", ".join(allowed)} if allowed else {}
    return jsonify(message=exc.name, code=code), exc.code or 500, headers
