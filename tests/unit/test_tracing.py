"""Tracing is off unless OTEL_* asks, costs the request path nothing then, and logs ids when on."""

import json
import logging
import sys

import pytest

from service import components, create_app
from service.core import tracing
from service.ops.logs import JsonFormatter
from service.ops.tracing_proxies import TracedBroker
from service.tokens.broker import TokenBroker

SETTINGS = {
    "WORKOS_API_KEY": "sk_test_x",
    "WORKOS_CLIENT_ID": "client_x",
    "SECRET_KEY": "k" * 40,
    "APP_BASE_URL": "http://localhost",
}


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_the_variables_that_turn_tracing_on(environ, wanted):
    assert tracing.wanted(environ) is wanted


def test_off_by_default_nothing_is_installed(tmp_path, monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({**SETTINGS, "SESSION_DB_PATH": str(tmp_path / "s.sqlite3")})
    assert not tracing.enabled()
    assert not isinstance(app.wsgi_app, tracing.TracingMiddleware)
    assert type(components.of(app).tokens) is TokenBroker
    assert tracing.span("x") is tracing.span("y")  # one shared null context, no span made
    assert tracing.log_ids() is None


def test_on_with_an_endpoint_installs_the_middleware_and_proxies(tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    try:
        app = create_app({**SETTINGS, "SESSION_DB_PATH": str(tmp_path / "s.sqlite3")})
        assert isinstance(app.wsgi_app, tracing.TracingMiddleware)
        assert isinstance(components.of(app).tokens, TracedBroker)
    finally:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
        tracing.enable()


def test_without_the_packages_it_stays_off(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with caplog.at_level(logging.WARNING, logger="service"):
        assert not tracing.enable({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert "requirements-otel.txt" in caplog.text
    assert not tracing.enabled()


def test_a_grpc_protocol_is_refused_not_sent_over_http(caplog):
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    assert not tracing.enable(environ)


def test_json_logs_carry_the_trace_and_span_ids(monkeypatch):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.setattr(tracing, "_enabled", True)
    span = TracerProvider().get_tracer("t").start_span("s")
    record = logging.LogRecord("service.x", logging.INFO, __file__, 1, "hello", None, None)
    with trace.use_span(span, end_on_exit=True):
        entry = json.loads(JsonFormatter().format(record))
    context = span.get_span_context()
    assert entry["trace_id"] == f"{context.trace_id:032x}"
    assert entry["span_id"] == f"{context.span_id:016x}"
