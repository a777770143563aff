"""Test helpers for neural-actors users: the virtual clock, a ready runtime, log capture.

Installed as a pytest plugin (entry point ``neural_actors``); it changes nothing in a test suite
that does not ask for it. Two ways to run asyncio tests on virtual time (pytest-asyncio >= 1.4):

- add ``neural_actors_virtual_clock = true`` to the ``[tool.pytest.ini_options]`` (or
  ``pytest.ini``) of your project: every asyncio test then runs on a ``VirtualEventLoop``;
- or write the hook yourself in ``conftest.py``::

      from neural_actors.testing import VirtualEventLoop

      def pytest_asyncio_loop_factories(config, item):
          return {"virtual": VirtualEventLoop}

The ``actor_runtime`` fixture needs one of the two: on a real-clock loop it fails at once with
these instructions, instead of letting a test of an hour's virtual time wait an hour.
Mark the tests ``@pytest.mark.asyncio`` (or set ``asyncio_mode = "auto"``); each gets a fresh
loop at function scope by default, so virtual time starts at 0.0 in every test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog.testing

from neural_actors.runtime import Runtime, VirtualEventLoop

__all__ = ["VirtualEventLoop", "actor_runtime", "log_events"]

_NEEDS_VIRTUAL = """\
actor_runtime runs on virtual time, but this test's event loop is a real-clock loop.
Add to your pytest configuration (pyproject.toml):

    [tool.pytest.ini_options]
    neural_actors_virtual_clock = true

or to conftest.py:

    from neural_actors.testing import VirtualEventLoop

    def pytest_asyncio_loop_factories(config, item):
        return {"virtual": VirtualEventLoop}
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "neural_actors_virtual_clock",
        "run every asyncio test on neural-actors' VirtualEventLoop (time jumps when idle)",
        type="bool",
        default=False,
    )


class _VirtualClockLoops:
    """The pytest-asyncio hook, registered only when ``neural_actors_virtual_clock`` is on."""

    @pytest.hookimpl(trylast=True)
    def pytest_asyncio_loop_factories(self, config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
        return {"virtual": VirtualEventLoop}


def pytest_configure(config: pytest.Config) -> None:
    if config.getini("neural_actors_virtual_clock"):
        config.pluginmanager.register(_VirtualClockLoops(), "neural_actors_virtual_clock")


async def _actor_runtime() -> AsyncIterator[Runtime]:
    """A running ``Runtime`` on virtual time (seed 0, trace on); fails on a real-clock loop."""
    if not isinstance(asyncio.get_running_loop(), VirtualEventLoop):
        pytest.fail(_NEEDS_VIRTUAL, pytrace=False)
    async with Runtime(clock="virtual", seed=0, trace=True) as runtime:
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
