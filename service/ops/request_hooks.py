"""Every request's id (a caller's plain X-Request-ID, else a new one), its span's name, the
token routes' answers and the refusals counted, and a miss's Server-Timing."""

from __future__ import annotations

import os
import re

from flask import Flask, Response, g, request

from service.components import of
from service.core import tracing
from service.web.context import unproxied
from service.web.hooks import WHOLE_APP, Scopes, after, before

# The routes whose answers gts_token_requests_total counts (hit, miss, or the error code).
TOKEN_ENDPOINTS = frozenset({"api.graphql_token", "api.widget_token"})
# A caller's X-Request-ID is kept only when it is short and plain, so it is safe to log.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # fullmatch: "$" also matches before "\n"


def init_request_hooks(app: Flask, scopes: Scopes = WHOLE_APP) -> None:
    """Request ids (a caller's plain X-Request-ID, else a new one, echoed on every answer),
    the request span's name, every answer of the token routes counted (the view marks a hit
    or a miss, errors.py every error answer) with a miss's Server-Timing, and refusals (429)
    counted by route. One after-request hook: each more costs a token hit about 3 %."""
    metrics = of(app).metrics
    traced = tracing.enabled()

    def _assign() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else os.urandom(16).hex()

    def _finish(response: Response) -> Response:
        # g's own dict: a g.get or getattr of a missing name costs an exception each.
        values = unproxied(g).__dict__
        request_id = values.get("request_id")
        if request_id is not None:
            response.headers["X-Request-ID"] = request_id
        error_code = values.get("error_code")  # set by every error answer (errors.py)
        if traced:
            rule = request.url_rule
            route = rule.rule if rule is not None else None
            tracing.name_request_span(request.method, route, request_id, error_code)
        outcome = values.get("token_outcome") or error_code  # token_outcome: web/api.py
        if outcome is not None:
            endpoint = unproxied(request).endpoint
            if endpoint in TOKEN_ENDPOINTS:
                metrics.count_token_answer(outcome)
            if error_code == "rate_limited":
                metrics.rate_limited.labels(endpoint or "unknown").inc()
        server_timing = values.get("server_timing")  # a miss's WorkOS time (web/api.py)
        if server_timing is not None:
            response.headers["Server-Timing"] = server_timing
        return response

    before(app, scopes, _assign)
    after(app, scopes, _finish)
