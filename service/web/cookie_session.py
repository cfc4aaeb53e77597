"""The service's cookie session of the request, wherever the service is mounted.

Standalone (create_app) the service's cookie is the app's session: Flask opens and saves it.
Mounted in another app, that app's session is its own: the service's cookie is opened on
first use by its own routes and saved after them (init_cookie_hooks), and no other route
of the app ever reads or writes it.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, current_app, g, request, session
from flask.sessions import SessionMixin

from service.web.context import unproxied
from service.web.cookie import CookieSessionInterface

# Where the opened cookie is kept on g: a name no host app's code is likely to use.
ATTRIBUTE = "_token_service_cookie"


def browser_session() -> SessionMixin:
    """The signed cookie session of this request (session_id, csrf_token, flows, pick)."""
    context = unproxied(g)
    opened = getattr(context, ATTRIBUTE, None)
    if opened is None:
        app = unproxied(current_app)
        interface = app.extensions["token_service"].cookie_interface
        if interface is None:  # the whole app is the service: Flask's session is ours
            opened = unproxied(session)
        else:
            opened = interface.open_session(app, unproxied(request))
        setattr(context, ATTRIBUTE, opened)
    return opened


def init_cookie_hooks(
    app: Flask, interface: CookieSessionInterface, blueprints: Iterable[str]
) -> None:
    """Save the service's cookie after the named blueprints' requests, when they opened it."""

    def _save(response: Response) -> Response:
        opened = g.get(ATTRIBUTE)
        if opened is not None:
            interface.save_session(app, opened, response)
        return response

    # app.after_request_funcs is Flask's documented {blueprint name: [functions]}: the hook is
    # this app's alone (a blueprint's own after_request would follow it into every app).
    for name in blueprints:
        app.after_request_funcs.setdefault(name, []).append(_save)
