"""Micro-batching for model actors: many small requests, one kernel call.

A model actor hands each request's rows to its ``MicroBatcher`` with a *waiter* (who gets the
answer: a caller, or a router expecting a message). The batcher collects requests until it
holds ``max_batch`` rows or the oldest has waited ``max_wait`` seconds (with ``max_wait = 0``:
until the requests already in the mailbox are in, a flush message queued behind them), makes
one kernel call on their rows stacked, and gives each waiter its own rows of the result (views
of one frozen array: no copy per waiter).

A batch of ``offload_from`` rows or more runs on a worker thread (the kernels release the
GIL), so the event loop keeps serving other actors meanwhile; while it runs, new requests
collect, and go together as the next batch (continuous batching). Smaller batches run inline on
one numba thread: spreading a few rows over threads costs more than it gains, and on a busy
machine a parallel region waits for descheduled threads.

A kernel error (a NaN row, say) fails only the requests it belongs to: a batch that fails is
run again one request at a time, so one bad request does not fail its neighbours.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, Protocol, final

import attrs
import numba
import numpy as np

from neural_actors.runtime import Actor, TimerRef, freeze, message

__all__ = ["Batch", "BatchStatistics", "Collector", "MicroBatcher", "Waiter", "check_batching"]

Kernel = Callable[[np.ndarray], np.ndarray]


class Waiter(Protocol):
    """Who gets one request's answer: ``reply`` with its rows, or ``fail`` with the error."""

    def reply(self, value: Any) -> None: ...

    def fail(self, error: BaseException) -> None: ...


@final
@message
class _Flush:
    """The batch opened as ``generation`` is due."""

    generation: int


@final
@message
class _Done:
    """The offloaded batch ``ticket`` has finished on its thread."""

    ticket: int


@final
@message
class BatchStatistics:
    """What a batcher did: requests and rows served, kernel calls (batches), how many of them
    ran on a worker thread, the largest batch, requests failed, and rows waiting now."""

    requests: int
    rows: int
    batches: int
    offloaded: int
    largest: int
    failed: int
    waiting: int


def check_batching(max_batch: object, max_wait: object, offload_from: object) -> None:
    """Raise ``ValueError`` naming the first option out of range."""
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
        raise ValueError(f"max_batch must be an int >= 1 (got {max_batch!r})")
    if isinstance(max_wait, bool) or not isinstance(max_wait, (int, float)) or not 0 <= max_wait < float("inf"):
        raise ValueError(f"max_wait must be finite seconds >= 0 (got {max_wait!r})")
    if isinstance(offload_from, bool) or not isinstance(offload_from, int) or offload_from < 1:
        raise ValueError(f"offload_from must be an int >= 1 (got {offload_from!r})")


@final
@attrs.define(eq=False)
class Batch:
    """Requests taken together: each one's waiter, its row count, and its rows."""

    waiters: list[Waiter]
    sizes: list[int]
    rows: list[np.ndarray]

    def stacked(self) -> np.ndarray:
        """The batch's rows as one array (a lone request's rows as they are: no copy)."""
        return self.rows[0] if len(self.rows) == 1 else np.concatenate(self.rows)

    def spans(self) -> list[tuple[int, int]]:
        """Each request's rows in ``stacked()``, as ``(start, stop)``."""
        ends = list(itertools.accumulate(self.sizes))
        return list(zip([0, *ends[:-1]], ends, strict=True))


class Collector:
    """Collects requests for ``actor`` and hands them to ``flush`` as batches.

    A batch is due when it holds ``max_batch`` rows, or when its first request has waited
    ``max_wait`` seconds (0: when a flush message queued behind the requests already in the
    mailbox comes up, so no request is delayed for a later one). While ``paused`` (the owner's
    previous batch still runs) requests collect; ``resume`` flushes them.

    The actor forwards its ``handle_info`` messages to ``handle_info`` first.
    """

    def __init__(self, actor: Actor, flush: Callable[[Batch], None], *, max_batch: int, max_wait: float) -> None:
        check_batching(max_batch, max_wait, 1)
        self._actor = actor
        self._flush_batch = flush
        self._max_batch = max_batch
        self._max_wait = float(max_wait)
        self._open = Batch([], [], [])
        self.waiting_rows = 0
        self.paused = False
        self._generation = 0
        self._timer: TimerRef | None = None

    def add(self, waiter: Waiter, x: np.ndarray) -> None:
        """Queue ``x``'s rows for ``waiter``; flush now if the batch is full."""
        self._open.waiters.append(waiter)
        self._open.sizes.append(len(x))
        self._open.rows.append(x)
        self.waiting_rows += len(x)
        if self.paused:
            return
        if self.waiting_rows >= self._max_batch:
            self.flush()
        elif len(self._open.waiters) == 1:
            self._arm()

    def handle_info(self, msg: Any) -> bool:
        """Handle the collector's own messages; False for anything else."""
        if type(msg) is not _Flush:
            return False
        if msg.generation == self._generation and not self.paused and self._open.waiters:
            self._timer = None
            self.flush()
        return True

    def resume(self) -> None:
        """Stop pausing and flush what collected meanwhile."""
        self.paused = False
        if self._open.waiters:
            self.flush()

    def flush(self) -> None:
        """Hand over batches of up to ``max_batch`` rows while unpaused; a remainder smaller
        than a batch waits for more."""
        if self._timer is not None:
            self._actor.cancel_timer(self._timer)
            self._timer = None
        self._generation += 1  # a flush already queued for the requests taken now is stale
        while self._open.waiters and not self.paused:
            self._flush_batch(self._take())
            if self._open.waiters and self.waiting_rows < self._max_batch:
                self._arm()
                break

    def _arm(self) -> None:
        self._generation += 1
        flush = _Flush(self._generation)
        if self._max_wait > 0:
            self._timer = self._actor.send_after(self._max_wait, self._actor.pid, flush)
        else:
            self._actor.send(self._actor.pid, flush)

    def _take(self) -> Batch:
        """The next batch: requests in order up to ``max_batch`` rows (at least one)."""
        open_ = self._open
        count, rows = 0, 0
        while count < len(open_.sizes) and (count == 0 or rows + open_.sizes[count] <= self._max_batch):
            rows += open_.sizes[count]
            count += 1
        self._open = Batch(open_.waiters[count:], open_.sizes[count:], open_.rows[count:])
        self.waiting_rows -= rows
        return Batch(open_.waiters[:count], open_.sizes[:count], open_.rows[:count])


class MicroBatcher:
    """Collects requests for ``actor`` and runs ``kernel`` on them in batches.

    The actor forwards its ``handle_info`` messages to ``handle_info`` first (which takes the
    batcher's own and says so).

    Args:
        actor: the actor that owns the batcher (its timers and messages to itself).
        kernel: rows in, rows out; a pure function that releases the GIL.
        max_batch: rows per kernel call at most (a single bigger request runs alone).
        max_wait: seconds the first request of a batch waits for more; 0: only for those
            already in the mailbox.
        offload_from: batches of this many rows or more run on a worker thread.
    """

    def __init__(self, actor: Actor, kernel: Kernel, *, max_batch: int, max_wait: float, offload_from: int) -> None:
        check_batching(max_batch, max_wait, offload_from)
        self._actor = actor
        self._kernel = kernel
        self._offload_from = offload_from
        self._collector = Collector(actor, self._run, max_batch=max_batch, max_wait=max_wait)
        self._busy: tuple[int, Batch, asyncio.Future[np.ndarray]] | None = None
        self._tickets = itertools.count()
        self._requests = self._rows = self._batches = self._offloaded = self._largest = self._failed = 0

    def add(self, waiter: Waiter, x: np.ndarray) -> None:
        """Queue ``x``'s rows for ``waiter``."""
        self._requests += 1
        self._collector.add(waiter, x)

    def handle_info(self, msg: Any) -> bool:
        """Handle the batcher's own messages; False for anything else."""
        if type(msg) is _Done:
            self._finish(msg.ticket)
            return True
        return self._collector.handle_info(msg)

    def statistics(self) -> BatchStatistics:
        return BatchStatistics(self._requests, self._rows, self._batches, self._offloaded, self._largest,
                               self._failed, self._collector.waiting_rows)

    def _run(self, batch: Batch) -> None:
        rows = sum(batch.sizes)
        self._batches += 1
        self._rows += rows
        self._largest = max(self._largest, rows)
        if rows >= self._offload_from:
            self._offload(batch)
        else:
            self._run_inline(batch)

    def _run_inline(self, batch: Batch) -> None:
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # thread-local: the loop thread's count is put back below
        try:
            y = self._kernel(batch.stacked())
        except ValueError as error:
            self._failed_batch(batch, error)
            return
        finally:
            numba.set_num_threads(threads)
        self._deliver(batch, y)

    def _offload(self, batch: Batch) -> None:
        self._offloaded += 1
        ticket = next(self._tickets)
        future = asyncio.get_running_loop().run_in_executor(None, self._kernel, batch.stacked())
        self._busy = (ticket, batch, future)
        self._collector.paused = True  # what comes meanwhile goes together as the next batch
        actor = self._actor
        # the callback runs on the loop's thread; if the actor died meanwhile, the message is
        # a dead letter and the result is dropped with the batcher
        future.add_done_callback(lambda _: actor.send(actor.pid, _Done(ticket)))

    def _finish(self, ticket: int) -> None:
        if self._busy is None or self._busy[0] != ticket:
            return
        _, batch, future = self._busy
        self._busy = None
        error = future.exception()
        if error is None:
            self._deliver(batch, future.result())
        elif isinstance(error, ValueError):
            self._failed_batch(batch, error)
        else:
            raise error  # a bug, not a bad request: the actor crashes and is restarted
        self._collector.resume()

    def _deliver(self, batch: Batch, y: np.ndarray) -> None:
        answer = freeze(y)
        for waiter, (start, stop) in zip(batch.waiters, batch.spans(), strict=True):
            waiter.reply(answer[start:stop])

    def _failed_batch(self, batch: Batch, error: ValueError) -> None:
        """A batch the kernel refused: alone, the request fails; else each runs alone."""
        if len(batch.waiters) == 1:
            self._failed += 1
            batch.waiters[0].fail(error)
            return
        for waiter, size, x in zip(batch.waiters, batch.sizes, batch.rows, strict=True):
            self._run_inline(Batch([waiter], [size], [x]))


