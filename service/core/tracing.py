"""OpenTelemetry traces, on only when the standard OTEL_* variables ask for them
(docs/deployment.md).

Off (the default), nothing here is installed on the request path: no middleware, no proxies,
no span objects; `span()` hands back one shared null context. On, each process builds its own
TracerProvider and OTLP/HTTP exporter on first use: the exporter's thread must start in the
gunicorn worker, never in a master that forks afterwards.

Attributes name routes, kinds, statuses and outcomes only: never a token, cookie, code, email,
API key or session id. Exceptions are recorded by type name, not by message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

Attributes = Mapping[str, str | bool | int | float]

_NULL: contextlib.nullcontext[None] = contextlib.nullcontext()
_enabled = False
_lock = threading.Lock()
_tracer: Tracer | None = None
_pid = 0


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """True when the OTEL_* variables ask for traces (an endpoint, or an explicit exporter)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    return bool(endpoint) or exporter in ("otlp", "console")


def enable(environ: Mapping[str, str] = os.environ) -> bool:
    """Turn tracing on for this process if the variables ask and the packages are there."""
    global _enabled
    if not wanted(environ):
        _enabled = False
        return False
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol != "http/protobuf":
        log.warning("tracing off: OTEL_EXPORTER_OTLP_PROTOCOL %r is not http/protobuf", protocol)
        _enabled = False
        return False
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        log.warning("tracing off: OTEL_* is set but requirements-otel.txt is not installed")
        _enabled = False
        return False
    _enabled = True
    return True


def enabled() -> bool:
    """Whether this process traces."""
    return _enabled


def tracer() -> Tracer:
    """This process's tracer; the provider and its exporter are made here, once per process."""
    global _tracer, _pid
    pid = os.getpid()
    if _tracer is not None and _pid == pid:
        return _tracer
    with _lock:
        if _tracer is None or _pid != pid:
            _tracer, _pid = _start(), pid
        return _tracer


def _start() -> Tracer:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; the sampler
    # comes from OTEL_TRACES_SAMPLER; the exporter reads the OTEL_EXPORTER_OTLP_* variables.
    resource = Resource.create({"service.name": _service_name()})
    provider = TracerProvider(resource=resource)
    exporter: SpanExporter
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider.get_tracer("graphql-token-service")


def _service_name() -> str:
    return os.environ.get("OTEL_SERVICE_NAME") or "graphql-token-service"


def span(name: str, attributes: Attributes | None = None, *, client: bool = False) -> Any:
    """A context manager: a child span of the current one when on (yields it), else a no-op
    that yields None. Exceptions mark the span with their type name only."""
    if not _enabled:
        return _NULL
    return _span(name, attributes, client)


@contextlib.contextmanager
def _span(name: str, attributes: Attributes | None, client: bool) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind, StatusCode

    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with tracer().start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except Exception as exc:
            current.set_attribute("error.type", type(exc).__name__)
            current.set_status(StatusCode.ERROR, type(exc).__name__)
            raise


def current() -> Span | None:
    """The current span when on, else None."""
    if not _enabled:
        return None
    from opentelemetry import trace

    return trace.get_current_span()


def log_ids() -> dict[str, str] | None:
    """trace_id and span_id of the current span for a log line; None when off or outside one."""
    if not _enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def _environ_getter() -> Any:
    """A propagation Getter reading traceparent, tracestate and baggage from a WSGI environ."""
    from opentelemetry.propagators.textmap import Getter

    class EnvironGetter(Getter["WSGIEnvironment"]):
        def get(self, carrier: WSGIEnvironment, key: str) -> list[str] | None:
            value = carrier.get("HTTP_" + key.upper().replace("-", "_"))
            return None if value is None else [value]

        def keys(self, carrier: WSGIEnvironment) -> list[str]:
            return []

    return EnvironGetter()


class TracingMiddleware:
    """A SERVER span around every request, continuing an incoming traceparent."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app
        self._getter = _environ_getter()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, StatusCode

        parent = propagate.extract(environ, getter=self._getter)
        method = environ.get("REQUEST_METHOD", "GET")
        with tracer().start_as_current_span(
            method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
            record_exception=False,
            set_status_on_exception=False,
        ) as server:

            def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                code = int(status.split(" ", 1)[0])
                server.set_attribute("http.response.status_code", code)
                if code >= 500:
                    server.set_status(StatusCode.ERROR)
                return start_response(status, headers, exc_info)

            try:
                return self.app(environ, respond)
            except Exception as exc:
                server.set_attribute("error.type", type(exc).__name__)
                server.set_status(StatusCode.ERROR)
                raise


def name_request_span(method: str, route: str | None, request_id: str | None, error: Any) -> None:
    """Give the request's span its route template, request id and error code (after_request)."""
    server = current()
    if server is None:
        return
    if route is not None:
        server.update_name(f"{method} {route}")
        server.set_attribute("http.route", route)
    if request_id is not None:
        server.set_attribute("gts.request_id", request_id)
    if isinstance(error, str):
        server.set_attribute("gts.error_code", error)


def wrap(function: Callable[..., Any], name: str, attributes: Attributes) -> Callable[..., Any]:
    """function inside a span of its own (used by the proxies of tracing_proxies.py)."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        with span(name, attributes):
            return function(*args, **kwargs)

    return traced
