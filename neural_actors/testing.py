"""Test helpers for neural-actors users: the virtual-clock loop, a ready runtime, log capture.

Installed as a pytest plugin (entry point ``neural_actors``); it only adds fixtures, so it
changes nothing in a test suite that does not ask for them. To run every asyncio test of a
suite on virtual time, add to its ``conftest.py``::

    from neural_actors.testing import VirtualEventLoop

    def pytest_asyncio_loop_factories(config, item):
        return {"virtual": VirtualEventLoop}
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog.testing

from neural_actors.runtime import Runtime, VirtualEventLoop
from neural_actors.runtime.clock import is_virtual

__all__ = ["VirtualEventLoop", "actor_runtime", "log_events"]


async def _actor_runtime() -> AsyncIterator[Runtime]:
    """A running ``Runtime`` (seed 0, trace on), on virtual time when the test's loop is virtual."""
    clock = "virtual" if is_virtual(asyncio.get_running_loop()) else "real"
    async with Runtime(clock=clock, seed=0, trace=True) as runtime:
        yield runtime


try:
    import pytest_asyncio
except ImportError:  # the plugin must not break test suites that do not use asyncio
    pass
else:
    actor_runtime = pytest_asyncio.fixture(_actor_runtime, name="actor_runtime")


@pytest.fixture
def log_events() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event logged during the test, as dicts (``event``, level, fields)."""
    with structlog.testing.capture_logs() as events:
        yield events
