"""The time this thread's current request spent in WorkOS calls (its Server-Timing header)."""

from __future__ import annotations

from contextvars import ContextVar, Token

# [seconds, calls] of the request being measured on this thread (contexts are per thread);
# None outside a measured block, so calls made elsewhere (the events poller) add nothing.
_SPENT: ContextVar[list | None] = ContextVar("workos_spent", default=None)


def start() -> tuple[list, Token]:
    """Start summing this thread's WorkOS calls: ([seconds, calls], the token for stop)."""
    spent = [0.0, 0]
    return spent, _SPENT.set(spent)


def stop(token: Token) -> None:
    """Stop summing (the block that called start() is over)."""
    _SPENT.reset(token)


def add(seconds: float) -> None:
    """Count one WorkOS call of `seconds` (every attempt, a retry's too) when measured."""
    spent = _SPENT.get()
    if spent is not None:
        spent[0] += seconds
        spent[1] += 1
