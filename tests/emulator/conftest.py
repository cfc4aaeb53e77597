"""Fixtures of the emulator's own conformance tests: one threaded emulator per module."""

from __future__ import annotations

import pytest

from emulator.app import create_app
from tests.support import FakeClock as Clock
from tests.support import ThreadedServer

# The origin the conformance tests call /client/graphql from.
APP_ORIGIN = "http://app.test"


@pytest.fixture(scope="module")
def served():
    """An emulator in a thread for this module: (state, base URL)."""
    app = create_app(allowed_origins=[APP_ORIGIN])
    server = ThreadedServer(app).start()
    yield app.extensions["emulator"], server.url
    server.stop()


@pytest.fixture
def state(served):
    """The emulator's state, reset to the seed."""
    served[0].reset()
    return served[0]


@pytest.fixture
def url(served, state):
    """Base URL of the freshly reset emulator."""
    return served[1]


@pytest.fixture
def clock(state):
    """A settable clock installed in the emulator."""
    state.clock = Clock()
    return state.clock
