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

    def __init__(self, pid: Any, capacity: int | None, overflow: str) -> None:
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


class NoProcess(ActorExited, LookupError):
    """Raised when a name resolves to no live process: by ``cast``, ``send`` and ``call`` alike.

    It is an ``ActorExited`` with reason ``noproc``, so one ``except ActorExited`` covers "the
    process is gone" whether it died before or during the call. Sending to a dead *pid* is not
    an error (the message is dropped and counted as a dead letter, as Erlang does), but a call
    to one raises ``ActorExited(pid, "noproc")``.
    """

    def __init__(self, target: Any) -> None:
        super().__init__(target, "noproc")
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (NoProcess, (self.target,))

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


class StartIgnored(Exception):
    """Raised by ``start``/``start_link`` when the process's ``init`` returned ``Ignore``.

    Not a failure: the process declined to start and exited normally. A supervisor keeps the
    child's spec with no process, as OTP does for ``ignore``.
    """

    def __init__(self, actor: str) -> None:
        super().__init__(actor)
        self.actor = actor

    def __str__(self) -> str:
        return f"{self.actor} declined to start (init returned Ignore)"


class Unreachable(ConnectionError):
    """Raised when a message cannot reach its target on the mesh: its core failed, or every
    route to it crosses a failed link."""

    def __init__(self, target: Any, why: str) -> None:
        super().__init__(target, why)
        self.target = target
        self.why = why

    def __str__(self) -> str:
        return f"{self.target!r} is unreachable: {self.why}"


class PlacementError(ValueError):
    """Raised when no live core can take a process (its memory fits nowhere, or none is alive)."""


class CallingSelf(RuntimeError):
    """Raised when a process calls itself, which could only deadlock."""


class RuntimeClosed(RuntimeError):
    """Raised when work is handed to a runtime that is not running."""


class InternalError(RuntimeError):
    """Raised when the runtime breaks its own invariants: a bug in neural-actors, please report it."""


def format_reason(reason: Any) -> str:
    """Render an exit reason for humans: atoms as words, exceptions as ``Type: text``.

    Never raises: a reason whose ``str`` or ``repr`` fails is shown by its type name, because a
    crash report that crashes would leave the crashing process half torn down.
    """
    try:
        if isinstance(reason, BaseException):
            text = str(reason)
            return f"{type(reason).__name__}: {text}" if text else type(reason).__name__
        if type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown":
            return f"shutdown ({format_reason(reason[1])})"  # OTP's {shutdown, Term}
        return reason if type(reason) is str else repr(reason)
    except Exception:  # noqa: BLE001 - a broken __str__/__repr__ of user code
        return f"<{type(reason).__name__}>"


def safe_repr(value: Any) -> str:
    """``repr(value)``, or ``<TypeName>`` when its ``__repr__`` raises."""
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ of user code
        return f"<{type(value).__name__}>"


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
