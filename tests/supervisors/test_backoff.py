"""Restart with exponential backoff: pauses double up to the cap, jitter, reset, cancellation."""

import asyncio
import random

import pytest
from neural_actors.runtime import Actor, Runtime
from neural_actors.supervisors import (
    RESTARTING,
    Backoff,
    ChildRestarting,
    ChildSpec,
    InvalidChildSpec,
    Supervisor,
    SupervisorFlags,
    terminate_child,
    which_children,
)

from ..journal import Journal

#: The exit reason of a supervisor that gives up, as OTP's.
GAVE_UP = ("shutdown", "reached_max_restart_intensity")


class Flaky(Actor):
    """Records the virtual time of each start; crashes when cast to."""

    def init(self, starts: list) -> None:
        starts.append(self.runtime.now())

    def handle_cast(self, msg):
        raise RuntimeError(msg)


def test_delay_doubles_to_the_cap_without_jitter() -> None:
    """``min * 2**attempt``, capped at ``max``."""
    backoff = Backoff(min=0.5, max=3.0, random_factor=0.0)

    assert [0.5, 1.0, 2.0, 3.0, 3.0] == [backoff.delay(n, random.Random(0)) for n in range(5)]


def test_jitter_stays_within_the_random_factor() -> None:
    """Each pause is stretched by at most ``random_factor``."""
    backoff = Backoff(min=1.0, max=1.0, random_factor=0.5)
    delays = [backoff.delay(0, random.Random(seed)) for seed in range(50)]

    assert all(1.0 <= d <= 1.5 for d in delays)
    assert len(set(delays)) > 1


def test_reset_after_defaults_to_the_middle_of_the_pauses() -> None:
    """Without ``reset_after``, a run of ``(min + max) / 2`` resets the pauses (Akka's default),
    so the reset scales with the pauses; a given ``reset_after`` is kept."""
    assert 5.0 == Backoff(min=1, max=9).effective_reset_after
    assert 15.05 == Backoff().effective_reset_after
    assert 2.0 == Backoff(min=1, max=9, reset_after=2).effective_reset_after


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"min": 0}, "backoff.min: must be a finite number of seconds > 0 (got 0, an int)"),
        ({"min": INF}, "backoff.min: must be a finite number of seconds > 0 (got inf, a float)"),
        ({"min": NAN}, "backoff.min: must be a finite number of seconds > 0 (got nan, a float)"),
        ({"max": INF}, "backoff.max: must be a finite number of seconds > 0 (got inf, a float)"),
        ({"max": NAN}, "backoff.max: must be a finite number of seconds > 0 (got nan, a float)"),
        ({"min": 2, "max": 1}, "backoff.max: must be >= backoff.min (2) (got 1, an int)"),
        ({"random_factor": 2}, "backoff.random_factor: must be a number from 0 to 1 (got 2, an int)"),
        ({"random_factor": NAN}, "backoff.random_factor: must be a number from 0 to 1 (got nan, a float)"),
        ({"reset_after": INF}, "backoff.reset_after: must be None or a finite number of seconds > 0 (got inf, a float)"),
        ({"reset_after": NAN}, "backoff.reset_after: must be None or a finite number of seconds > 0 (got nan, a float)"),
        ({"reset_after": 0}, "backoff.reset_after: must be None or a finite number of seconds > 0 (got 0, an int)"),
        ({"max_restarts": 0}, "backoff.max_restarts: must be None (no limit) or an int >= 1 (got 0, an int)"),
        ({"max_restarts": INF}, "backoff.max_restarts: must be None (no limit) or an int >= 1 (got inf, a float)"),
        ({"stash": NAN}, "backoff.stash: must be an int >= 0 (got nan, a float)"),
        ({"stash": -1}, "backoff.stash: must be an int >= 0 (got -1, an int)"),
    ],
)
def test_bad_backoff_values_name_the_field(fields: dict, expected: str) -> None:
    """Each field is validated, infinite and NaN numbers refused, with what was expected and
    what came."""
    with pytest.raises(InvalidChildSpec) as info:
        Backoff(**fields)

    assert expected == str(info.value)


async def crash(rt: Runtime, sup) -> None:
    (_, pid, _), = await which_children(rt, sup)
    while pid == RESTARTING:  # still pausing: wait for the restart
        await asyncio.sleep(0.05)
        (_, pid, _), = await which_children(rt, sup)
    rt.cast(pid, "boom")
    await rt.wait_idle()


@pytest.mark.asyncio
async def test_restarts_pause_longer_after_each_quick_failure(actor_runtime: Runtime) -> None:
    """Quick successive crashes are restarted after 1, 2, 4 s, not counted against intensity."""
    starts = Journal()
    spec = ChildSpec(id="f", start=(Flaky, (starts,)), backoff=Backoff(min=1, max=8, random_factor=0, reset_after=100))
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=0), [spec])
    for _ in range(3):
        await crash(actor_runtime, sup)
    await asyncio.sleep(10)

    assert [1.0, 2.0, 4.0] == [round(b - a, 0) for a, b in zip(starts, starts[1:])]
    assert actor_runtime.is_alive(sup)


@pytest.mark.asyncio
async def test_pause_resets_after_a_stable_period(actor_runtime: Runtime) -> None:
    """A child that ran for ``reset_after`` restarts after ``min`` again."""
    starts = Journal()
    spec = ChildSpec(id="f", start=(Flaky, (starts,)), backoff=Backoff(min=1, max=8, random_factor=0, reset_after=5))
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec])
    await crash(actor_runtime, sup)
    await crash(actor_runtime, sup)  # second quick failure: 2 s pause
    await asyncio.sleep(10)  # the child runs stably past reset_after
    crashed_at = actor_runtime.now()
    await crash(actor_runtime, sup)
    await asyncio.sleep(5)

    assert [1.0, 2.0] == [round(b - a, 0) for a, b in zip(starts, starts[1:3])]
    assert 1.0 == round(starts[3] - crashed_at, 6)


@pytest.mark.asyncio
async def test_terminate_child_cancels_a_pending_restart(actor_runtime: Runtime) -> None:
    """A child terminated while pausing stays stopped."""
    starts = Journal()
    spec = ChildSpec(id="f", start=(Flaky, (starts,)), backoff=Backoff(min=1, random_factor=0))
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec])
    await crash(actor_runtime, sup)
    await terminate_child(actor_runtime, sup, "f")
    await asyncio.sleep(60)

    assert 1 == len(starts)
    assert [("f", None, "worker")] == list(await which_children(actor_runtime, sup))


class Named(Actor):
    """Remembers the casts it received; crashes on ``boom``."""

    def init(self) -> None:
        self.seen: list = []

    def handle_cast(self, msg):
        if msg == "boom":
            raise RuntimeError(msg)
        self.seen.append(msg)

    def handle_call(self, msg, caller):
        return tuple(self.seen)


async def paused_named_child(rt: Runtime, stash: int) -> object:
    backoff = Backoff(min=5, random_factor=0, stash=stash)
    sup = await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="n", start=(Named, ()), backoff=backoff, name="svc")])
    rt.cast("svc", "boom")
    await rt.wait_idle()
    return sup


@pytest.mark.asyncio
async def test_calls_to_a_pausing_child_fail_fast(actor_runtime: Runtime) -> None:
    """A call to the name of a child waiting for its restart raises ``ChildRestarting`` at once."""
    await paused_named_child(actor_runtime, stash=0)
    start = actor_runtime.now()

    with pytest.raises(ChildRestarting, match=r"child 'n' \('svc'\) is restarting; retry later"):
        await actor_runtime.call("svc", "seen?", timeout=60)
    assert start == actor_runtime.now()


@pytest.mark.asyncio
async def test_casts_during_a_pause_are_stashed_then_delivered_in_order(actor_runtime: Runtime, log_events: list) -> None:
    """Up to ``stash`` casts wait for the restarted child; the rest are dropped and counted."""
    await paused_named_child(actor_runtime, stash=2)
    for n in range(3):
        actor_runtime.cast("svc", n)
    await asyncio.sleep(6)

    assert (0, 1) == await actor_runtime.call("svc", "seen?")
    assert [1] == [e["dropped"] for e in log_events if e["event"] == "casts_dropped_while_restarting"]


class FailsToRestart(Actor):
    """Records the virtual time of each start; every start after the first fails, up to the
    50th (so a supervisor that retried without pausing would still come to an end)."""

    def init(self, starts: list) -> None:
        starts.append(self.runtime.now())
        if 1 < len(starts) < 50:
            raise RuntimeError("cannot start")

    def handle_cast(self, msg):
        raise RuntimeError(msg)


async def crash_after(rt: Runtime, sup, seconds: float) -> float:
    """Let the only child run ``seconds``, then crash it; returns when it crashed."""
    await asyncio.sleep(seconds)
    (_, pid, _), = await which_children(rt, sup)
    rt.cast(pid, "boom")
    return rt.now()


@pytest.mark.asyncio
async def test_failed_starts_wait_growing_pauses_then_the_supervisor_gives_up(actor_runtime: Runtime, log_events: list) -> None:
    """A child that cannot start again is retried after each pause, 1, 2, 4 ... 30 s, however
    long it ran before it crashed; these restarts do not count toward the intensity (1 in 5 s
    here), and after ``max_restarts`` (10 by default) the supervisor gives up: it exits
    ``shutdown``, as when its intensity is reached, and says why."""
    rt = actor_runtime
    starts = Journal()
    spec = ChildSpec(id="f", start=(FailsToRestart, (starts,)), backoff=Backoff(min=1, max=30, random_factor=0))
    sup = await rt.start(Supervisor, SupervisorFlags(intensity=1), [spec])
    crashed_at = await crash_after(rt, sup, 100)

    reason = await rt.wait_exit(sup, timeout=1000)

    assert [1, 3, 7, 15, 31, 61, 91, 121, 151, 181] == [round(t - crashed_at, 6) for t in starts[1:]]
    assert (GAVE_UP, 181) == (reason, round(rt.now() - crashed_at, 6))
    (gave_up,) = [e for e in log_events if e["event"] == "max_restarts_reached"]
    assert ("error", "f", "RuntimeError: cannot start", 10, repr(sup)) == (
        gave_up["log_level"], gave_up["child"], gave_up["reason"], gave_up["max_restarts"], gave_up["supervisor"]
    )


@pytest.mark.asyncio
async def test_without_max_restarts_failed_starts_are_retried_for_ever(actor_runtime: Runtime) -> None:
    """``max_restarts=None`` keeps retrying, every ``max`` seconds once the pauses are capped."""
    rt = actor_runtime
    starts = Journal()
    backoff = Backoff(min=1, max=30, random_factor=0, max_restarts=None)
    sup = await rt.start(Supervisor, SupervisorFlags(intensity=1), [ChildSpec(id="f", start=(FailsToRestart, (starts,)), backoff=backoff)])
    crashed_at = await crash_after(rt, sup, 0)
    await asyncio.sleep(600)

    assert [1, 3, 7, 15, 31, 61, 91] == [round(t - crashed_at, 6) for t in starts[1:8]]
    assert 30 == round(starts[-1] - starts[-2], 6)
    assert rt.is_alive(sup) and [("f", RESTARTING, "worker")] == list(await which_children(rt, sup))


class RunsFor(Actor):
    """Records each start's time, then crashes after running ``runs[n]`` seconds (n-th start)."""

    def init(self, starts: list, runs: tuple) -> None:
        starts.append(self.runtime.now())
        self.send_after(runs[len(starts) - 1], self.pid, "crash")

    def handle_info(self, msg):
        raise RuntimeError(msg)


async def pauses(rt: Runtime, backoff: Backoff, runs: tuple) -> list[float]:
    """The pauses before each restart of a child that runs ``runs`` seconds each time."""
    starts = Journal()
    sup = await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="r", start=(RunsFor, (starts, runs)), backoff=backoff)])
    await asyncio.sleep(sum(runs[:-1]) + 60)
    await rt.stop(sup)
    return [round(b - a - ran, 6) for a, b, ran in zip(starts, starts[1:], runs)]


@pytest.mark.asyncio
async def test_a_run_of_half_way_between_the_pauses_resets_them(actor_runtime: Runtime) -> None:
    """With min 1 and max 9 the pauses reset after a run of 5 s by default: after a 6 s run the
    next pause is 1 s again, after a 4 s run it keeps growing."""
    backoff = Backoff(min=1, max=9, random_factor=0)

    assert [1, 2, 1, 2, 4] == await pauses(actor_runtime, backoff, (0, 0, 6, 4, 0, 1000))


@pytest.mark.asyncio
async def test_max_restarts_counts_quick_crashes_in_a_row(actor_runtime: Runtime) -> None:
    """Restarts in a row are counted whether the start failed or the child crashed soon after
    (before ``reset_after``): the third quick crash under ``max_restarts=3`` ends the supervisor."""
    rt = actor_runtime
    starts = Journal()
    backoff = Backoff(min=1, max=9, random_factor=0, max_restarts=3)
    sup = await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="r", start=(RunsFor, (starts, (1, 1, 1, 1))), backoff=backoff)])

    assert GAVE_UP == await rt.wait_exit(sup, timeout=1000)
    assert [0, 2, 5, 10] == starts
    assert 11 == rt.now()


class NamedFlaky(Named):
    """A ``Named`` whose second start fails."""

    def init(self, starts: list) -> None:
        starts.append(self.runtime.now())
        if len(starts) == 2:
            raise RuntimeError("cannot start")
        super().init()


@pytest.mark.asyncio
async def test_casts_stashed_across_a_failed_start_reach_the_restarted_child(actor_runtime: Runtime, log_events: list) -> None:
    """The name stays held through a failed start, and the casts stashed in both pauses (up to
    ``stash``) are delivered in order to the child that finally starts."""
    rt = actor_runtime
    starts = Journal()
    backoff = Backoff(min=5, random_factor=0, stash=3)
    await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="n", start=(NamedFlaky, (starts,)), backoff=backoff, name="svc")])
    rt.cast("svc", "boom")
    await rt.wait_idle()
    rt.cast("svc", 0)
    await asyncio.sleep(6)  # the restart at 5 s failed; the next is at 15 s
    for n in (1, 2, 3):
        rt.cast("svc", n)
    await asyncio.sleep(10)

    assert [0, 5, 15] == starts
    assert (0, 1, 2) == await rt.call("svc", "seen?")
    assert [1] == [e["dropped"] for e in log_events if e["event"] == "casts_dropped_while_restarting"]
