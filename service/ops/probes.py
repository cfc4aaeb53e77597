"""Liveness, readiness and metrics: GET /healthz, /readyz and /metrics."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request

from service.components import current
from service.web.errors import ApiError

bp = Blueprint("ops", __name__)


def _holds_metrics_token() -> bool:
    """True when METRICS_TOKEN is set and the request carries it as a Bearer token."""
    token = current().settings.metrics_token
    if token is None:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time: how much of a guess was right must not show in the answer's timing.
    presented = given.strip().encode()
    return scheme.lower() == "bearer" and hmac.compare_digest(presented, token.encode())


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, summed over gunicorn workers (METRICS_TOKEN when set)."""
    if current().settings.metrics_token and not _holds_metrics_token():
        raise ApiError(401, "unauthenticated", "Send Authorization: Bearer <METRICS_TOKEN>.")
    registry = current().metrics
    return Response(registry.render(), content_type=registry.content_type)


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers; touches nothing outside it."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Response:
    """Readiness: ok or degraded; which store is what only for the METRICS_TOKEN holder."""
    # A degraded Redis store still serves from memory, so it is reported, not failed: failing
    # readiness would take every host out of the load balancer at once.
    tokens = current().tokens.health()
    sessions = current().sessions.store.health()
    ok = not tokens.get("degraded") and sessions.get("ok", True)
    status = "ok" if ok else "degraded"
    if not _holds_metrics_token():
        return jsonify(status=status)  # anonymous: nothing about the backends behind it
    return jsonify(status=status, token_store=tokens, session_store=sessions)
