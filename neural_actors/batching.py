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

__all__ = ["BatchStatistics", "MicroBatcher", "Waiter", "check_batching"]

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


@attrs.define(eq=False)
class _Batch:
    waiters: list[Waiter]
    sizes: list[int]
    rows: list[np.ndarray]


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
        self._max_batch = max_batch
        self._max_wait = float(max_wait)
        self._offload_from = offload_from
        self._open = _Batch([], [], [])
        self._waiting_rows = 0
        self._generation = 0
        self._timer: TimerRef | None = None
        self._due = False
        self._busy: tuple[int, _Batch, asyncio.Future[np.ndarray]] | None = None
        self._tickets = itertools.count()
        self._requests = self._rows = self._batches = self._offloaded = self._largest = self._failed = 0

    def add(self, waiter: Waiter, x: np.ndarray) -> None:
        """Queue ``x``'s rows for ``waiter``; flush now if the batch is full."""
        self._open.waiters.append(waiter)
        self._open.sizes.append(len(x))
        self._open.rows.append(x)
        self._waiting_rows += len(x)
        self._requests += 1
        if self._busy is not None:
            return  # collects until the running batch is done
        if self._waiting_rows >= self._max_batch:
            self._flush()
        elif len(self._open.waiters) == 1:
            self._arm()

    def handle_info(self, msg: Any) -> bool:
        """Handle the batcher's own messages; False for anything else."""
        kind = type(msg)
        if kind is _Flush:
            if msg.generation == self._generation and self._busy is None and self._open.waiters:
                self._timer = None
                self._flush()
            return True
        if kind is _Done:
            self._finish(msg.ticket)
            return True
        return False

    def statistics(self) -> BatchStatistics:
        return BatchStatistics(self._requests, self._rows, self._batches, self._offloaded, self._largest,
                               self._failed, self._waiting_rows)

    # Batches -------------------------------------------------------------------------------

    def _arm(self) -> None:
        """Make the open batch due after ``max_wait`` (or after the mailbox's current items)."""
        self._generation += 1
        flush = _Flush(self._generation)
        if self._max_wait > 0:
            self._timer = self._actor.send_after(self._max_wait, self._actor.pid, flush)
        else:
            self._actor.send(self._actor.pid, flush)

    def _take(self) -> _Batch:
        """The next batch: requests in order up to ``max_batch`` rows (at least one)."""
        open_ = self._open
        count, rows = 0, 0
        while count < len(open_.sizes) and (count == 0 or rows + open_.sizes[count] <= self._max_batch):
            rows += open_.sizes[count]
            count += 1
        batch = _Batch(open_.waiters[:count], open_.sizes[:count], open_.rows[:count])
        self._open = _Batch(open_.waiters[count:], open_.sizes[count:], open_.rows[count:])
        self._waiting_rows -= rows
        return batch

    def _flush(self) -> None:
        if self._timer is not None:
            self._actor.cancel_timer(self._timer)
            self._timer = None
        self._generation += 1  # a flush already queued for the batch taken now is stale
        while self._open.waiters and self._busy is None:
            batch = self._take()
            rows = sum(batch.sizes)
            self._batches += 1
            self._rows += rows
            self._largest = max(self._largest, rows)
            if rows >= self._offload_from:
                self._offload(batch)
            else:
                self._run_inline(batch)
            if self._open.waiters and self._waiting_rows < self._max_batch:
                self._arm()
                break

    def _run_inline(self, batch: _Batch) -> None:
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # thread-local: the loop thread's count is put back below
        try:
            y = self._kernel(_stack(batch.rows))
        except ValueError as error:
            self._failed_batch(batch, error)
            return
        finally:
            numba.set_num_threads(threads)
        self._deliver(batch, y)

    def _offload(self, batch: _Batch) -> None:
        self._offloaded += 1
        ticket = next(self._tickets)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(None, self._kernel, _stack(batch.rows))
        self._busy = (ticket, batch, future)
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
        if self._open.waiters:
            self._flush()

    def _deliver(self, batch: _Batch, y: np.ndarray) -> None:
        answer = freeze(y)
        start = 0
        for waiter, size in zip(batch.waiters, batch.sizes, strict=True):
            waiter.reply(answer[start : start + size])
            start += size

    def _failed_batch(self, batch: _Batch, error: ValueError) -> None:
        """A batch the kernel refused: alone, the request fails; else each runs alone."""
        if len(batch.waiters) == 1:
            self._failed += 1
            batch.waiters[0].fail(error)
            return
        for waiter, size, x in zip(batch.waiters, batch.sizes, batch.rows, strict=True):
            self._run_inline(_Batch([waiter], [size], [x]))


def _stack(rows: list[np.ndarray]) -> np.ndarray:
    """One request's rows as they are (no copy), several stacked into one array."""
    return rows[0] if len(rows) == 1 else np.concatenate(rows)
