"""Mailboxes: unbounded by default, bounded with an overflow policy chosen per actor.

A mailbox is a deque plus accounting. Exit and down signals and call failures are system
items: they bypass the capacity (a full mailbox must never hide that a linked process died),
so ``capacity`` counts only ordinary messages. Nothing is dropped silently: every drop is
counted, the first one and each power of two after it is logged, and a dropped call fails its
caller with ``MailboxFull`` at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Literal, final

import attrs
import structlog

from .errors import MailboxFull
from .links import Down
from .message import message
from .reports import Logger

__all__ = ["Mailbox", "MailboxPolicy", "MailboxStatistics", "Overflow"]

Overflow = Literal["backpressure", "drop_newest", "drop_oldest", "fail"]
OVERFLOW_POLICIES: tuple[str, ...] = ("backpressure", "drop_newest", "drop_oldest", "fail")

#: Overflow warnings, through a ``Logger`` because a report never raises: a broken log sink
#: must not turn a counted drop into an error in the middle of a send.
log = Logger(structlog.get_logger("neural_actors.runtime"), logging.NOTSET)


@final
@message
class MailboxPolicy:
    """How big a mailbox may grow and what happens when it is full.

    Args:
        capacity: most ordinary messages held at once; ``None`` for unbounded.
        overflow: ``backpressure`` (waiting senders wait for room, sync senders get
            ``MailboxFull``), ``drop_newest`` (the incoming message is dropped),
            ``drop_oldest`` (the oldest queued message is dropped to make room) or ``fail``
            (the sender gets ``MailboxFull``).
    """

    capacity: int | None = None
    overflow: Overflow = "backpressure"

    def __attrs_post_init__(self) -> None:
        if self.capacity is not None and (type(self.capacity) is not int or self.capacity < 1):
            raise ValueError(f"capacity must be a positive int or None (got {self.capacity!r})")
        if self.overflow not in OVERFLOW_POLICIES:
            raise ValueError(
                f"overflow must be one of {', '.join(OVERFLOW_POLICIES)} (got {self.overflow!r})"
            )


UNBOUNDED = MailboxPolicy()


@final
@attrs.frozen
class MailboxStatistics:
    """A snapshot of one mailbox: depth now, the peak depth, messages dropped by its policy,
    and messages refused to their senders with ``MailboxFull``."""

    depth: int
    peak: int
    dropped: int
    capacity: int | None
    overflow: str
    refused: int = 0


class Mailbox:
    """The queue of one process; the process loop pops from ``queue`` directly.

    The mailbox alone decides what a full mailbox does: senders only learn the verdict
    (queued, dropped, or ``MailboxFull``).
    """

    __slots__ = ("_waiters", "capacity", "dropped", "overflow", "owner", "peak", "queue", "refused", "size")

    def __init__(self, owner: Any, policy: MailboxPolicy = UNBOUNDED) -> None:
        self.owner = owner  # the Pid, for errors and logs
        self.queue: deque[Any] = deque()
        self.capacity = policy.capacity
        self.overflow = policy.overflow
        self.size = 0  # ordinary messages queued (bounded mailboxes only)
        self.peak = 0
        self.dropped = 0
        self.refused = 0  # MailboxFull raised to a sender
        self._waiters: deque[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> bool:
        """Queue an ordinary message, applying the overflow policy when full.

        Returns:
            True if the item was queued, False if the policy dropped it.

        Raises:
            MailboxFull: with overflow ``fail``, or ``backpressure`` (a sync sender cannot wait).
        """
        queue = self.queue
        if self.capacity is None:
            queue.append(item)
            if len(queue) > self.peak:  # not max(): a call costs the hot path more than this test
                self.peak = len(queue)
            return True
        queued = self._put_bounded(item)
        if queued is None:
            self.refused += 1
            raise MailboxFull(self.owner, self.capacity, self.overflow)
        return queued

    def put_or_drop(self, item: Any) -> bool:
        """Queue an ordinary message whose sender cannot be told of a refusal (a timer).

        Returns:
            True if queued; False if the policy dropped or refused it (counted as a drop).
        """
        if self.capacity is None:
            return self.put_nowait(item)
        queued = self._put_bounded(item)
        if queued is None:
            self._count_drop(item)
            return False
        return queued

    def _put_bounded(self, item: Any) -> bool | None:
        """Apply the overflow policy: True if queued, False if dropped, None to refuse."""
        if self.size < self.capacity:  # type: ignore[operator]
            self._append_counted(item)
            return True
        if self.overflow == "drop_newest":
            self._count_drop(item)
            return False
        if self.overflow == "drop_oldest":
            self._count_drop(self._evict_oldest())
            self._append_counted(item)
            return True
        return None

    async def put(self, item: Any) -> bool:
        """Queue an ordinary message, waiting for room under ``backpressure``.

        Returns:
            True if queued, False if dropped by the policy or because the owner exited.
        """
        while self.capacity is not None and self.size >= self.capacity and self.overflow == "backpressure":
            if self.owner is None:
                return False
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._waiters is None:
                self._waiters = deque()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                self._discard_waiter(waiter)
                raise
        if self.owner is None:
            return False
        return self.put_nowait(item)

    def put_system(self, item: Any) -> None:
        """Queue a system item (exit, down): never refused, never counted against capacity."""
        self.queue.append(item)

    def flush_down(self, ref: Any) -> None:
        """Remove a queued ``Down`` for monitor ``ref``, so none is seen after a demonitor."""
        queue = self.queue
        for item in [i for i in queue if type(i) is Down and i.ref == ref]:
            queue.remove(item)

    def taken(self, item: Any) -> None:
        """Account for an ordinary item popped by the process loop (bounded mailboxes only)."""
        if not _is_system(item):
            self.size -= 1
            self._wake_one()

    def close(self) -> list[Any]:
        """Empty the mailbox at exit; wakes waiting senders, returns what was never handled."""
        left = list(self.queue)
        self.queue.clear()
        self.size = 0
        self.owner = None
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters = None
        return left

    def statistics(self) -> MailboxStatistics:
        """Return a snapshot of depth, peak, drops and policy."""
        return MailboxStatistics(len(self.queue), self.peak, self.dropped, self.capacity, self.overflow, self.refused)

    def _append_counted(self, item: Any) -> None:
        self.queue.append(item)
        self.size += 1
        if self.size > self.peak:
            self.peak = self.size

    def _evict_oldest(self) -> Any:
        for index, queued in enumerate(self.queue):
            if not _is_system(queued):
                del self.queue[index]
                self.size -= 1
                return queued
        raise AssertionError("a full mailbox holds an ordinary message")

    def _count_drop(self, item: Any) -> None:
        self.dropped += 1
        fail = getattr(item, "fail_full", None)
        if fail is not None:
            fail(MailboxFull(self.owner, self.capacity, self.overflow))
        if self.dropped & (self.dropped - 1) == 0:
            log.warning(
                "mailbox_overflow",
                pid=repr(self.owner),
                overflow=self.overflow,
                capacity=self.capacity,
                dropped_total=self.dropped,
                dropped=type(item).__name__,
            )

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _discard_waiter(self, waiter: asyncio.Future[None]) -> None:
        if self._waiters and waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.done() and not waiter.cancelled():
            # We were woken but will not use the room; pass it on.
            self._wake_one()


def _is_system(item: Any) -> bool:
    return getattr(type(item), "__neural_actors_system__", False)
