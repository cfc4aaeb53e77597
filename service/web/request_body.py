"""Request bodies: refused beyond the limit with 413, chunked ones included."""

from __future__ import annotations

from flask import Flask, request

from service.web.context import unproxied
from service.web.hooks import WHOLE_APP, Scopes, before


def init_body_limit(app: Flask, scopes: Scopes = WHOLE_APP, limit: int | None = None) -> None:
    """Refuse bodies beyond MAX_CONTENT_LENGTH (or `limit`, for these requests only) with 413,
    chunked ones included."""

    def _refuse_long_chunked_bodies() -> None:
        current = unproxied(request)  # read directly: this runs before every request
        if limit is not None:
            # The app's MAX_CONTENT_LENGTH is its own; the service's routes keep theirs.
            current.max_content_length = limit
            current.max_form_memory_size = limit
        # A chunked body has no Content-Length, and werkzeug stops reading it at the limit
        # without an error, so forms and JSON would be parsed from a cut body. Read it once
        # (parsing reuses the cached bytes); one byte more raises 413 when it went on. The
        # method first: a GET, most requests, needs no header parsed.
        if current.method in ("POST", "PUT", "PATCH") and current.content_length is None:
            current.get_data()
            current.stream.read(1)

    before(app, scopes, _refuse_long_chunked_bodies)
