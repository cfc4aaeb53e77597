"""Request hooks, error handlers and template context for the whole app or named blueprints.

A scope is a blueprint's name, or None for every request of the app. Hooks go into the app's
own tables (Flask's documented {scope: [...]} attributes), never onto the module-level
blueprints, which every app built in a process shares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

Scopes = Iterable[str | None]
WHOLE_APP: tuple[str | None, ...] = (None,)


def before(app: Flask, scopes: Scopes, hook: Callable[[], Any]) -> None:
    """Run hook before each request of the scopes."""
    for scope in scopes:
        app.before_request_funcs.setdefault(scope, []).append(hook)


def after(app: Flask, scopes: Scopes, hook: Callable[[Any], Any]) -> None:
    """Run hook on each response of the scopes."""
    for scope in scopes:
        app.after_request_funcs.setdefault(scope, []).append(hook)


def error_handler(
    app: Flask, scopes: Scopes, exception: type[Exception], handler: Callable[[Any], Any]
) -> None:
    """Answer the exception (and its subclasses) with handler within the scopes."""
    for scope in scopes:
        app.error_handler_spec[scope][None][exception] = handler


def context_processor(app: Flask, scopes: Scopes, processor: Callable[[], dict]) -> None:
    """Add processor's names to the templates rendered within the scopes."""
    for scope in scopes:
        app.template_context_processors[scope].append(processor)
