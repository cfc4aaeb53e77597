"""What happens around every emulated route: latency, error hooks and the request log.

Control routes (`/_emulate/...`) and `/health` are left alone: never delayed, hooked or logged.
"""

from __future__ import annotations

import re
import socket
import time

from flask import Flask, g, jsonify, request

from emulator.api import bearer, get_state, is_api_key, params
from emulator.basics import iso
from emulator.ratelimit import BODY as RATE_LIMITED
from emulator.state import EmulatorState

SECRET_FIELDS = {"client_secret"}
# Answer fields that hand out a token; each value is kept in state.issued.
ISSUED_FIELDS = ("token", "access_token", "refresh_token", "pending_authentication_token")
RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")  # werkzeug's <conv:name> -> {name}


def install(app: Flask) -> None:
    """Register the before/after request handlers on app."""
    app.before_request(_before)
    app.after_request(_after)


def _exempt() -> bool:
    return request.path == "/health" or request.path.startswith("/_emulate")


def _before():
    if _exempt():
        return None
    state = get_state()
    with state.lock:
        wait = _rate_limited(state)
        delay_ms = state.settings.latency_ms
        hook = next((h for h in state.hooks if h.matches(request.method, request.path)), None)
        if hook is not None and hook.count is not None:
            hook.count -= 1
            if hook.count == 0:
                state.hooks.remove(hook)
    if wait is not None:
        return jsonify(RATE_LIMITED), 429, {"Retry-After": str(wait)}
    if hook is not None:
        g.emulator_hook = hook
        delay_ms += hook.delay_ms
    if delay_ms:
        time.sleep(delay_ms / 1000)
    if hook is None:
        return None
    if hook.drop:
        request.get_data()  # read (and cache) the body first: the request log shows it
        _drop_connection()
        return "", 499  # never reaches the client; marks the drop in the access log
    if hook.status is not None:
        return jsonify(hook.response_body()), hook.status
    return None


def _rate_limited(state: EmulatorState) -> int | None:
    """Seconds to wait when the API key has spent its limit (call with state.lock held)."""
    if state.limiter is None:
        return None
    credential = bearer()
    if credential is None and request.method == "POST":
        credential = params().get("client_secret")
    if not is_api_key(credential):
        return None  # the limit is per API key; browser routes and client tokens are not
    return state.limiter.hit("api_key", state.clock())


def _after(response):
    if _exempt():
        return response
    hook = g.get("emulator_hook")
    if hook is not None:
        response.headers.update(hook.headers)
    state = get_state()
    rule = request.url_rule.rule if request.url_rule else request.path
    template = RULE_VARIABLE.sub(r"{\1}", rule)
    entry = {
        "method": request.method,
        "path": request.path,
        "route": f"{request.method} {template}",
        "status": None if hook is not None and hook.drop else response.status_code,
        "query": request.args.to_dict(flat=False),
        "body": _body(),
        "headers": _headers(),
        "hook": hook.id if hook is not None else None,
    }
    answer = response.get_json(silent=True) if response.is_json else None
    issued = [answer.get(k) for k in ISSUED_FIELDS] if isinstance(answer, dict) else []
    with state.lock:
        entry["at"] = iso(state.clock())
        state.log.add(entry)
        state.issued.extend(t for t in issued if isinstance(t, str) and t)
    return response


def _drop_connection() -> None:
    """Close the client's connection with no answer at all (a crash or network cut).

    Shutting the socket down (not closing it) makes werkzeug's later write fail with
    BrokenPipeError, which it treats as a dropped connection and swallows quietly.
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        raise RuntimeError("drop hooks need the werkzeug server (python -m emulator)")
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client is already gone


def _body() -> object:
    """The request body for the log, with the API key sent as client_secret hidden."""
    if request.is_json:
        body = request.get_json(silent=True)
    elif request.form:
        body = request.form.to_dict()
    else:
        return None
    if isinstance(body, dict):
        body = {k: "[redacted]" if k in SECRET_FIELDS else v for k, v in body.items()}
    return body


def _headers() -> dict:
    """Request headers for the log; the Authorization credential is hidden."""
    headers = dict(request.headers)
    if "Authorization" in headers:
        scheme = headers["Authorization"].partition(" ")[0]
        headers["Authorization"] = f"{scheme} [redacted]"
    return headers
