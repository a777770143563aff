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


def test_bad_backoff_values_name_the_field() -> None:
    """Each field is validated with what was expected."""
    with pytest.raises(InvalidChildSpec, match=r"^backoff.min: 0 must be seconds > 0$"):
        Backoff(min=0)
    with pytest.raises(InvalidChildSpec, match=r"^backoff.max: 1 must be >= min \(2\)$"):
        Backoff(min=2, max=1)
    with pytest.raises(InvalidChildSpec, match=r"^backoff.random_factor: 2 must be between 0 and 1$"):
        Backoff(random_factor=2)


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
    starts: list = []
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
    starts: list = []
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
    starts: list = []
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
