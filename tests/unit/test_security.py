"""The `next` sanitizer: only a path on this origin gets through."""

import re
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.urls import iri_to_uri

from service.web.redirects import safe_next


@pytest.mark.parametrize(
    "value",
    [
        "//evil.example",
        "https://evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        "/%2Fevil.example",
        "/%5Cevil.example",
        "%2f%2fevil.example",
        "/\tevil",
        "/\nLocation: x",
        "evil",
        "",
        None,
        "/" + "a" * 3000,
    ],
)
def test_rejects_anything_but_a_local_path(value):
    assert safe_next(value) == "/"


@pytest.mark.parametrize("value", ["/", "/app", "/app?x=1&y=2", "/a/b#frag", "/caf%C3%A9"])
def test_keeps_local_paths(value):
    assert safe_next(value) == value


@given(st.text(max_size=60))
def test_result_is_always_a_local_path(value):
    result = safe_next(value)
    assert result.startswith("/")
    assert not result.startswith("//")
    assert "\\" not in result
    assert result == "/" or result == value


# What a browser does with the answer: judged by where it goes, not by the sanitizer's rules.
PIECES = ["/", "//", "\\", ":", ".", "..", "@", "?", "#", " ", "\t", "\n", "\x00", "é", "a"]
PIECES += ["%2F", "%2f", "%5C", "%5c", "%09", "%0a", "%", "2F", "%25", "evil.example"]
PIECES += ["http:", "https:", "javascript:", "data:"]
path_like = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)


def browser_target(location: str) -> tuple[str, str | None]:
    """Scheme and host a browser on https://app.example/here goes to for a Location (the parts
    of WHATWG URL parsing that matter: C0 and spaces trimmed, tab and newline dropped anywhere,
    backslash read as a slash)."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = re.sub("[\t\n\r]", "", cleaned).replace("\\", "/")
    parts = urlsplit(urljoin("https://app.example/here", cleaned))
    return parts.scheme, parts.hostname


@given(st.one_of(path_like, path_like.map(lambda rest: "/" + rest)))
def test_a_browser_sent_to_the_result_stays_on_this_origin(value):
    result = safe_next(value)
    # As sent (werkzeug writes Location as a URI), and as read by anything that decodes once.
    for location in (iri_to_uri(result), unquote(result)):
        assert browser_target(location) == ("https", "app.example"), (value, result)
