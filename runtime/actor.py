"""The ``Actor`` behaviour: gen_server's shape in Python.

Subclass ``Actor`` and write the callbacks you need, each as ``def`` or ``async def``:
``init``, ``handle_call``, ``handle_cast``, ``handle_info``, ``handle_continue``, ``terminate``.
Dispatch on the message with ``match``::

    class Counter(Actor):
        def init(self, start: int = 0) -> None:
            self.count = start

        def handle_call(self, msg, caller):
            match msg:
                case Get():
                    return self.count

An actor whose callbacks are all ``def`` runs inline on the event loop and costs no task while
idle; one with any ``async def`` callback gets a task for each burst of work (it may await
calls, sleeps, threads), which is slower, so write ``async def`` only where you await.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar, Final, final

import attrs
import structlog

from .errors import CallingSelf
from .pid import Pid, Ref

if TYPE_CHECKING:
    from .process import Process
    from .runtime import Runtime, TimerRef

__all__ = ["Actor", "Caller", "Continue", "NoReply", "Stop"]

log = structlog.get_logger("neural_actors.runtime")


@final
class _NoReplyType:
    """The type of ``NoReply``."""

    _instance: ClassVar[_NoReplyType | None] = None

    def __new__(cls) -> _NoReplyType:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NoReply"


#: Return this from ``handle_call`` to reply later with ``caller.reply(value)``.
NoReply: Final = _NoReplyType()


@final
@attrs.frozen
class Continue:
    """Return from ``init``, ``handle_cast`` or ``handle_info`` to run ``handle_continue(term)`` next.

    The continuation runs before any other message, so ``init`` can return quickly (its
    starter stops waiting) and finish expensive set-up, such as loading weights, afterwards.
    """

    term: Any = None


class Stop(Exception):
    """Raise from a callback to stop the process with ``reason`` after running ``terminate``.

    Args:
        reason: the exit reason (``"normal"`` exits quietly; anything else is an error to links).
        reply: from ``handle_call``, a reply sent to the caller before stopping.
    """

    def __init__(self, reason: Any = "normal", *, reply: Any = NoReply) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


@final
class Caller:
    """The reply handle of one pending call; keep it to reply after ``handle_call`` returned.

    Only the runtime creates callers. A reply after the caller timed out, or a second reply,
    is discarded: the caller has moved on.
    """

    __slots__ = ("_future", "_target", "request")

    def __init__(self, request: Any, future: Any, target: Process) -> None:
        self.request = request
        self._future = future
        self._target = target

    def reply(self, value: Any) -> None:
        """Send ``value`` to the waiting caller (discarded if it is no longer waiting)."""
        future = self._future
        if not future.done():
            future.set_result(value)
        calls = self._target.calls
        if calls is not None:
            calls.discard(self)

    def fail(self, error: BaseException) -> None:
        """Raise ``error`` in the waiting caller (used by the runtime when the target exits)."""
        if not self._future.done():
            self._future.set_exception(error)

    fail_full = fail

    @property
    def waiting(self) -> bool:
        """True while the caller still waits for a reply."""
        return not self._future.done()

    def __repr__(self) -> str:
        return f"<Caller of {type(self.request).__name__} to {self._target.pid!r}>"


class Actor:
    """Base class of processes with gen_server's callbacks; see the module docstring.

    Set ``trap_exit = True`` (on the class, or on the instance in ``init``) to receive exits of
    linked processes as ``Exit`` messages instead of dying with them.
    """

    __slots__ = ("__dict__", "_process")

    trap_exit: bool = False

    # Callbacks ---------------------------------------------------------------------------

    def init(self, *args: Any, **kwargs: Any) -> Any:
        """Set up state; return ``Continue(term)`` to finish in ``handle_continue``."""
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.init() takes no arguments; override init()")
        return None

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        """Answer a call: return the reply, or ``NoReply`` and use ``caller.reply`` later."""
        raise NotImplementedError(f"{type(self).__name__} got call {msg!r} but defines no handle_call")

    def handle_cast(self, msg: Any) -> Any:
        """Handle a cast; nobody waits for it."""
        raise NotImplementedError(f"{type(self).__name__} got cast {msg!r} but defines no handle_cast")

    def handle_info(self, msg: Any) -> Any:
        """Handle a plain message, a timer, an ``Exit`` (when trapping) or a ``Down``.

        The default logs and ignores it, as gen_server does: a stray message must not crash
        a server.
        """
        log.warning("unexpected_message", pid=repr(self.pid), actor=type(self).__name__, message=repr(msg))

    def handle_continue(self, term: Any) -> Any:
        """Finish work handed on by returning ``Continue(term)``."""
        raise NotImplementedError(f"{type(self).__name__} returned Continue but defines no handle_continue")

    def terminate(self, reason: Any) -> None:
        """Clean up before exiting (after a crash, a ``Stop``, or a shutdown while trapping exits)."""

    # Identity ----------------------------------------------------------------------------

    @property
    def pid(self) -> Pid:
        """This process's pid."""
        return self._process.pid

    @property
    def runtime(self) -> Runtime:
        """The runtime this process lives in."""
        return self._process.runtime

    @property
    def parent(self) -> Pid:
        """Who spawned this process (the runtime's own pid for top-level processes)."""
        return self._process.parent

    # Acting as this process --------------------------------------------------------------

    def link(self, pid: Pid) -> None:
        """Link to ``pid``; if it is already dead, an exit with reason ``noproc`` arrives."""
        self.runtime._link(self._process, pid)

    def unlink(self, pid: Pid) -> None:
        """Remove the link to ``pid``, if any; no exit from it arrives afterwards."""
        self.runtime._unlink(self._process, pid)

    def monitor(self, pid: Pid) -> Ref:
        """Watch ``pid``: a ``Down`` message arrives when it exits (at once if already dead)."""
        return self.runtime._monitor(self._process, pid)

    def demonitor(self, ref: Ref) -> None:
        """Stop watching; no ``Down`` for ``ref`` arrives afterwards."""
        self.runtime._demonitor(self._process, ref)

    def exit(self, pid: Pid, reason: Any) -> None:
        """Send an exit signal to ``pid`` from this process (``"kill"`` cannot be trapped)."""
        self.runtime._exit_signal(self._process.pid, pid, reason, linked=False)

    def spawn_link(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Spawn a process linked to this one (atomically: it cannot die unlinked)."""
        return self.runtime.spawn(actor, *args, link=self._process.pid, **options)

    def spawn_monitor(self, actor: type[Actor], *args: Any, **options: Any) -> tuple[Pid, Ref]:
        """Spawn a process and monitor it atomically; returns its pid and the monitor ref."""
        pid = self.runtime.spawn(actor, *args, **options)
        return pid, self.monitor(pid)

    async def start_link(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Spawn a linked process and wait for its ``init``; raises ``StartFailed`` if it failed."""
        return await self.runtime.start(actor, *args, link=self._process.pid, **options)

    def cast(self, target: Any, msg: Any) -> None:
        """Cast ``msg`` to ``target`` (a pid or a name)."""
        self.runtime.cast(target, msg)

    def send(self, target: Any, msg: Any) -> None:
        """Send ``msg`` to ``target``'s ``handle_info``."""
        self.runtime.send(target, msg)

    async def call(self, target: Any, msg: Any, timeout: float | None = 5.0) -> Any:
        """Call ``target`` and wait for the reply; calling yourself raises ``CallingSelf``."""
        if target == self._process.pid or target == self._process.name:
            raise CallingSelf(f"{self._process.pid!r} called itself, which would deadlock; handle the request directly")
        return await self.runtime.call(target, msg, timeout)

    def send_after(self, delay: float, msg: Any, target: Any = None) -> TimerRef:
        """Send ``msg`` to ``target`` (default: this process) after ``delay`` seconds."""
        return self.runtime.send_after(delay, self._process.pid if target is None else target, msg)

    def cancel_timer(self, ref: TimerRef) -> float | None:
        """Cancel a timer; returns the seconds it had left, or None if it already fired."""
        return self.runtime.cancel_timer(ref)

    def __repr__(self) -> str:
        process = getattr(self, "_process", None)
        where = repr(process.pid) if process is not None else "not started"
        return f"<{type(self).__name__} {where}>"


_CALLBACKS = ("init", "handle_call", "handle_cast", "handle_info", "handle_continue", "terminate")
_ASYNC_CLASSES: dict[type, bool] = {}


def is_async_actor(cls: type[Actor]) -> bool:
    """True if any callback of ``cls`` is ``async def`` (decided once per class)."""
    cached = _ASYNC_CLASSES.get(cls)
    if cached is None:
        cached = any(inspect.iscoroutinefunction(getattr(cls, name)) for name in _CALLBACKS)
        _ASYNC_CLASSES[cls] = cached
    return cached
