"""A pending call's reply handle, ``Caller``.

A call is a request in the target's mailbox plus a future the caller awaits. The handle is
what ``handle_call`` gets as ``caller``: keep it to reply later. Replying goes through the
node's delivery seam, like every other message, so a reply is checked for immutability and
can cross the mesh or be delayed by a fault plan; ``settle`` is where it lands.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, final

from .errors import safe_repr
from .pid import Pid

__all__ = ["CallTarget", "Caller", "ReplyRoute"]


class ReplyRoute(Protocol):
    """The delivery seam, as a reply sees it."""

    def reply(self, caller: Caller, value: Any) -> None: ...


class CallTarget(Protocol):
    """The called process, as its pending calls see it."""

    pid: Pid

    def drop_call(self, caller: Caller) -> None: ...


@final
class Caller:
    """The reply handle of one pending call; keep it to reply after ``handle_call`` returned.

    Only the runtime creates callers. A reply after the caller timed out, or a second reply,
    is discarded: the caller has moved on.
    """

    __slots__ = ("_future", "_route", "_target", "request", "sender")

    def __init__(self, request: Any, future: asyncio.Future[Any], target: CallTarget, sender: Pid, route: ReplyRoute) -> None:
        self.request = request
        self.sender = sender
        self._future = future
        self._target = target
        self._route = route

    @property
    def target(self) -> Pid:
        """The pid of the process that was called."""
        return self._target.pid

    def reply(self, value: Any) -> None:
        """Send ``value`` to the waiting caller (discarded if it is no longer waiting).

        Raises:
            TypeError: ``value`` is mutable (replies are checked as messages are).
        """
        if not self._future.done():
            self._route.reply(self, value)  # checked first: a refused reply leaves the call pending
        self._target.drop_call(self)

    def fail(self, error: BaseException) -> None:
        """Raise ``error`` in the waiting caller instead of replying."""
        self._target.drop_call(self)
        if not self._future.done():
            self._future.set_exception(error)

    fail_full = fail  # the mailbox's name for "your request was dropped"

    def settle(self, value: Any) -> None:
        """Resolve the caller's future with ``value``: where a reply lands after its journey."""
        if not self._future.done():
            self._future.set_result(value)

    @property
    def waiting(self) -> bool:
        """True while the caller still waits for a reply."""
        return not self._future.done()

    def __repr__(self) -> str:
        return f"<Caller of {type(self.request).__name__} from {self.sender!r} to {self._target.pid!r}>"

    def describe(self) -> str:
        """One line for deadlock reports: who waits on whom, for what."""
        return f"{self.sender!r} waits for a reply from {self._target.pid!r} to {safe_repr(self.request)}"
