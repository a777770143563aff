"""The fault plan's own timer queue: every firing, heal, delayed arrival and release of a held
message, in (time, creation order), behind one loop timer.

Why not one ``loop.call_at`` each: asyncio orders timers due at the same instant by its heap's
shape, which no one promises; a plan whose crash and drop fire at the same virtual second must
apply them in the same order in every run. Here ties go in creation order, which the seeded
run fixes. One armed timer also keeps thousands of delayed messages cheap.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any, final

__all__ = ["Timeline"]


@final
class Timeline:
    """Callbacks at loop times, run in (time, creation order)."""

    __slots__ = ("_cancelled", "_heap", "_live", "_loop", "_sequence", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._sequence = itertools.count()
        self._live: set[int] = set()
        self._cancelled: set[int] = set()
        self._timer: asyncio.TimerHandle | None = None

    def now(self) -> float:
        return self._loop.time()

    def at(self, when: float, callback: Callable[..., None], *args: Any) -> int:
        """Run ``callback(*args)`` at loop time ``when``; returns a key for ``cancel``."""
        key = next(self._sequence)
        self._live.add(key)
        heapq.heappush(self._heap, (when, key, callback, args))
        self._arm()
        return key

    def cancel(self, key: int) -> None:
        """Forget the callback ``key`` (no error if it ran)."""
        if key in self._live:
            self._live.discard(key)
            self._cancelled.add(key)

    def next_time(self) -> float | None:
        """When the next callback is due, or ``None``."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def close(self) -> None:
        """Drop every callback and the loop timer."""
        self._heap.clear()
        self._live.clear()
        self._cancelled.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and heap[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(heap)[1])

    def _arm(self) -> None:
        self._drop_cancelled()
        if not self._heap:
            return
        first = self._heap[0][0]
        if self._timer is not None:
            if self._timer.when() <= first:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(first, self._run_due)

    def _run_due(self) -> None:
        self._timer = None
        heap = self._heap
        now = self._loop.time()
        while heap and heap[0][0] <= now:
            _, key, callback, args = heapq.heappop(heap)
            if key in self._cancelled:
                self._cancelled.discard(key)
                continue
            self._live.discard(key)
            callback(*args)
        self._arm()
