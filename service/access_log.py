"""gunicorn's access log with control characters escaped, so a URL cannot forge a log line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(value: str) -> str:
    """value with every control character written as \\xNN."""
    if value.isprintable():  # a C scan; no control character is printable
        return value
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


class EscapedAtoms(SafeAtoms):
    """gunicorn's atoms (the decoded path above all: %0A is a newline), each escaped when the
    format reads it.

    gunicorn's SafeAtoms quotes every value when it is made: all request and response headers
    and the whole WSGI environ, a session cookie twice, where the format reads seven of them.
    """

    def __init__(self, atoms: Mapping[str, Any]):
        dict.__init__(self, atoms)

    def __getitem__(self, key: str) -> Any:
        # The stubs say str; status, sizes and times are numbers.
        value: Any = super().__getitem__(key)
        if isinstance(value, str):
            return escape(value.replace('"', '\\"'))
        return value


class AccessLogger(Logger):
    """gunicorn's Logger, its access lines' values escaped."""

    atoms_wrapper_class = EscapedAtoms
