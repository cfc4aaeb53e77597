"""When the buffered worker deems a request whole, and so gives it to a thread."""

from __future__ import annotations

import pytest

from service.ops.gunicorn_worker import BODY_BUFFER, HEAD_BUFFER, complete

HEAD = b"POST /webhooks/workos HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    "data, whole",
    [
        (b"GET /healthz HT", False),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n", False),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET /healthz HTTP/1.0\n\n", True),  # bare LF: gunicorn's parser decides
        (HEAD + b"Content-Length: 10\r\n\r\n{}", False),
        (HEAD + b"content-length:10\r\n\r\n0123456789", True),
        (HEAD + b"Content-Length: 999999\r\n\r\n", True),  # refused (413) unread
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", False),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", True),
        (HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"x" * (BODY_BUFFER + 1), True),
        (b"GET /" + b"a" * HEAD_BUFFER, True),  # gunicorn answers 414
    ],
    ids=[
        "half-line",
        "half-head",
        "head",
        "lf-head",
        "half-body",
        "body",
        "too-long-body",
        "half-chunked",
        "chunked",
        "long-chunked",
        "long-head",
    ],
)
def test_a_request_is_whole_once_its_head_and_body_are_in(data, whole):
    assert complete(data) is whole
