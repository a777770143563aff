"""The virtual clock: an asyncio event loop whose time jumps to the next timer when idle.

Tests and simulations must not wait for real time, and a seeded run must replay exactly. So
under the virtual clock the loop's ``time()`` is a number we own: when nothing is runnable
(the loop would block in ``select`` until its next timer) the loop instead moves time forward
to that timer and goes on at once. Everything built on ``loop.time()`` follows: asyncio and
anyio sleeps and timeouts, ``send_after``, call timeouts, restart backoff. Timers fire at any
virtual time, a simulated decade included.

Real work on other threads (``run_in_executor``, which ``asyncio.to_thread`` uses) is the one
thing time cannot skip past: while any is outstanding the loop blocks for real, so a kernel
running in a worker thread is never overtaken by a timeout that virtual time would have fired
early.

A virtual loop fails instead of hanging. When it would block for ever (nothing runnable, no
timer pending, no executor work in flight) no task can ever run again on its own, so the loop
raises ``Deadlock`` naming every waiting task and where it waits, plus what higher layers add
through ``add_deadlock_describer`` (the runtime names its pending calls). Only one kind of
wake-up is invisible to that count: one from outside the loop, such as an anyio worker thread,
another thread's ``call_soon_threadsafe`` (anyio's blocking portal), a socket or a signal. So
before raising, the loop blocks for real for a grace of ``deadlock_after`` seconds (5 by default)
and raises only if nothing arrived; ``deadlock_after=None`` turns the check off for loops that
legitimately idle on outside events, such as one serving a blocking portal.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import selectors
import signal
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import Executor
from concurrent.futures import Future as ConcurrentFuture
from types import FrameType
from typing import Any, Literal, TypeVar, TypeVarTuple, Unpack

import structlog

from .errors import Deadlock

__all__ = ["Clock", "VirtualEventLoop", "run"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

Clock = Literal["real", "virtual"]

log = structlog.get_logger("neural_actors.runtime")


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that turns "block until the next timer" into a jump of virtual time.

    And "block for ever" into a ``Deadlock``, after the loop's grace for outside wake-ups.
    """

    def __init__(self, loop: VirtualEventLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        loop = self._loop
        if loop._threads_working:
            # Only real work can make progress now: wait for it while time stands still.
            return super().select(timeout)
        if timeout is not None:
            loop._virtual_now += timeout
            return []
        grace = loop.deadlock_after
        ready = super().select(grace)
        if ready or grace is None:
            return ready
        raise loop._deadlock(grace)


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time, from 0.0, that raises ``Deadlock`` instead of hanging.

    Use it wherever a loop factory is taken: ``asyncio.Runner(loop_factory=VirtualEventLoop)``,
    ``anyio.run(..., backend_options={"loop_factory": VirtualEventLoop})``, pytest-asyncio's
    ``pytest_asyncio_loop_factories`` hook, or ``neural_actors.run(..., clock="virtual")``.

    Args:
        deadlock_after: real seconds to wait for an outside wake-up (another thread, a socket,
            a signal) before raising ``Deadlock``; ``None`` waits for ever, as a plain loop does.

    Raises:
        ValueError: if ``deadlock_after`` is negative, NaN or infinite.
    """

    def __init__(self, *, deadlock_after: float | None = 5.0) -> None:
        self._deadlock_after = deadlock_after
        self._virtual_now = 0.0
        self._threads_working = 0
        self._deadlock_describers: list[Callable[[], Iterable[str]]] = []
        super().__init__(selector=_JumpingSelector(self))
        if deadlock_after is not None and not 0 <= deadlock_after < math.inf:
            self.close()  # a loop left half made would complain when collected
            raise ValueError(
                "deadlock_after must be None or a finite number of seconds >= 0 "
                f"(got {deadlock_after!r})"
            )

    @property
    def deadlock_after(self) -> float | None:
        """Real seconds the idle loop waits for an outside wake-up before raising ``Deadlock``."""
        return self._deadlock_after

    def time(self) -> float:
        return self._virtual_now

    # asyncio's ``_run_once`` runs a timer when ``when < time() + _clock_resolution``
    # (base_events.py, unchanged since Python 3.4), with the monotonic clock's resolution (1e-9 s).
    # From 2**24 virtual seconds (194 days) half the spacing of floats near ``time()`` exceeds
    # that, the sum rounds back to ``time()``, and a timer due exactly now (every jump lands on
    # one) would never fire: the loop would spin. So the resolution this loop reports is never
    # finer than the float spacing at now, which makes "due" mean ``when <= time()`` at any time.
    @property
    def _clock_resolution(self) -> float:
        return max(self._monotonic_resolution, math.ulp(self._virtual_now))

    @_clock_resolution.setter
    def _clock_resolution(self, resolution: float) -> None:
        self._monotonic_resolution = resolution

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` (timers now due run at the next turn).

        Raises:
            ValueError: if ``seconds`` is negative, NaN or infinite.
        """
        if not math.isfinite(seconds):
            raise ValueError(f"seconds must be a finite number (got {seconds!r})")
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0 (got {seconds!r})")
        self._virtual_now += seconds

    # Work on other threads ---------------------------------------------------------------------

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[Ts]], T], *args: Unpack[Ts]
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._threads_working += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: asyncio.Future[Any] | ConcurrentFuture[Any]) -> None:
        self._threads_working -= 1

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        # asyncio joins the executor's workers on a thread of its own, outside run_in_executor;
        # count it too, so waiting for a long kernel to finish is not taken for a deadlock.
        self._threads_working += 1
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._threads_working -= 1

    # Deadlocks ---------------------------------------------------------------------------------

    def add_deadlock_describer(self, describer: Callable[[], Iterable[str]]) -> None:
        """Have ``Deadlock`` messages include the lines ``describer()`` returns.

        Higher layers name what they wait on this way, e.g. the runtime's pending calls. The lines
        follow the waiting tasks, in the order describers were added. A describer that raises
        is named with its error's type instead, so it never hides the deadlock.
        """
        self._deadlock_describers.append(describer)

    def remove_deadlock_describer(self, describer: Callable[[], Iterable[str]]) -> None:
        """Stop including ``describer``'s lines in ``Deadlock`` messages.

        Raises:
            ValueError: if ``describer`` was not added.
        """
        try:
            self._deadlock_describers.remove(describer)
        except ValueError:
            raise ValueError(f"{describer!r} is not a deadlock describer of this loop") from None

    def _deadlock(self, grace: float) -> Deadlock:
        tasks = sorted(_where_task_waits(task) for task in asyncio.all_tasks(self))
        notes = [line for describer in self._deadlock_describers for line in _described(describer)]
        return Deadlock([*tasks, *notes], grace)


def _where_task_waits(task: asyncio.Task[Any]) -> str:
    """Name a task, its coroutine, and the innermost line it is suspended at."""
    coro = task.get_coro()
    coro_name = getattr(coro, "__qualname__", type(coro).__qualname__)
    line = f"task {task.get_name()!r} ({coro_name}) waits"
    stack = task.get_stack()
    if not stack:
        return line
    frame = stack[-1]
    return f"{line} in {frame.f_code.co_qualname} at {frame.f_code.co_filename}:{frame.f_lineno}"


def _described(describer: Callable[[], Iterable[str]]) -> list[str]:
    """The lines of one describer, or a line naming its failure."""
    try:
        return [str(line) for line in describer()]
    except Exception as error:
        name = getattr(describer, "__qualname__", type(describer).__qualname__)
        return [f"(deadlock describer {name} failed with {type(error).__name__})"]


def is_virtual(loop: asyncio.AbstractEventLoop) -> bool:
    """Tell whether ``loop`` runs on virtual time."""
    return isinstance(loop, VirtualEventLoop)


# Running a program ---------------------------------------------------------------------------


def run(
    main: Callable[[], Coroutine[Any, Any, T]] | Coroutine[Any, Any, T],
    *,
    clock: Clock = "real",
    debug: bool = False,
) -> T:
    """Run ``main`` to completion on a new event loop with the chosen clock.

    In the main thread, SIGINT and SIGTERM stop the program cleanly: the first cancels ``main``,
    so ``async with Runtime()`` blocks shut down in order, and then ``run`` raises
    ``SystemExit(0)``; a second signal during that shutdown exits at once with status
    128 + signal number, without cleanup. The previous handlers are restored afterwards.

    Args:
        main: an async function taking no arguments, ``run(main)``, or its coroutine,
            ``run(main())``.
        clock: ``"real"`` for wall time, ``"virtual"`` for time that jumps when idle.
        debug: asyncio debug mode.

    Returns:
        What ``main`` returned.

    Raises:
        TypeError: if ``main`` is neither an async function nor a coroutine.
        ValueError: if ``clock`` is not ``"real"`` or ``"virtual"``.
        RuntimeError: if called from a running event loop.
        SystemExit: with status 0, after SIGINT or SIGTERM stopped ``main``.
    """
    coro = _main_coroutine(main, clock)
    factory = VirtualEventLoop if clock == "virtual" else None
    runner = asyncio.Runner(debug=debug, loop_factory=factory)
    task = runner.get_loop().create_task(coro)
    stop = _SignalStop(task)
    # The handlers stay until the runner has closed: its cleanup may be what a second signal cuts.
    with stop.handling(), runner:
        try:
            result = runner.get_loop().run_until_complete(task)
        except asyncio.CancelledError:
            if stop.signum is None:
                raise
    if stop.signum is not None:
        raise SystemExit(0)
    return result


def _main_coroutine(main: Any, clock: str) -> Coroutine[Any, Any, Any]:
    """The coroutine ``run`` runs, from ``main`` or ``main()``, once the call is known valid."""
    refusal: Exception | None = None
    if clock not in ("real", "virtual"):
        refusal = ValueError(f"clock must be 'real' or 'virtual' (got {clock!r})")
    elif _in_running_loop():
        refusal = RuntimeError(
            "run() cannot be called from a running event loop; await main() there instead"
        )
    if refusal is not None:
        if asyncio.iscoroutine(main):
            main.close()  # it will never run; closing it spares a "never awaited" warning
        raise refusal
    expected = "main must be an async function or a coroutine, as in run(main) or run(main())"
    if asyncio.iscoroutine(main):
        return main
    if not callable(main):
        raise TypeError(f"{expected} (got {main!r} that is a {type(main)!r})")
    coro = main()
    if not asyncio.iscoroutine(coro):
        name = getattr(main, "__qualname__", repr(main))
        raise TypeError(
            f"{expected} (got {name}, which returned {coro!r}; define it with 'async def')"
        )
    return coro


def _in_running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _SignalStop:
    """SIGINT and SIGTERM for ``run``: the first cancels the main task, a second exits at once."""

    def __init__(self, main: asyncio.Task[Any]) -> None:
        self.main = main
        self.signum: int | None = None

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """Install the handlers for the block, in the main thread only, then put the old back."""
        previous: dict[int, Any] = {}
        try:
            if threading.current_thread() is threading.main_thread():
                for signum in (signal.SIGINT, signal.SIGTERM):
                    # An embedded interpreter may refuse handlers, as asyncio.Runner allows for.
                    with contextlib.suppress(ValueError):
                        previous[signum] = signal.signal(signum, self._on_signal)
            yield
        finally:
            for number, handler in previous.items():
                # None: the old handler was not installed from Python and cannot be put back.
                signal.signal(number, signal.SIG_DFL if handler is None else handler)

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes, maybe in the middle of the loop's own
        # code, so it only hands the cancellation to the loop, which a thread-safe call wakes.
        if self.signum is not None:
            os._exit(128 + signum)
        self.signum = signum
        loop = self.main.get_loop()
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._cancel_main, signum)

    def _cancel_main(self, signum: int) -> None:
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        self.main.cancel()
