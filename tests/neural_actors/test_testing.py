"""The pytest plugin as a user's suite meets it: virtual time on request, a loud failure
instead of a real-time wait, log capture, chaos seeds and their replay command."""

import re

import pytest

TEST_FILE = """
import asyncio
import pytest

@pytest.mark.asyncio
async def test_an_hour_passes_at_once(actor_runtime):
    await asyncio.sleep(3600)
    assert 3600 == actor_runtime.now()
"""


def test_actor_runtime_fails_loudly_on_a_real_clock_loop(pytester: pytest.Pytester) -> None:
    """Without the virtual clock configured, the fixture fails at once saying how to turn it on."""
    pytester.makepyfile(TEST_FILE)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*neural_actors_virtual_clock = true*"])


def test_the_ini_option_runs_every_asyncio_test_on_virtual_time(pytester: pytest.Pytester) -> None:
    """``neural_actors_virtual_clock = true`` makes an hour of virtual time pass at once."""
    pytester.makeini("[pytest]\nneural_actors_virtual_clock = true\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(TEST_FILE)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)

    result.assert_outcomes(passed=1)


def test_log_events_captures_structlog_events(log_events: list) -> None:
    """The ``log_events`` fixture sees what the library logs."""
    import structlog

    structlog.get_logger("neural_actors").warning("supervisor_gave_up", supervisor="<0.0.1>")

    assert [{"event": "supervisor_gave_up", "supervisor": "<0.0.1>", "log_level": "warning"}] == log_events


CHAOS_INI = "[pytest]\nneural_actors_virtual_clock = true\nasyncio_default_fixture_loop_scope = function\n"

CHAOS_TEST = """
import asyncio
import pytest
from neural_actors.faults import Drop, FaultPlan, Messages, Schedule
from neural_actors.runtime import Actor


class Echo(Actor):
    def handle_cast(self, msg):
        pass


@pytest.mark.chaos(runs=5)
@pytest.mark.asyncio
async def test_under_drops(actor_runtime, inject_faults, chaos_seed):
    await actor_runtime.start(Echo, name="e")
    injector = inject_faults(FaultPlan([Drop(Messages(receiver="e"), Schedule(probability=0.5))]))
    await asyncio.sleep(0.1)
    for n in range(20):
        actor_runtime.cast("e", n)
    await actor_runtime.wait_idle()
    print(f"seed {chaos_seed} plan seed {injector.seed} digest {actor_runtime.trace_digest()}")
    assert chaos_seed != 3
"""


def _digests(text: str) -> dict[str, str]:
    """Seed -> trace digest, as the inner test prints them."""
    return dict(re.findall(r"seed (\d+) plan seed \d+ digest (\w+)", text))


def test_the_chaos_marker_runs_a_test_once_per_seed(pytester: pytest.Pytester) -> None:
    """``runs=5`` makes five tests, ids ``seed=0`` to ``seed=4``; the failure names its seed and
    the command that replays it, and that command replays the same trace."""
    pytester.makeini(CHAOS_INI)
    pytester.makepyfile(test_chaos=CHAOS_TEST)

    result = pytester.runpytest("-p", "no:cacheprovider", "-v", "-s")

    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([f"test_chaos.py::test_under_drops?seed={seed}? seed {seed} *" for seed in range(5)])
    result.stdout.fnmatch_lines(["*failed under chaos seed 3; replay it with:", "    pytest 'test_chaos.py::test_under_drops?seed=3?' --chaos-seed 3"])
    digests = _digests(result.stdout.str())
    assert 5 == len(set(digests.values()))

    replay = pytester.runpytest("-p", "no:cacheprovider", "-s", "test_chaos.py::test_under_drops[seed=3]", "--chaos-seed", "3")

    replay.assert_outcomes(failed=1)
    assert {"3": digests["3"]} == _digests(replay.stdout.str())


def test_chaos_runs_overrides_every_marker(pytester: pytest.Pytester) -> None:
    """``--chaos-runs 2`` runs seeds 0 and 1 only."""
    pytester.makeini(CHAOS_INI)
    pytester.makepyfile(test_chaos=CHAOS_TEST)

    result = pytester.runpytest("-p", "no:cacheprovider", "--chaos-runs", "2")

    result.assert_outcomes(passed=2)


def test_a_chaos_test_that_ignores_the_seed_is_refused(pytester: pytest.Pytester) -> None:
    """A marked test using no seeded fixture would run the same way under every seed."""
    pytester.makeini(CHAOS_INI)
    pytester.makepyfile("import pytest\n\n@pytest.mark.chaos(runs=3)\ndef test_nothing():\n    pass\n")

    result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_nothing: a @pytest.mark.chaos test must use chaos_seed, actor_runtime or inject_faults*"])


@pytest.mark.asyncio
async def test_inject_faults_installs_with_the_seed_and_uninstalls_after(actor_runtime, inject_faults, chaos_seed) -> None:
    """The plan is seeded with ``chaos_seed`` (0 outside chaos tests) and wraps the transport."""
    from neural_actors.faults import FaultPlan

    injector = inject_faults(FaultPlan())

    assert (0, 0) == (chaos_seed, injector.seed)
    assert injector.transport is actor_runtime.transport
