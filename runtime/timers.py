"""Timers: ``send_after`` and ``cancel_timer``, as ``erlang:send_after`` and ``erlang:cancel_timer``.

A timer is a loop callback that, when it fires, hands its message to the delivery seam from the
runtime itself; a name is resolved when the timer fires, not when it is set. Timers read only
the loop's clock, so under the virtual clock they fire in virtual time and replay exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any, final

from .checks import check_seconds
from .delivery import Delivery
from .message import SCALARS, check_immutable
from .pid import Pid, Ref
from .process import Node

__all__ = ["Timers"]


@final
class Timers:
    """The pending timers of one node."""

    __slots__ = ("_delivery", "_handles", "_node")

    def __init__(self, node: Node, delivery: Delivery) -> None:
        self._node = node
        self._delivery = delivery
        self._handles: dict[Ref, asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._handles)

    def send_after(self, delay: float, target: Pid | Hashable, msg: Any) -> Ref:
        """Send ``msg`` to ``target``'s ``handle_info`` after ``delay`` seconds; returns its ref.

        Raises:
            TypeError: ``msg`` is mutable, or ``delay`` is not a number.
            ValueError: ``delay`` is negative, NaN or infinite.
        """
        check_seconds("delay", delay)
        if type(msg) not in SCALARS:
            check_immutable(msg)
        ref = self._node.make_ref()
        self._handles[ref] = self._node.loop.call_later(delay, self._fire, ref, target, msg)
        return ref

    def cancel(self, ref: Ref) -> float | None:
        """Cancel a timer; returns the seconds it had left, or ``None`` if it had fired."""
        handle = self._handles.pop(ref, None)
        if handle is None:
            return None
        handle.cancel()
        return max(0.0, handle.when() - self._node.loop.time())

    def cancel_all(self) -> None:
        """Cancel every pending timer (the runtime is stopping)."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _fire(self, ref: Ref, target: Any, msg: Any) -> None:
        del self._handles[ref]
        self._delivery.timer(ref, target, msg)
