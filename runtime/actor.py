"""The ``Actor`` base class: gen_server's shape in Python.

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

Everything an actor does *as itself* (send, call, link, monitor, spawn children, set timers)
is a method here, so the runtime knows the sender of every message it carries.
"""

from __future__ import annotations

from collections.abc import Coroutine, Hashable
from typing import TYPE_CHECKING, Any

from .checks import check_seconds
from .errors import CallingSelf, safe_repr
from .links import NOPROC, Down
from .message import check_immutable
from .pid import Pid, Ref
from .reports import Logger

if TYPE_CHECKING:
    from .process import Process
    from .runtime import Runtime, TimerRef

__all__ = ["Actor"]


class Actor:
    """Base class of processes with gen_server's callbacks; see the module docstring.

    Set ``trap_exit = True`` (on the class, or on the instance in ``init``) to receive exits of
    linked processes as ``Exit`` messages instead of dying with them.
    """

    __slots__ = ("__dict__", "_log", "_process")

    trap_exit: bool = False

    #: Seconds without a message after which ``handle_timeout`` runs (gen_server's timeout);
    #: ``None`` for never. Set it on the class or in any callback; it applies after each turn.
    idle_timeout: float | None = None

    def __neural_actors_attach__(self, process: Process) -> None:
        """Bind this instance to the process that runs it (called once, by the runtime)."""
        self._process = process
        self._log: Logger | None = None

    # Callbacks ---------------------------------------------------------------------------

    def init(self, *args: Any, **kwargs: Any) -> Any:
        """Set up state; return ``Continue(term)`` to finish in ``handle_continue``, or
        ``Ignore()`` to decline to start."""
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.init() takes no arguments; override init()")
        return None

    def handle_call(self, msg: Any, caller: Any) -> Any:
        """Answer a call: return the reply, or ``NoReply`` and use ``caller.reply`` later."""
        raise NotImplementedError(f"{type(self).__name__} got call {safe_repr(msg)} but defines no handle_call")

    def handle_cast(self, msg: Any) -> Any:
        """Handle a cast; nobody waits for it."""
        raise NotImplementedError(f"{type(self).__name__} got cast {safe_repr(msg)} but defines no handle_cast")

    def handle_info(self, msg: Any) -> Any:
        """Handle a plain message, a timer, an ``Exit`` (when trapping) or a ``Down``.

        The default logs and ignores it, as gen_server does: a stray message must not crash
        a server.
        """
        self.runtime.log.warning(
            "unexpected_message", pid=repr(self._process.pid), actor=type(self).__name__, message=safe_repr(msg)
        )

    def handle_continue(self, term: Any) -> Any:
        """Finish work handed on by returning ``Continue(term)``."""
        raise NotImplementedError(f"{type(self).__name__} returned Continue but defines no handle_continue")

    def terminate(self, reason: Any) -> Any:
        """Clean up before exiting (after a crash, a ``Stop``, or a shutdown while trapping exits)."""

    def handle_timeout(self) -> Any:
        """No message came for ``idle_timeout`` seconds (gen_server's ``timeout``)."""

    def format_status(self, state: dict[str, Any]) -> dict[str, Any]:
        """What ``get_state``/``get_status`` show of this actor's attributes: hide secrets here
        (OTP's ``format_status``). The default shows them all."""
        return state

    # Identity ----------------------------------------------------------------------------

    @property
    def pid(self) -> Pid:
        """This process's pid."""
        return self._process.pid

    @property
    def runtime(self) -> Runtime:
        """The runtime this process lives in."""
        return self._process.node.facade  # type: ignore[no-any-return]

    @property
    def parent(self) -> Pid:
        """Who spawned this process (the runtime's own pid for top-level processes)."""
        return self._process.parent

    @property
    def log(self) -> Logger:
        """A structlog logger bound with this process's pid and actor, at the runtime's level."""
        if self._log is None:
            self._log = self.runtime.log.bind(pid=repr(self._process.pid), actor=type(self).__name__)
        return self._log

    @log.setter
    def log(self, value: Any) -> None:
        # An actor may keep its own ``log`` attribute; the runtime's reports do not use this one.
        self._log = value

    # Acting as this process --------------------------------------------------------------

    def link(self, pid: Pid) -> None:
        """Link to ``pid``; if it is already dead, an exit with reason ``noproc`` arrives (on
        another node: as soon as its node answers, or ``noconnection`` if the node is gone)."""
        node = self._process.node
        if pid in node.processes:
            node.links.link(self._process.pid, pid)
        elif not self.runtime.delivery.link_elsewhere(self._process.pid, pid):
            node.route.exit_signal(pid, self._process.pid, NOPROC, linked=True)

    def unlink(self, pid: Pid) -> None:
        """Remove the link to ``pid``, if any; no exit from it arrives afterwards."""
        self._process.node.links.unlink(self._process.pid, pid)
        self.runtime.delivery.unlink_elsewhere(self._process.pid, pid)

    def monitor(self, pid: Pid) -> Ref:
        """Watch ``pid``: a ``Down`` message arrives when it exits (at once if already dead)."""
        node = self._process.node
        ref = node.make_ref()
        if pid in node.processes:
            node.links.monitor(ref, self._process.pid, pid)
        elif not self.runtime.delivery.monitor_elsewhere(ref, self._process.pid, pid):
            node.route.down(pid, self._process.pid, Down(ref, pid, NOPROC))
        return ref

    def demonitor(self, ref: Ref) -> None:
        """Stop watching; no ``Down`` for ``ref`` arrives afterwards (one already queued is flushed)."""
        target = self._process.node.links.demonitor(ref, self._process.pid)
        if target is not None:
            self.runtime.delivery.demonitor_elsewhere(ref, self._process.pid, target)
        self._process.mailbox.flush_down(ref)

    def exit(self, pid: Pid, reason: Any) -> None:
        """Send an exit signal to ``pid`` from this process (``"kill"`` cannot be trapped).

        Raises:
            TypeError: ``reason`` is mutable.
        """
        check_immutable(reason, "exit reason")
        self.runtime.delivery.exit_signal(self._process.pid, pid, reason, linked=False)

    def spawn_link(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Spawn a process linked to this one (atomically: it cannot die unlinked)."""
        return self.runtime.spawn(actor, *args, link=self._process.pid, **options)

    def spawn_monitor(self, actor: type[Actor], *args: Any, **options: Any) -> tuple[Pid, Ref]:
        """Spawn a process and monitor it atomically; returns its pid and the monitor ref."""
        pid = self.runtime.spawn(actor, *args, **options)
        return pid, self.monitor(pid)

    async def start_link(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Spawn a linked process and wait for its ``init`` (on another node with ``node=``).

        Raises:
            StartFailed: its ``init`` failed.
            StartIgnored: its ``init`` returned ``Ignore``.
        """
        return await self.runtime.start(actor, *args, link=self._process.pid, **options)

    def cast(self, target: Pid | Hashable, msg: Any) -> None:
        """Cast ``msg`` to ``target`` (a pid or a name)."""
        self.runtime.delivery.cast(self._process.pid, target, msg)

    def send(self, target: Pid | Hashable, msg: Any) -> None:
        """Send ``msg`` to ``target``'s ``handle_info``."""
        self.runtime.delivery.send(self._process.pid, target, msg)

    def call(self, target: Pid | Hashable, msg: Any, timeout: float | None = 5.0) -> Coroutine[Any, Any, Any]:
        """Call ``target`` and wait for the reply (``await self.call(...)``); calling yourself
        raises ``CallingSelf`` at once."""
        process = self._process
        if target == process.pid or (process.name is not None and target == process.name):
            raise CallingSelf(f"{process.pid!r} called itself, which would deadlock; handle the request directly")
        check_seconds("timeout", timeout, none_ok=True)
        return self.runtime.delivery.call(process.pid, target, msg, timeout)

    def send_after(self, delay: float, target: Pid | Hashable, msg: Any) -> TimerRef:
        """Send ``msg`` to ``target``'s ``handle_info`` after ``delay`` seconds (``self.pid`` for
        yourself); the same order as ``Runtime.send_after`` and ``erlang:send_after``."""
        return self.runtime.send_after(delay, target, msg)

    def cancel_timer(self, ref: TimerRef) -> float | None:
        """Cancel a timer; returns the seconds it had left, or None if it already fired."""
        return self.runtime.cancel_timer(ref)

    def __repr__(self) -> str:
        process = getattr(self, "_process", None)
        where = repr(process.pid) if process is not None else "not started"
        return f"<{type(self).__name__} {where}>"
