"""The `next` sanitizer: only a path on this origin gets through."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.security import safe_next


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
