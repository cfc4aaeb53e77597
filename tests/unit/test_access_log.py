"""The access log's escaping, over every code point: what a URL's path can put in a line."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from service.ops.access_log import EscapedAtoms, escape

ESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[\\\"])")
# How a backslash-aware reader finds a quoted field: a quote ends it unless escaped.
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def unescape(text: str) -> str:
    """What a reader decoding the escapes gets back."""
    return ESCAPE.sub(lambda m: m[1] if len(m[1]) == 1 else chr(int(m[1][1:], 16)), text)


def test_every_code_point_is_kept_printable_and_decodes_back():
    """Each of the 1,114,112 code points, by itself and inside a path: the written form is
    printable, holds no bare quote or backslash, and decodes to the original."""
    for code in range(sys.maxunicode + 1):
        c = chr(code)
        written = escape(c)
        assert written.isprintable(), (hex(code), unicodedata.category(c))
        assert unescape(written) == c, hex(code)
        if written == c:  # written raw: only a printable character that escapes nothing
            assert c not in '\\"', hex(code)


@pytest.mark.parametrize(
    "category",
    ["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"],
)
def test_each_non_printable_class_is_escaped(category):
    found = [
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) == category and chr(c) != " "
    ]
    assert found
    assert all(escape(c) != c and escape(c).startswith("\\") for c in found), category


@pytest.mark.parametrize(
    "path",
    [
        '/x\\" 200 0 0ms rid=forged',  # %5C%22: the backslash would escape our escape
        "/x\x85forged",  # NEL: a line break to some readers
        "/x\x9b31mred",  # CSI: a terminal escape
        "/x\u2028forged\u2029",  # line and paragraph separators
        "/x\u202eevil",  # right-to-left override
        "/a\\b",
    ],
)
def test_a_path_cannot_end_its_quoted_field_or_break_the_line(path):
    # gunicorn formats its access line with % and the atoms mapping, as here.
    atoms = EscapedAtoms({"m": "GET", "U": path, "s": 404})
    line = '127.0.0.1 "%(m)s %(U)s" %(s)s' % atoms  # noqa: UP031
    assert line.isprintable()
    [field] = QUOTED.findall(line)
    assert unescape(field) == "GET " + path
    assert line.endswith('" 404')
