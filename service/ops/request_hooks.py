"""Every request's id (a caller's plain X-Request-ID, else a new one), its span's name, and
the refusals counted by route."""

from __future__ import annotations

import os
import re

from flask import Flask, Response, g, request

from service.components import of
from service.core import tracing
from service.web.hooks import WHOLE_APP, Scopes, after, before

# A caller's X-Request-ID is kept only when it is short and plain, so it is safe to log.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # fullmatch: "$" also matches before "\n"


def init_request_hooks(app: Flask, scopes: Scopes = WHOLE_APP) -> None:
    """Request ids (a caller's plain X-Request-ID, else a new one, echoed on every answer),
    the request span's name, and refusals (429) counted by route. The token routes count
    their own answers (web/api.py)."""
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
        if error_code == "rate_limited":
            metrics.rate_limited.labels(request.endpoint or "unknown").inc()
        return response

    before(app, scopes, _assign)
    after(app, scopes, _finish)
