"""Spans around the session store (its records and its values), the token cache and the
WorkOS budget gate.

create_app puts these proxies in front of the real objects only when tracing is on
(service/core/tracing.py), so a process that does not trace runs the plain objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from service.core import tracing
from service.tokens.widgets import WIDGET_PREFIX

_RECORD_METHODS = ("create", "get", "update", "delete", "find")
# event_applied() is not traced (it never was).
_VALUE_METHODS = ("claim_event", "release_event", "get_value", "set_value", "pop_value", "lease")


def _trace(proxy: object, target: object, methods: tuple[str, ...], suffix: str) -> None:
    """Set on proxy each of target's methods as a span `session_store.<method>`: both halves
    of the session store are one backend to whoever reads the trace."""
    backend = type(target).__name__.removesuffix(suffix).lower() or "unknown"
    for method in methods:
        attributes = {"gts.store.backend": backend, "gts.store.operation": method}
        setattr(
            proxy,
            method,
            tracing.wrap(getattr(target, method), f"session_store.{method}", attributes),
        )


class TracedSessionStore:
    """Session records whose calls are spans `session_store.<method>` (backend attribute)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        _trace(self, store, _RECORD_METHODS, "SessionStore")

    def __getattr__(self, name: str) -> Any:
        # every(), health(), close() and the rest pass through untraced.
        return getattr(self._store, name)


class TracedValueStore:
    """Values beside the records whose calls are spans `session_store.<method>` too."""

    def __init__(self, values: Any) -> None:
        self._values = values
        _trace(self, values, _VALUE_METHODS, "ValueStore")

    def __getattr__(self, name: str) -> Any:
        # event_applied(), health() and close() pass through untraced.
        return getattr(self._values, name)


class TracedBroker:
    """A TokenBroker whose get() is a span `token_cache` with the outcome (hit, miss, wait)."""

    def __init__(self, broker: Any) -> None:
        self._broker = broker

    def get(self, session_id: str, user_id: str, audience: str) -> Any:
        """The broker's get() in a span; the outcome is set by cache_observer."""
        kind = "widget" if audience.startswith(WIDGET_PREFIX) else "graphql"
        with tracing.span("token_cache", {"gts.token.kind": kind}):
            return self._broker.get(session_id, user_id, audience)

    def __len__(self) -> int:
        return len(self._broker)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._broker, name)


def cache_observer(inner: Callable[..., object] | None) -> Callable[..., object]:
    """The broker's observer, also marking the current token_cache span with its outcome."""

    def observe(event: str, **fields: object) -> object:
        current = tracing.current()
        if current is not None:
            if event == "error":
                current.set_attribute("gts.cache.error", str(fields.get("reason")))
            else:
                current.set_attribute("gts.cache.outcome", event)
        return inner(event, **fields) if inner is not None else None

    return observe


class TracedGate:
    """The WorkOS budget gate whose admit() is a span `workos.budget` (kind, outcome)."""

    def __init__(self, gate: Any) -> None:
        self._gate = gate

    def admit(self, kind: str, route: str) -> None:
        """The gate's admit() in a span: admitted, or refused with its Retry-After."""
        with tracing.span("workos.budget", {"gts.workos.kind": kind}) as current:
            try:
                self._gate.admit(kind, route)
            except Exception as exc:
                current.set_attribute("gts.budget.outcome", "refused")
                retry_after = getattr(exc, "retry_after", None)
                if isinstance(retry_after, int | float):
                    current.set_attribute("gts.budget.retry_after", float(retry_after))
                raise
            current.set_attribute("gts.budget.outcome", "admitted")

    def throttled(self, kind: str, retry_after: float | None) -> float:
        """The gate's throttled(), noted as an event on the current span."""
        seconds: float = self._gate.throttled(kind, retry_after)
        current = tracing.current()
        if current is not None:
            current.add_event("workos.paused", {"gts.workos.kind": kind, "seconds": seconds})
        return seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gate, name)
