"""A real OTLP/HTTP trace receiver: decodes each ExportTraceServiceRequest it is sent."""

from __future__ import annotations

import gzip
import threading
import time
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from werkzeug.wrappers import Request, Response

from tests.support import ThreadedServer


@dataclass
class ReceivedSpan:
    """One span as the receiver decoded it."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    events: list[tuple[str, dict[str, object]]] = field(default_factory=list)
    resource: dict[str, object] = field(default_factory=dict)

    @property
    def ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _value(value: AnyValue) -> object:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, which) if which else None


def _attributes(pairs) -> dict[str, object]:
    return {pair.key: _value(pair.value) for pair in pairs}


class OtlpReceiver:
    """POST /v1/traces on 127.0.0.1; every span of every export, decoded."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.raw: list[bytes] = []  # every body as sent (for a search for secrets)
        self._cond = threading.Condition()
        self._server = ThreadedServer(self._app).start()
        self.url = self._server.url

    def _app(self, environ, start_response):
        request = Request(environ)
        if request.method != "POST" or request.path != "/v1/traces":
            return Response("not found", 404)(environ, start_response)
        body = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        spans = []
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            events=[(e.name, _attributes(e.attributes)) for e in span.events],
                            resource=resource,
                        )
                    )
        with self._cond:
            self.raw.append(body)
            self.spans.extend(spans)
            self._cond.notify_all()
        answer = ExportTraceServiceResponse().SerializeToString()
        return Response(answer, 200, content_type="application/x-protobuf")(environ, start_response)

    def trace(self, trace_id: str, at_least: int, timeout: float = 15.0) -> list[ReceivedSpan]:
        """The spans of one trace, once at least `at_least` of them have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [s for s in self.spans if s.trace_id == trace_id]
                left = deadline - time.monotonic()
                if len(found) >= at_least or left <= 0:
                    return found
                self._cond.wait(left)

    def stop(self) -> None:
        self._server.stop()


def tree(spans: list[ReceivedSpan]) -> str:
    """The spans as an indented tree with durations, for a failure message or a report."""
    by_parent: dict[str, list[ReceivedSpan]] = {}
    ids = {s.span_id for s in spans}
    for s in sorted(spans, key=lambda s: s.start_ns):
        by_parent.setdefault(s.parent_id if s.parent_id in ids else "", []).append(s)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for s in by_parent.get(parent, []):
            lines.append(f"{'  ' * depth}{s.name}  {s.ms:.2f} ms  {s.attributes}")
            walk(s.span_id, depth + 1)

    walk("", 0)
    return "\n".join(lines)
