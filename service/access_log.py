"""gunicorn's access log with control characters escaped, so a URL cannot forge a log line."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from gunicorn.glogging import Logger

if TYPE_CHECKING:
    from gunicorn.glogging import _AtomsDict  # types-gunicorn's, not at run time
    from gunicorn.http import Request
    from gunicorn.http.wsgi import Response

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(value: str) -> str:
    """value with every control character written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


class AccessLogger(Logger):
    """gunicorn's Logger; atoms (the decoded path above all: %0A is a newline) are escaped."""

    def atoms(
        self,
        resp: Response,
        req: Request,
        environ: MutableMapping[str, Any],
        request_time: timedelta,
    ) -> _AtomsDict:
        # The same keys, each str value escaped (a TypedDict is not rebuilt key by key).
        return cast(
            "_AtomsDict",
            {
                key: escape(value) if isinstance(value, str) else value
                for key, value in super().atoms(resp, req, environ, request_time).items()
            },
        )
