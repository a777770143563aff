"""The virtual clock: time jumps when idle, stands still for thread work, fails on deadlock."""

import asyncio
import functools
import math
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from neural_actors.runtime import Deadlock, VirtualEventLoop

YEAR = 365 * 86_400


def run_virtual(
    main: Callable[[], Coroutine[Any, Any, Any]], *, deadlock_after: float | None = 0.05
) -> Any:
    """Run ``main()`` on a fresh virtual loop with a short deadlock grace, as asyncio.run does."""
    factory = functools.partial(VirtualEventLoop, deadlock_after=deadlock_after)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


async def wait_for_nobody(future: asyncio.Future[None]) -> None:
    await future


WAIT_LINE = wait_for_nobody.__code__.co_firstlineno + 1


def waits_for_nobody(task: str) -> str:
    """The line a ``Deadlock`` gives a task stuck in ``wait_for_nobody``."""
    return f"task {task!r} (wait_for_nobody) waits in wait_for_nobody at {__file__}:{WAIT_LINE}"


async def two_tasks_waiting_for_nobody() -> None:
    future = asyncio.get_running_loop().create_future()
    await asyncio.create_task(wait_for_nobody(future), name="waiter")


# Virtual time ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sleeping_a_day_takes_no_real_time() -> None:
    """A day of ``asyncio.sleep`` completes at once, at virtual time 86400."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    await asyncio.sleep(86_400)

    assert 86_400 == loop.time() - start


@pytest.mark.asyncio
async def test_timeouts_fire_at_their_virtual_deadline() -> None:
    """``asyncio.timeout`` raises exactly at its deadline."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.sleep(3600)

    assert 30 == loop.time() - start


@pytest.mark.asyncio
@pytest.mark.parametrize("years", [1, 10])
async def test_sleeping_for_years_returns_on_time(years: int) -> None:
    """Sleeps past 2**24 s, where float spacing exceeds asyncio's clock resolution, still return."""
    loop = asyncio.get_running_loop()
    start, real_start = loop.time(), time.perf_counter()

    await asyncio.sleep(years * YEAR)

    assert years * YEAR == pytest.approx(loop.time() - start, abs=1e-6)
    # A loop that cannot fire the timer spins for ever; this generous bound makes that a failure.
    assert time.perf_counter() - real_start < 10


@pytest.mark.asyncio
async def test_timers_far_in_virtual_time_fire_in_order_at_their_time() -> None:
    """A decade in, timers (one due at once) fire in deadline order, each at its own time."""
    loop = asyncio.get_running_loop()
    loop.advance(10 * YEAR)
    start = loop.time()
    fired: list[tuple[float, float]] = []
    delays = [3.0, 0.0, 1e-6, 2.5, 1.0, 86_400.5, 0.5]
    for delay in delays:
        loop.call_later(delay, lambda d=delay: fired.append((d, loop.time() - start)))

    await asyncio.sleep(86_401)

    assert sorted(delays) == [delay for delay, _ in fired]
    for delay, at in fired:
        assert delay == pytest.approx(at, abs=1e-6)


def test_advance_moves_time_forward_and_refuses_negative() -> None:
    """``advance`` adds to virtual time and rejects going back."""
    loop = VirtualEventLoop()
    try:
        loop.advance(5)
        assert 5.0 == loop.time()
        with pytest.raises(ValueError) as err:
            loop.advance(-1)

        assert "seconds must be >= 0 (got -1)" == str(err.value)
    finally:
        loop.close()


@pytest.mark.parametrize("seconds", [math.nan, math.inf])
def test_advance_refuses_nan_and_infinity(seconds: float) -> None:
    """Time that is not a finite number would stop every timer: ``advance`` refuses it."""
    loop = VirtualEventLoop()
    try:
        with pytest.raises(ValueError) as err:
            loop.advance(seconds)

        assert f"seconds must be a finite number (got {seconds!r})" == str(err.value)
        assert 0.0 == loop.time()
    finally:
        loop.close()


# Threads -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_thread_work_is_not_skipped_over() -> None:
    """While an executor thread works, virtual time does not jump past a pending timer."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    timer = asyncio.ensure_future(asyncio.sleep(1000))

    await loop.run_in_executor(None, time.sleep, 0.01)

    assert not timer.done()
    assert loop.time() - start < 1000
    timer.cancel()


def test_executor_work_outlasting_the_grace_is_not_a_deadlock() -> None:
    """A thread finishing well after the grace wakes the loop: work in flight is counted."""

    async def main() -> str:
        await asyncio.to_thread(time.sleep, 0.2)
        return "thread done"

    assert "thread done" == run_virtual(main, deadlock_after=0.01)


def test_closing_waits_for_abandoned_executor_work_without_a_deadlock() -> None:
    """Closing joins a thread whose future was cancelled; that wait is not taken for a deadlock."""

    async def main() -> None:
        asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.2).cancel()

    run_virtual(main, deadlock_after=0.01)


# Deadlocks ---------------------------------------------------------------------------------


def test_tasks_waiting_on_a_future_nobody_resolves_raise_deadlock() -> None:
    """The error names each waiting task, its coroutine and the line it waits at, sorted."""
    real_start = time.perf_counter()

    with pytest.raises(Deadlock) as err:
        run_virtual(two_tasks_waiting_for_nobody, deadlock_after=0.05)

    main_line = two_tasks_waiting_for_nobody.__code__.co_firstlineno + 2
    waits = (
        f"task 'Task-{_task_number(err.value)}' (two_tasks_waiting_for_nobody) waits in "
        f"two_tasks_waiting_for_nobody at {__file__}:{main_line}",
        waits_for_nobody("waiter"),
    )
    assert waits == err.value.waits
    assert 0.05 == err.value.grace
    assert (
        "no task can run: no timer is pending, no executor work is in flight, and nothing woke the "
        "loop within 0.05 real seconds (if another thread or process will, give VirtualEventLoop a "
        "longer deadlock_after, or None). Waiting:\n  " + "\n  ".join(waits)
    ) == str(err.value)
    # Raised after the short grace, not the default 5 s; the bound is loose against slow machines.
    assert time.perf_counter() - real_start < 4


def _task_number(deadlock: Deadlock) -> str:
    """The number asyncio gave the main task, which depends on how many tasks ran before."""
    return deadlock.waits[0].split("'")[1].removeprefix("Task-")


def test_a_deadlocked_loop_still_closes_cancelling_its_tasks() -> None:
    """After a ``Deadlock`` the runner's cleanup cancels the waiting tasks without a second one."""
    cancelled: list[str] = []

    async def wait_then_note_cancel() -> None:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            cancelled.append("waiter")
            raise

    runner = asyncio.Runner(loop_factory=functools.partial(VirtualEventLoop, deadlock_after=0.01))
    with pytest.raises(Deadlock):
        runner.run(wait_then_note_cancel())

    runner.close()

    assert ["waiter"] == cancelled


def test_waiting_tasks_are_listed_in_sorted_order() -> None:
    """Tasks are listed sorted, whatever order they started in, so the message is stable."""
    names = ["waiter-5", "waiter-1", "waiter-4", "waiter-2", "waiter-3"]

    async def main() -> None:
        future = asyncio.get_running_loop().create_future()
        for name in names:
            asyncio.create_task(wait_for_nobody(future), name=name)
        await wait_for_nobody(future)

    with pytest.raises(Deadlock) as err:
        run_virtual(main)

    assert [waits_for_nobody(name) for name in sorted(names)] == list(err.value.waits[1:])


def test_describers_add_their_lines_after_the_tasks() -> None:
    """Lines of every added describer follow the tasks, in order; removed ones are left out."""

    def pending_calls() -> list[str]:
        return ["<0.0.3> waits for a reply from <0.0.4> to 'get'"]

    def removed() -> list[str]:
        return ["never shown"]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        loop.add_deadlock_describer(pending_calls)
        loop.add_deadlock_describer(removed)
        loop.add_deadlock_describer(lambda: iter(["timer wheel is empty"]))
        loop.remove_deadlock_describer(removed)
        await wait_for_nobody(loop.create_future())

    with pytest.raises(Deadlock) as err:
        run_virtual(main)

    expected = ("<0.0.3> waits for a reply from <0.0.4> to 'get'", "timer wheel is empty")
    assert expected == err.value.waits[1:]


def test_a_failing_describer_does_not_hide_the_deadlock() -> None:
    """A describer that raises is named with its error's type; the other lines still come."""

    def broken() -> list[str]:
        raise ZeroDivisionError("division by zero")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualEventLoop)
        loop.add_deadlock_describer(broken)
        loop.add_deadlock_describer(lambda: ["still here"])
        await asyncio.create_task(wait_for_nobody(loop.create_future()), name="waiter")

    with pytest.raises(Deadlock) as err:
        run_virtual(main)

    expected = (
        "(deadlock describer test_a_failing_describer_does_not_hide_the_deadlock.<locals>.broken "
        "failed with ZeroDivisionError)",
        "still here",
    )
    assert expected == err.value.waits[-2:]
    assert waits_for_nobody("waiter") in err.value.waits


def test_removing_an_unknown_describer_is_an_error() -> None:
    """Removing a describer that was never added says so."""
    loop = VirtualEventLoop()
    try:
        with pytest.raises(ValueError) as err:
            loop.remove_deadlock_describer(list)

        assert "<class 'list'> is not a deadlock describer of this loop" == str(err.value)
    finally:
        loop.close()


def test_a_wake_up_from_another_thread_within_the_grace_is_not_a_deadlock() -> None:
    """``call_soon_threadsafe`` from another thread counts, as anyio's portal and workers use it."""

    async def main() -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        threading.Timer(0.05, loop.call_soon_threadsafe, (future.set_result, "woken")).start()
        return await future

    assert "woken" == run_virtual(main, deadlock_after=30)


def test_without_a_grace_the_loop_waits_for_outside_wake_ups_for_ever() -> None:
    """``deadlock_after=None`` blocks as a plain loop does, however late the wake-up comes."""

    async def main() -> str:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        threading.Timer(0.2, loop.call_soon_threadsafe, (future.set_result, "woken")).start()
        return await future

    assert "woken" == run_virtual(main, deadlock_after=None)


@pytest.mark.parametrize("grace", [-1.0, math.nan, math.inf])
def test_the_grace_must_be_a_finite_number_or_none(grace: float) -> None:
    """A grace that is negative, NaN or infinite is refused with what was expected."""
    with pytest.raises(ValueError) as err:
        VirtualEventLoop(deadlock_after=grace)

    expected = f"deadlock_after must be None or a finite number of seconds >= 0 (got {grace!r})"
    assert expected == str(err.value)


@pytest.mark.asyncio
async def test_the_suite_runs_on_a_virtual_loop_with_the_default_grace() -> None:
    """tests/conftest.py gives every asyncio test a virtual loop that fails on deadlock."""
    loop = asyncio.get_running_loop()

    assert isinstance(loop, VirtualEventLoop)
    assert 5.0 == loop.deadlock_after
