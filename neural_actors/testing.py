"""Test helpers for neural-actors users: the virtual clock, a ready runtime, fault plans, chaos
seeds, log capture.

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

Chaos testing:

- ``chaos_seed``: the seed of this run (0 unless the test is a chaos test or ``--chaos-seed``
  says otherwise); ``actor_runtime`` is seeded with it, and so is every plan ``inject_faults``
  installs, so one seed drives the scheduler and the faults;
- ``inject_faults(plan)``: installs a ``FaultPlan`` on ``actor_runtime`` and returns its
  ``FaultInjector``; it is uninstalled after the test;
- ``@pytest.mark.chaos(runs=50)``: runs the test once per seed 0..49 (``--chaos-runs N``
  overrides the count for every chaos test; ``--chaos-seed S`` runs seed S alone);
- a failing chaos test's report shows its seed and the command that replays it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import structlog.testing

from neural_actors.faults import FaultInjector, FaultPlan
from neural_actors.runtime import Runtime, VirtualEventLoop

__all__ = ["VirtualEventLoop", "actor_runtime", "chaos_seed", "inject_faults", "log_events"]

#: Seeds a ``@pytest.mark.chaos`` test runs under when the marker gives no ``runs``.
DEFAULT_CHAOS_RUNS = 10

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
    group = parser.getgroup("neural-actors", "neural-actors chaos testing")
    group.addoption(
        "--chaos-seed",
        type=int,
        default=None,
        metavar="S",
        help="run chaos tests under seed S alone (replays a failure); other tests' runtimes get seed S too",
    )
    group.addoption(
        "--chaos-runs",
        type=int,
        default=None,
        metavar="N",
        help="run every @pytest.mark.chaos test under seeds 0..N-1, whatever its marker says",
    )


class _VirtualClockLoops:
    """The pytest-asyncio hook, registered only when ``neural_actors_virtual_clock`` is on."""

    @pytest.hookimpl(trylast=True)
    def pytest_asyncio_loop_factories(self, config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
        return {"virtual": VirtualEventLoop}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chaos(runs=10): run the test once per seed (its chaos_seed, actor_runtime and inject_faults "
        "follow the seed); --chaos-runs N and --chaos-seed S override",
    )
    if config.getini("neural_actors_virtual_clock"):
        config.pluginmanager.register(_VirtualClockLoops(), "neural_actors_virtual_clock")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("chaos")
    if marker is None:
        return
    runs = marker.kwargs.get("runs", marker.args[0] if marker.args else DEFAULT_CHAOS_RUNS)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: @pytest.mark.chaos(runs=...) takes an int >= 1 (got {runs!r})"
        )
    if "chaos_seed" not in metafunc.fixturenames:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: a @pytest.mark.chaos test must use chaos_seed, actor_runtime or "
            "inject_faults, or it would run the same way under every seed"
        )
    config = metafunc.config
    seed = config.getoption("--chaos-seed")
    seeds = [seed] if seed is not None else range(config.getoption("--chaos-runs") or runs)
    metafunc.parametrize("chaos_seed", seeds, ids=[f"seed={s}" for s in seeds])


@pytest.fixture
def chaos_seed(request: pytest.FixtureRequest) -> int:
    """The seed of this test run: the chaos marker's, ``--chaos-seed``, or 0."""
    if hasattr(request, "param"):
        return int(request.param)
    seed = request.config.getoption("--chaos-seed")
    return 0 if seed is None else int(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    callspec = getattr(item, "callspec", None)
    if report.failed and callspec is not None and "chaos_seed" in callspec.params:
        seed = callspec.params["chaos_seed"]
        # The full node id: with --chaos-seed the seed's id is generated again, the same.
        command = f"pytest '{item.nodeid}' --chaos-seed {seed}"
        report.sections.append(("chaos", f"failed under chaos seed {seed}; replay it with:\n    {command}"))
    return report


async def _actor_runtime(chaos_seed: int) -> AsyncIterator[Runtime]:
    """A running ``Runtime`` on virtual time (seeded with ``chaos_seed``, trace on); fails on a
    real-clock loop."""
    if not isinstance(asyncio.get_running_loop(), VirtualEventLoop):
        pytest.fail(_NEEDS_VIRTUAL, pytrace=False)
    async with Runtime(clock="virtual", seed=chaos_seed, trace=True) as runtime:
        yield runtime


try:
    import pytest_asyncio
except ImportError:  # the plugin must not break test suites that do not use asyncio
    pass
else:
    actor_runtime = pytest_asyncio.fixture(_actor_runtime, name="actor_runtime")


@pytest.fixture
def inject_faults(actor_runtime: Runtime, chaos_seed: int) -> Iterator[Callable[[FaultPlan], FaultInjector]]:
    """``inject_faults(plan)`` installs ``plan`` on ``actor_runtime``, seeded with ``chaos_seed``,
    and returns the ``FaultInjector``; it is uninstalled after the test."""
    installed: list[FaultInjector] = []

    def install(plan: FaultPlan) -> FaultInjector:
        injector = plan.install(actor_runtime, seed=chaos_seed)
        installed.append(injector)
        return injector

    yield install
    for injector in reversed(installed):
        injector.uninstall()


@pytest.fixture
def log_events() -> Iterator[list[dict[str, Any]]]:
    """Every structlog event logged during the test, as dicts (``event``, level, fields)."""
    with structlog.testing.capture_logs() as events:
        yield events
