"""Every exception the runtime raises, in one place.

Each subclasses the builtin that fits, so callers can catch broadly (``LookupError``,
``TimeoutError``) or precisely. The parts of a message are also attributes, so code can act on
them without parsing text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ActorExited(Exception):
    """Raised when a call's target is dead, or dies while the call is pending.

    Raised at once, never after a timeout: the runtime fails pending calls when the target
    exits, as ``gen_server:call`` does through its monitor.
    """

    def __init__(self, pid: Any, reason: Any) -> None:
        super().__init__(pid, reason)
        self.pid = pid
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.pid!r} exited: {format_reason(self.reason)}"


class CallTimeout(TimeoutError):
    """Raised when a call gets no reply within its timeout; a late reply is discarded."""

    def __init__(self, pid: Any, request: Any, timeout: float) -> None:
        super().__init__(pid, request, timeout)
        self.pid = pid
        self.request = request
        self.timeout = timeout

    def __str__(self) -> str:
        return f"no reply from {self.pid!r} to {type(self.request).__name__} within {self.timeout} s"


class MailboxFull(Exception):
    """Raised when a bounded mailbox cannot take a message without waiting.

    With overflow ``fail`` every sender gets it; with ``backpressure`` only the sync forms
    (``cast``, ``send``) do, and the waiting forms (``cast_wait``, ``send_wait``) wait instead.
    """

    def __init__(self, pid: Any, capacity: int, overflow: str) -> None:
        super().__init__(pid, capacity, overflow)
        self.pid = pid
        self.capacity = capacity
        self.overflow = overflow

    def __str__(self) -> str:
        hint = "; await cast_wait()/send_wait() to wait for room" if self.overflow == "backpressure" else ""
        return f"mailbox of {self.pid!r} is full ({self.capacity} messages, overflow {self.overflow}){hint}"


class NameTaken(ValueError):
    """Raised when a name is registered while another live process holds it."""

    def __init__(self, name: Any, holder: Any) -> None:
        super().__init__(name, holder)
        self.name = name
        self.holder = holder

    def __str__(self) -> str:
        return f"name {self.name!r} is already registered to {self.holder!r}"


class NoProcess(LookupError):
    """Raised when a name resolves to no live process (a pid that is dead is not an error to send to)."""

    def __init__(self, target: Any) -> None:
        super().__init__(target)
        self.target = target

    def __str__(self) -> str:
        return f"no process is registered as {self.target!r}"


class StartFailed(Exception):
    """Raised when a process started with ``start``/``start_link`` exits before ``init`` returns."""

    def __init__(self, actor: str, reason: Any) -> None:
        super().__init__(actor, reason)
        self.actor = actor
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.actor} failed to start: {format_reason(self.reason)}"


class CallingSelf(RuntimeError):
    """Raised when a process calls itself, which could only deadlock."""


class RuntimeClosed(RuntimeError):
    """Raised when work is handed to a runtime that is not running."""


class InternalError(RuntimeError):
    """Raised when the runtime breaks its own invariants: a bug in neural-actors, please report it."""


def format_reason(reason: Any) -> str:
    """Render an exit reason for humans: atoms as words, exceptions as ``Type: text``."""
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason) if isinstance(reason, str) else repr(reason)


class Deadlock(RuntimeError):
    """Raised when a virtual-clock loop would wait for ever: no task can run, nothing can wake one.

    No timer is pending, no executor work is in flight, and nothing from outside (another thread,
    a socket, a signal) woke the loop within its grace of ``grace`` real seconds. ``waits`` names
    each waiting task and the line it waits at, then what higher layers wait on (pending calls).
    """

    def __init__(self, waits: Sequence[str], grace: float) -> None:
        super().__init__(tuple(waits), grace)
        self.waits = tuple(waits)
        self.grace = grace

    def __str__(self) -> str:
        waiting = "".join(f"\n  {line}" for line in self.waits) or " nothing"
        return (
            "no task can run: no timer is pending, no executor work is in flight, and nothing woke "
            f"the loop within {self.grace} real seconds (if another thread or process will, give "
            f"VirtualEventLoop a longer deadlock_after, or None). Waiting:{waiting}"
        )
