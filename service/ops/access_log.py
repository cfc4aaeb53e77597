"""gunicorn's access log, escaped so that no URL can forge a line or end a quoted field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gunicorn.glogging import Logger, SafeAtoms

# Backslash and quote: a backslash-aware reader of the quoted path would otherwise end the
# field early (%5C%22). Everything else escaped is what str.isprintable() refuses: C0 and C1
# controls (NEL %85, CSI %9B), format characters, separators other than space, unassigned.
_SPECIAL = re.compile(r'[\\"]')


def escape(value: str) -> str:
    """value with backslash, quote and every non-printable character written as an escape."""
    if value.isprintable() and not _SPECIAL.search(value):  # C scans: the common case
        return value
    return "".join(_escape_char(c) for c in value)


def _escape_char(c: str) -> str:
    if c == "\\" or c == '"':
        return "\\" + c
    if c.isprintable():
        return c
    code = ord(c)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


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
            return escape(value)
        return value


class AccessLogger(Logger):
    """gunicorn's Logger, its access lines' values escaped."""

    atoms_wrapper_class = EscapedAtoms
