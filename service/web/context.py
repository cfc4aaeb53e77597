"""Flask's context objects themselves, for code that runs on every request."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def unproxied(proxy: T) -> T:
    """The object behind one of Flask's context proxies (current_app, g, request, session).

    Every attribute read through a proxy looks the object up again (about 1 us each); code
    on the token route's path takes the object once and reads it directly.
    """
    return proxy._get_current_object()  # type: ignore[attr-defined]
