"""Operations: JSON logging with request ids, liveness, readiness and metrics."""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import sys
import time

from flask import Blueprint, Flask, Response, g, jsonify, request

from service.components import current, of
from service.core import tracing
from service.web.errors import ApiError
from service.web.hooks import WHOLE_APP, Scopes, after, before

bp = Blueprint("ops", __name__)

# A caller's X-Request-ID is kept only when it is short and plain, so it is safe to log.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # fullmatch: "$" also matches before "\n"
# Last line of defence: anything shaped like an API key or a JWT is masked in log output.
SECRET_SHAPES = re.compile(r"sk_[A-Za-z0-9_]+|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# LogRecord attributes that are not extra fields.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Mask API keys and JWTs in a string."""
    return SECRET_SHAPES.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _current_request_id()
        if request_id:
            entry["request_id"] = request_id
        ids = tracing.log_ids()
        if ids is not None:
            entry.update(ids)
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


class TextFormatter(logging.Formatter):
    """Human-readable lines, redacted the same way."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _current_request_id() -> str | None:
    try:
        return g.get("request_id")
    except RuntimeError:  # outside a request
        return None


def configure_logging(level: str, fmt: str) -> None:
    """Send the service's logs to stdout in the configured format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger = logging.getLogger("service")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def init_request_hooks(app: Flask, scopes: Scopes = WHOLE_APP) -> None:
    """Request ids (a caller's plain X-Request-ID, else a new one, echoed on every answer),
    and what an error answer counts: the token route's outcome, a refusal's route. (The
    token route counts its own hits and misses.)"""
    metrics = of(app).metrics
    traced = tracing.enabled()

    def _assign() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else os.urandom(16).hex()

    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id
        error_code = g.get("error_code")  # set by every error answer (errors.py)
        if traced:
            rule = request.url_rule
            route = rule.rule if rule is not None else None
            tracing.name_request_span(request.method, route, request_id, error_code)
        if error_code is not None:
            endpoint = request.endpoint or "unknown"
            if endpoint == "api.graphql_token":
                metrics.count_token_answer(error_code)
            if error_code == "rate_limited":
                metrics.rate_limited.labels(endpoint).inc()
        return response

    before(app, scopes, _assign)
    after(app, scopes, _finish)


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
