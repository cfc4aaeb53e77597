"""Operations: probes, metrics, logs, traces, CLI and the gunicorn worker."""

from __future__ import annotations

from flask import Flask

from service.web.hooks import Scopes


def init_app(app: Flask, scopes: Scopes, *, whole_app: bool) -> None:
    """Request ids, counted answers and span names for the scopes' requests; for the whole
    app also the probes (/healthz, /readyz, /metrics) and the operator commands."""
    from service.ops import cli, probes, request_hooks

    # First: every later hook's error answer (a 413, a CSRF refusal) names the request id.
    request_hooks.init_request_hooks(app, scopes)
    if whole_app:
        app.register_blueprint(probes.bp)
        cli.register(app)
