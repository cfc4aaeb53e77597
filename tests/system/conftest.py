"""System tier: real processes (emulator, gunicorn, redis-server) on free loopback ports."""

import pytest

from devstack.stack import start_emulator
from tests.emulator_control import EmulatorControl


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/system/" in str(item.fspath):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="module")
def emulator_proc(tmp_path_factory):
    """The emulator as its own process (python -m emulator), for this module."""
    tmp = tmp_path_factory.mktemp("emulator")
    proc, url = start_emulator(tmp)
    yield proc, url
    proc.stop()


@pytest.fixture
def upstream(emulator_proc) -> EmulatorControl:
    """Control of the emulator process, reset before each test."""
    control = EmulatorControl(emulator_proc[1])
    control.reset()
    return control
