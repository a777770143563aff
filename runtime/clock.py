"""The virtual clock: an asyncio event loop whose time jumps to the next timer when idle.

Tests and simulations must not wait for real time, and a seeded run must replay exactly. So
under the virtual clock the loop's ``time()`` is a number we own: when nothing is runnable
(the loop would block in ``select`` until its next timer) the loop instead moves time forward
to that timer and goes on at once. Everything built on ``loop.time()`` follows: asyncio and
anyio sleeps and timeouts, ``send_after``, call timeouts, restart backoff.

Real work on other threads (``run_in_executor``) is the one thing time cannot skip past: while
any is outstanding the loop blocks for real, so a kernel running in a worker thread is never
overtaken by a timeout that virtual time would have fired early.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Future as ConcurrentFuture
from typing import Any, Literal, TypeVar

__all__ = ["Clock", "VirtualEventLoop", "run"]

T = TypeVar("T")

Clock = Literal["real", "virtual"]


class _JumpingSelector(selectors.DefaultSelector):
    """A selector that turns "block until the next timer" into a jump of virtual time."""

    def __init__(self, loop_time: list[float], threads_pending: list[int]) -> None:
        super().__init__()
        self._now = loop_time
        self._threads_pending = threads_pending

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if self._threads_pending[0] or timeout is None:
            # Only real work or an outside wake-up can make progress now: wait for it.
            return super().select(timeout)
        self._now[0] += timeout
        return []


class VirtualEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time, starting at 0.0.

    Use it wherever a loop factory is taken: ``asyncio.Runner(loop_factory=VirtualEventLoop)``,
    ``anyio.run(..., backend_options={"loop_factory": VirtualEventLoop})``, pytest-asyncio's
    ``pytest_asyncio_loop_factories`` hook, or ``neural_actors.run(..., clock="virtual")``.
    """

    def __init__(self) -> None:
        self._virtual_now = [0.0]
        self._threads_pending = [0]
        super().__init__(selector=_JumpingSelector(self._virtual_now, self._threads_pending))

    def time(self) -> float:
        return self._virtual_now[0]

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by ``seconds`` (timers now due run at the next turn)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0 (got {seconds!r})")
        self._virtual_now[0] += seconds

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._threads_pending[0] += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _: asyncio.Future[Any] | ConcurrentFuture[Any]) -> None:
        self._threads_pending[0] -= 1


def is_virtual(loop: asyncio.AbstractEventLoop) -> bool:
    """Tell whether ``loop`` runs on virtual time."""
    return isinstance(loop, VirtualEventLoop)


def run(main: Callable[[], Coroutine[Any, Any, T]], *, clock: Clock = "real", debug: bool = False) -> T:
    """Run ``main()`` to completion on a new event loop with the chosen clock.

    Args:
        main: an async function taking no arguments.
        clock: ``"real"`` for wall time, ``"virtual"`` for time that jumps when idle.
        debug: asyncio debug mode.

    Returns:
        What ``main()`` returned.
    """
    if clock not in ("real", "virtual"):
        raise ValueError(f"clock must be 'real' or 'virtual' (got {clock!r})")
    factory = VirtualEventLoop if clock == "virtual" else None
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        return runner.run(main())
