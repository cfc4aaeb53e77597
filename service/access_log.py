"""gunicorn's access log with control characters escaped, so a URL cannot forge a log line."""

from __future__ import annotations

import re

from gunicorn.glogging import Logger

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(value: str) -> str:
    """value with every control character written as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


class AccessLogger(Logger):
    """gunicorn's Logger; atoms (the decoded path above all: %0A is a newline) are escaped."""

    def atoms(self, resp, req, environ, request_time):
        return {
            key: escape(value) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }
