"""The pytest plugin as a user's suite meets it: virtual time on request, a loud failure
instead of a real-time wait, log capture."""

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
