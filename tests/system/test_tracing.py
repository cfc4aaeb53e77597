"""Traces over OTLP/HTTP from the service under gunicorn to a real receiver in the test."""

from __future__ import annotations

import os
import re
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

pytest.importorskip("opentelemetry.proto", reason="requirements-otel.txt is not installed")

from devstack.control_client import API_KEY  # noqa: E402
from devstack.stack import start_service  # noqa: E402
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan, tree  # noqa: E402
from tests.seed_names import ALICE  # noqa: E402
from tests.system.service_http import CSRF, cookie_content  # noqa: E402

JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
SERVER, CLIENT = 2, 3  # SpanKind values in OTLP


@pytest.fixture
def receiver():
    server = OtlpReceiver()
    yield server
    server.stop()


def _parent() -> tuple[str, str, dict[str, str]]:
    """A fresh caller's trace id, span id and the traceparent header carrying them."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, {"traceparent": f"00-{trace_id}-{span_id}-01"}


def _one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, f"{len(found)} spans named {name!r} in\n{tree(spans)}"
    return found[0]


def _root(spans: list[ReceivedSpan], name: str, parent_id: str) -> ReceivedSpan:
    root = _one(spans, name)
    assert root.kind == SERVER and root.parent_id == parent_id, tree(spans)
    return root


def _child_of(spans: list[ReceivedSpan], name: str, parent: ReceivedSpan) -> ReceivedSpan:
    child = _one(spans, name)
    assert child.parent_id == parent.span_id, f"{name} is not under {parent.name}:\n{tree(spans)}"
    return child


def _strings(spans: list[ReceivedSpan]) -> list[str]:
    """Every name and attribute value of every span, event and resource, as text."""
    out = []
    for s in spans:
        out.append(s.name)
        groups = [s.attributes, s.resource, *(fields for _, fields in s.events)]
        for group in groups:
            out.extend(f"{k}={v}" for k, v in group.items())
    return out


def test_spans_of_a_sign_in_a_miss_and_a_hit(tmp_path, upstream, receiver):
    proc, url = start_service(
        tmp_path,
        upstream.url,
        WEB_CONCURRENCY=1,
        GUNICORN_THREADS=4,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_SERVICE_NAME="gts-under-test",
        OTEL_BSP_SCHEDULE_DELAY=50,
    )
    try:
        http = requests.Session()
        # The sign-in, step by step: the code and cookies are kept to look for them later.
        login = http.get(
            url + "/login", params={"login_hint": ALICE}, allow_redirects=False, timeout=10
        )
        authorize = http.get(login.headers["Location"], allow_redirects=False, timeout=10)
        callback_url = authorize.headers["Location"]
        code = parse_qs(urlsplit(callback_url).query)["code"][0]
        signin_trace, signin_parent, headers = _parent()
        callback = http.get(callback_url, headers=headers, allow_redirects=False, timeout=10)
        assert callback.status_code == 302, callback.text
        cookies = http.cookies.get_dict()
        record_id = cookie_content(next(iter(cookies.values())))["session_id"]
        time.sleep(1.2)  # past the in-process copy of the record: the miss reads the store

        miss_trace, miss_parent, headers = _parent()
        miss = http.get(url + "/api/graphql-token", headers={**CSRF, **headers}, timeout=10)
        hit_trace, hit_parent, headers = _parent()
        hit = http.get(url + "/api/graphql-token", headers={**CSRF, **headers}, timeout=10)
        assert miss.status_code == hit.status_code == 200
        token = miss.json()["token"]

        signin = receiver.trace(signin_trace, at_least=4)
        missed = receiver.trace(miss_trace, at_least=4)
        hitting = receiver.trace(hit_trace, at_least=2)
    finally:
        proc.stop()
    print(
        "\nsign-in:\n" + tree(signin) + "\n\nmiss:\n" + tree(missed) + "\n\nhit:\n" + tree(hitting)
    )

    # The sign-in: the code exchange under the budget, then the new session record.
    root = _root(signin, "GET /callback", signin_parent)
    assert root.attributes["http.route"] == "/callback"
    assert root.attributes["http.response.status_code"] == 302
    assert root.resource["service.name"] == "gts-under-test"
    exchange = _child_of(signin, "workos POST /user_management/authenticate", root)
    assert exchange.kind == CLIENT
    assert exchange.attributes["gts.workos.kind"] == "signin"
    assert exchange.attributes["http.response.status_code"] == 200
    assert exchange.attributes["gts.workos.retry"] is False
    budget = [s for s in signin if s.name == "workos.budget"]
    assert budget and all(s.parent_id == root.span_id for s in budget), tree(signin)
    assert budget[0].attributes["gts.workos.kind"] == "signin"
    assert budget[0].attributes["gts.budget.outcome"] == "admitted"
    _child_of(signin, "session_store.create", root)

    # The miss: the record from the store, then the cache, its budget gate and its mint.
    root = _root(missed, "GET /api/graphql-token", miss_parent)
    assert root.attributes["http.route"] == "/api/graphql-token"
    assert root.attributes["http.response.status_code"] == 200
    assert root.attributes["gts.request_id"] == miss.headers["X-Request-ID"]
    read = _child_of(missed, "session_store.get", root)
    assert read.attributes["gts.store.backend"] == "sqlite"
    cache = _child_of(missed, "token_cache", root)
    assert cache.attributes["gts.cache.outcome"] == "miss"
    assert cache.attributes["gts.token.kind"] == "graphql"
    gate = _child_of(missed, "workos.budget", cache)
    assert gate.attributes["gts.workos.kind"] == "mint"
    mint = _child_of(missed, "workos POST /client/token", cache)
    assert mint.attributes["gts.workos.attempt"] == 1
    assert mint.attributes["http.response.status_code"] in (200, 201)

    # The hit: the cache alone, no WorkOS call.
    root = _root(hitting, "GET /api/graphql-token", hit_parent)
    cache = _child_of(hitting, "token_cache", root)
    assert cache.attributes["gts.cache.outcome"] == "hit"
    assert not [s for s in hitting if s.name.startswith("workos")], tree(hitting)

    # No secret anywhere: in the decoded attributes, nor in the bytes as sent.
    secrets_ = {
        "API key": API_KEY,
        "minted token": token,
        "authorization code": code,
        "email": ALICE,
        "session record id": record_id,
        **{f"cookie {name}": value for name, value in cookies.items()},
    }
    texts = _strings(receiver.spans)
    raw = b"".join(receiver.raw)
    for what, value in secrets_.items():
        assert not [t for t in texts if value in t], f"the {what} is in a span"
        assert value.encode() not in raw, f"the {what} is in an export"
    assert not [t for t in texts if JWT.search(t)]
    assert os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") is None  # the test's env is untouched
