"""WorkOS-Signature verification: every way a signature can be wrong, and the right one."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.web.webhooks import TOLERANCE_SECONDS, InvalidSignature, verify_signature

SECRET = "whsec_unit_0123456789abcdef"
BODY = b'{"id":"event_01","event":"session.revoked","data":{"id":"session_01"}}'
NOW = 1_800_000_000.0


def sign(body: bytes = BODY, secret: str = SECRET, t_ms: int | None = None) -> str:
    t = int(NOW * 1000) if t_ms is None else t_ms
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t}, v1={v1}"


def test_a_valid_signature_passes():
    verify_signature(sign(), BODY, SECRET, now=NOW)


@pytest.mark.parametrize(
    "header, body",
    [
        (sign(), BODY + b" "),  # body changed
        (sign(body=BODY.replace(b"01", b"02")), BODY),
        (sign(secret="whsec_another_secret_0000"), BODY),  # secret changed
        (sign().replace("t=", "t=1"), BODY),  # timestamp changed (and now far ahead)
        (sign().replace(f"t={int(NOW * 1000)}", f"t={int(NOW * 1000) - 1}"), BODY),  # 1 ms
    ],
    ids=["body", "signed-other-body", "secret", "timestamp", "timestamp-1ms"],
)
def test_a_changed_part_fails(header, body):
    with pytest.raises(InvalidSignature):
        verify_signature(header, body, SECRET, now=NOW)


@pytest.mark.parametrize("age", [TOLERANCE_SECONDS + 1, -(TOLERANCE_SECONDS + 1), 86400])
def test_old_and_future_timestamps_fail(age):
    header = sign(t_ms=int((NOW - age) * 1000))
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify_signature(header, BODY, SECRET, now=NOW)


@pytest.mark.parametrize("age", [0, TOLERANCE_SECONDS - 1, -(TOLERANCE_SECONDS - 1)])
def test_timestamps_within_the_tolerance_pass(age):
    verify_signature(sign(t_ms=int((NOW - age) * 1000)), BODY, SECRET, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",  # no timestamp
        f"t={int(NOW * 1000)}",  # no signature
        f"t=soon, v1={'0' * 64}",
        f"t=-{int(NOW * 1000)}, v1={'0' * 64}",
        f"t={int(NOW)}.5, v1={'0' * 64}",
        f"t={int(NOW * 1000)}, t={int(NOW * 1000)}, v1={'0' * 64}",
        "garbage",
        "t=" + "9" * 5000,
        sign().replace("v1=", "v0="),
        sign().replace(", ", ",v1=\u00e9"),  # a non-ASCII v1 beside none that matches
    ],
)
def test_malformed_or_missing_headers_fail(header):
    with pytest.raises(InvalidSignature):
        verify_signature(header, BODY, SECRET, now=NOW)


def test_several_v1_values_pass_when_one_matches():
    """WorkOS may sign with two secrets while one is rolled; one match is enough."""
    good = sign()
    t, v1 = good.split(", ")
    verify_signature(f"{t}, v1={'0' * 64}, {v1}", BODY, SECRET, now=NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(f"{t}, v1={'0' * 64}, v1={'1' * 64}", BODY, SECRET, now=NOW)


def test_header_written_without_spaces_passes():
    verify_signature(sign().replace(", ", ","), BODY, SECRET, now=NOW)


@pytest.mark.parametrize(
    "stamp",
    ["\u00b2", "1\u00b2", "\uff11\uff12", "\u0661\u0662\u0663", "12\u200b", "\U0001d7ce"],
    ids=["superscript", "digit-superscript", "fullwidth", "arabic-indic", "zero-width", "math"],
)
def test_a_timestamp_of_non_ascii_digits_fails_as_malformed(stamp):
    """str.isdigit() says yes to '²' (and int() then raises); only 0-9 make a timestamp."""
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_signature(f"t={stamp}, v1={'0' * 64}", BODY, SECRET, now=NOW)


@settings(max_examples=600, deadline=None)
@given(st.text(max_size=120), st.text(alphabet="t=v1, 0123456789abcdef\u00b2\uff11", max_size=80))
def test_any_header_is_either_valid_or_invalid_signature(noise, shaped):
    """Fuzz: whatever the header, the parser raises InvalidSignature and nothing else."""
    for header in (noise, shaped, f"t={noise}, v1={shaped}", f"{shaped}, t={int(NOW * 1000)}"):
        try:
            verify_signature(header, BODY, SECRET, now=NOW)
        except InvalidSignature:
            pass
