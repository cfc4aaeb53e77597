"""The request id: a caller's plain X-Request-ID is kept, anything else replaced."""

import pytest
from flask import g

from service import create_app

SETTINGS = {
    "WORKOS_API_KEY": "sk_test_x",
    "WORKOS_CLIENT_ID": "client_x",
    "SECRET_KEY": "k" * 40,
    "APP_BASE_URL": "http://localhost",
}


@pytest.fixture
def app(tmp_path):
    return create_app({**SETTINGS, "SESSION_DB_PATH": str(tmp_path / "s.sqlite3")})


@pytest.mark.parametrize("given", ["abc\n", "abc\r\n", "\nabc", "a\nb"])
def test_a_request_id_with_a_line_break_is_replaced(app, given):
    # "^...$" with match() accepts "abc\n": "$" also matches before a trailing newline.
    # (werkzeug's test client refuses such a header; a WSGI server may hand one over.)
    with app.test_request_context(environ_overrides={"HTTP_X_REQUEST_ID": given}):
        app.preprocess_request()
        assert g.request_id != given and len(g.request_id) == 32


@pytest.mark.parametrize("given", ["abc", "req-1.2:3_x", "a" * 128])
def test_a_plain_request_id_is_kept(app, given):
    with app.test_request_context(headers={"X-Request-ID": given}):
        app.preprocess_request()
        assert g.request_id == given
