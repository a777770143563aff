"""Schedules: when a fault fires, and the errors a bad schedule gets."""

import itertools

import pytest
from neural_actors.faults import FaultPlanError, Schedule


def test_a_default_schedule_fires_once_at_install() -> None:
    """``Schedule()`` fires at 0 s and never again."""
    assert [0.0] == list(Schedule().firings())


def test_every_repeats_until_times_runs_out() -> None:
    """``every`` repeats from ``at``; ``times`` bounds the count."""
    assert [1.0, 1.5, 2.0] == list(Schedule(at=1, every=0.5, times=3).firings())


def test_until_bounds_the_last_firing() -> None:
    """No firing is later than ``until`` seconds after install."""
    assert [0.0, 2.0, 4.0] == list(Schedule(every=2, until=5).firings())


def test_every_without_a_bound_fires_for_ever() -> None:
    """An unbounded repeating schedule yields firings endlessly."""
    assert [0.0, 0.25, 0.5, 0.75] == list(itertools.islice(Schedule(every=0.25).firings(), 4))


def test_a_window_is_a_start_and_a_duration() -> None:
    """``Schedule.window(2, 5)`` fires at 2 s and lasts 3 s."""
    assert Schedule(at=2, duration=3, probability=0.5) == Schedule.window(2, 5, probability=0.5)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"at": -1}, "schedule.at: expected finite seconds >= 0 (got -1)"),
        ({"every": 0}, "schedule.every: expected finite seconds > 0 or None (got 0)"),
        ({"every": float("nan")}, "schedule.every: expected finite seconds > 0 or None (got nan)"),
        ({"times": 0}, "schedule.times: expected an int >= 1 or None (got 0)"),
        ({"times": 1.5}, "schedule.times: expected an int >= 1 or None (got 1.5)"),
        ({"probability": 1.5}, "schedule.probability: expected a probability from 0 to 1 (got 1.5)"),
        ({"probability": True}, "schedule.probability: expected a probability from 0 to 1 (got True)"),
        ({"duration": "1s"}, "schedule.duration: expected finite seconds > 0 or None (got '1s')"),
        ({"at": 3, "until": 2}, "schedule.until: expected seconds >= schedule.at (3) (got 2)"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(options: dict, expected: str) -> None:
    """Each field says what it expected and what came."""
    with pytest.raises(FaultPlanError) as caught:
        Schedule(**options)

    assert expected == str(caught.value)


def test_a_window_must_end_after_it_starts() -> None:
    """``window(5, 2)`` is refused."""
    with pytest.raises(FaultPlanError) as caught:
        Schedule.window(5, 2)

    assert "schedule.window: expected (start, end) with end > start (got (5, 2))" == str(caught.value)
