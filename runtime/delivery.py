"""The delivery seam: the one door every message, call, reply, timer and exit signal goes through.

Each delivery knows its **sender** and its target. It resolves the target (a pid, or a name
through the registry), checks the payload is immutable, records it in the trace, and hands it
to the node's transport. With no transport installed delivery is local and immediate: the
mailbox takes the item (it alone decides what a full mailbox does) and the target is
scheduled. That is the common case, and it costs one ``is None`` check.

A **transport** (``Transport``) carries a signal from sender to target and calls ``arrive``
when it gets there: after an emulated mesh latency, after a fault plan's delay, on another
node, or never (a dropped message, counted by whoever dropped it). Transports keep order per
sender/receiver pair, as Erlang does. What arrives is applied as if it had been sent at that
moment: a target that died meanwhile makes the message a dead letter; a full mailbox that
would refuse a sender can no longer tell it, so the refusal is counted as a drop there.

With metrics on (``metrics`` is a ``RuntimeMetrics``), the seam counts each message it accepts
and each one it queues, and times each call; with them off that costs an ``is None`` check
(one on the cast and call fast paths).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, Literal, Protocol, final

import attrs

from .calls import Caller
from .errors import ActorExited, CallTimeout, MailboxFull, NoProcess
from .links import NOPROC, Down
from .message import SCALARS, check_immutable
from .metrics import RuntimeMetrics
from .pid import Pid, Ref
from .process import IDLE, Info, Node, Process

__all__ = ["Delivery", "Dispatched", "SignalKind", "Transport"]

SignalKind = Literal["cast", "send", "call", "reply", "exit", "down", "timer"]


class Transport(Protocol):
    """Carries one signal from ``sender`` to ``target`` and calls ``arrive()`` when it gets there.

    Implementations must keep FIFO order per (sender, target) pair, call ``arrive`` on the
    node's event loop, and never call it twice. Not calling it at all drops the signal.
    """

    def carry(self, sender: Pid, target: Pid, kind: SignalKind, item: Any, arrive: Callable[[], None]) -> None: ...

    def next_arrival(self) -> float | None:
        """The loop time of the next signal still on its way, or ``None`` if none is
        (``Runtime.wait_idle`` waits for signals in flight too)."""
        ...


@final
@attrs.frozen
class Dispatched:
    """What a ``dispatch`` to a group did, member by member, in join order."""

    delivered: tuple[Pid, ...]
    dropped: tuple[Pid, ...]
    refused: tuple[Pid, ...]


@final
class Delivery:
    """One node's delivery seam; the ``Runtime`` and every actor send through it."""

    __slots__ = ("_node", "dead_letters", "metrics", "transport")

    def __init__(self, node: Node) -> None:
        self._node = node
        self.transport: Transport | None = None
        self.metrics: RuntimeMetrics | None = None
        self.dead_letters = 0
        node.route = self

    # Resolving --------------------------------------------------------------------------------

    def resolve(self, target: Pid | Hashable) -> Process | None:
        """The live process ``target`` names; ``None`` for a dead pid.

        Raises:
            NoProcess: ``target`` is a name nobody holds.
        """
        if type(target) is Pid:
            return self._node.processes.get(target)
        process = self._node.registry.whereis(target)
        if process is None:
            raise NoProcess(target)
        return process

    # Messages ---------------------------------------------------------------------------------

    def cast(self, sender: Pid, target: Pid | Hashable, msg: Any) -> None:
        """Deliver ``msg`` to ``target``'s ``handle_cast``.

        Raises:
            TypeError: ``msg`` is mutable (names the field).
            MailboxFull: a bounded mailbox with overflow ``fail`` or ``backpressure`` is full.
            NoProcess: ``target`` is a name nobody holds.
        """
        if type(msg) not in SCALARS:
            check_immutable(msg)
        node = self._node
        process = node.processes.get(target) if type(target) is Pid else self.resolve(target)
        if process is None:
            self._count_sent("cast")
            self._dead_letter(sender, target, msg)
        elif self.transport is None:
            # The commonest delivery of all, so ``_queued`` is written out here, and metrics
            # cost it one check: the rarer outcomes count themselves.
            try:
                queued = process.mailbox.put_nowait(msg)
            except MailboxFull:
                self._count_sent("cast")
                raise
            if queued:
                if node.trace is not None:
                    node.trace.record("send", sender, process.pid, msg)
                metrics = self.metrics
                if metrics is not None:
                    metrics.sent["cast"] += 1
                    metrics.delivered += 1
                if process.state == IDLE:
                    node.schedule(process)
            else:
                self._count_sent("cast")
        else:
            self._count_sent("cast")
            self._carry(sender, process.pid, "cast", msg)

    def send(self, sender: Pid, target: Pid | Hashable, msg: Any) -> None:
        """Deliver ``msg`` to ``target``'s ``handle_info`` (Erlang's ``!``). Raises as ``cast``."""
        if type(msg) not in SCALARS:
            check_immutable(msg)
        process = self.resolve(target)
        if self.metrics is not None:
            self.metrics.sent["send"] += 1
        if process is None:
            self._dead_letter(sender, target, msg)
        elif self.transport is None:
            item = Info(msg)
            if process.mailbox.put_nowait(item):
                self._queued(sender, process, item)
        else:
            self._carry(sender, process.pid, "send", Info(msg))

    async def put_wait(self, sender: Pid, target: Pid | Hashable, msg: Any, *, info: bool) -> None:
        """``cast`` (or ``send`` with ``info``), waiting for room in a full ``backpressure`` mailbox."""
        if type(msg) not in SCALARS:
            check_immutable(msg)
        process = self.resolve(target)
        item = Info(msg) if info else msg
        if self.metrics is not None:
            self.metrics.sent["send" if info else "cast"] += 1
        if process is None:
            self._dead_letter(sender, target, msg)
        elif self.transport is not None:
            self._carry(sender, process.pid, "send" if info else "cast", item)
        elif await process.mailbox.put(item):
            self._queued(sender, process, item)
        elif not process.alive:
            self._dead_letter(sender, target, msg)

    async def call(self, sender: Pid, target: Pid | Hashable, msg: Any, timeout: float | None) -> Any:
        """Send ``msg`` to ``target``'s ``handle_call`` and wait for the reply.

        The timeout covers the whole call: waiting for room in a full mailbox too.

        Raises:
            ActorExited: at once if the target is dead, unknown (``NoProcess``), or exits first.
            CallTimeout: no reply within ``timeout``; a later reply is discarded.
            MailboxFull: the target's bounded mailbox refused the request.
        """
        if type(msg) not in SCALARS:
            check_immutable(msg)
        node = self._node
        process = node.processes.get(target) if type(target) is Pid else self.resolve(target)
        if process is None:
            metrics = self.metrics
            if metrics is not None:
                metrics.sent["call"] += 1
                metrics.drop("dead_letter")
                metrics.call_ended("exited", 0.0)
            raise ActorExited(target, NOPROC)
        loop = node.loop
        future = loop.create_future()
        caller = Caller(msg, future, process, sender, self)
        process.add_call(caller)
        mailbox = process.mailbox
        deadline = None
        if self.transport is not None:
            self._watch_call(future)
            try:
                self._carry(sender, process.pid, "call", caller)
            except BaseException:
                # Refused on the way (the mesh: ``Unreachable``): the request never left, so
                # the call must not stay pending on the target, to be failed later unheard.
                process.drop_call(caller)
                raise
        elif process.state == IDLE and not process.is_async and not mailbox.queue and mailbox.capacity is None:
            # Sync fast path: the target is a sync actor with nothing to do, so run its turn
            # right here; no tick, no timer, no second task switch. Then yield once anyway:
            # a call is always a checkpoint, even when the reply is immediate.
            mailbox.queue.append(caller)
            if node.trace is not None:
                node.trace.record("send", sender, process.pid, caller)
            metrics = self.metrics
            if metrics is not None:
                metrics.sent["call"] += 1
                metrics.delivered += 1
                metrics.watch_call(future, loop.time())
            node.run_now(process)
            if future.done():
                process.drop_call(caller)
                await asyncio.sleep(0)
                return future.result()
        else:
            self._watch_call(future)
            deadline = None if timeout is None else loop.time() + timeout
            try:
                if mailbox.capacity is not None and mailbox.overflow == "backpressure":
                    async with asyncio.timeout_at(deadline):
                        queued = await mailbox.put(caller)
                else:
                    queued = mailbox.put_nowait(caller)
            except TimeoutError:
                process.drop_call(caller)
                error = CallTimeout(process.pid, msg, timeout)  # type: ignore[arg-type]
                _settle_error(future, error)
                raise error from None
            except BaseException as error:
                process.drop_call(caller)
                if isinstance(error, Exception):
                    _settle_error(future, error)  # MailboxFull: the call ended refused
                else:
                    future.cancel()
                raise
            if queued:
                self._queued(sender, process, caller)
            elif not process.alive and not future.done():
                future.set_exception(ActorExited(process.pid, NOPROC))
        if timeout is None:
            try:
                return await future
            finally:
                process.drop_call(caller)
        remaining = timeout if deadline is None else max(0.0, deadline - loop.time())
        handle = loop.call_later(remaining, _time_out, future, process.pid, msg, timeout)
        try:
            return await future
        finally:
            handle.cancel()
            process.drop_call(caller)

    def reply(self, caller: Caller, value: Any) -> None:
        """Carry ``value`` back to ``caller`` (``Caller.reply`` comes here).

        Raises:
            TypeError: ``value`` is mutable.
        """
        if type(value) not in SCALARS:
            check_immutable(value, "reply")
        metrics = self.metrics
        if metrics is not None:
            metrics.sent["reply"] += 1
        if self.transport is None:
            caller.settle(value)
            if metrics is not None:
                metrics.delivered += 1
        else:
            self.transport.carry(caller.target, caller.sender, "reply", value, lambda: self._settle(caller, value))

    def dispatch(self, sender: Pid, group: Hashable, msg: Any) -> Dispatched:
        """Cast ``msg`` to every member of ``group``; never stops halfway.

        A member whose mailbox drops the message is ``dropped``; one whose mailbox refuses it
        (``fail``, or ``backpressure`` when full) is ``refused``; the rest ``delivered``.
        """
        if type(msg) not in SCALARS:
            check_immutable(msg)
        delivered: list[Pid] = []
        dropped: list[Pid] = []
        refused: list[Pid] = []
        for process in self._node.registry.members(group):
            if self.metrics is not None:
                self.metrics.sent["cast"] += 1
            if self.transport is not None:
                self._carry(sender, process.pid, "cast", msg)
                delivered.append(process.pid)
                continue
            try:
                queued = process.mailbox.put_nowait(msg)
            except MailboxFull:
                refused.append(process.pid)
                continue
            if queued:
                self._queued(sender, process, msg)
                delivered.append(process.pid)
            else:
                dropped.append(process.pid)
        return Dispatched(tuple(delivered), tuple(dropped), tuple(refused))

    def timer(self, ref: Ref, target: Pid | Hashable, msg: Any) -> None:
        """A timer fired: deliver its message to ``handle_info``; a name is resolved now."""
        node = self._node
        if node.trace is not None:
            node.trace.record("timer", ref, target)
        if type(target) is Pid:
            process = node.processes.get(target)
        else:
            process = node.registry.whereis(target)
        if self.metrics is not None:
            self.metrics.sent["timer"] += 1
        if process is None:
            self._dead_letter(node.pid, target, msg)
        elif self.transport is None:
            item = Info(msg)
            if process.mailbox.put_or_drop(item):
                self._queued(node.pid, process, item)
        else:
            self._carry(node.pid, process.pid, "timer", Info(msg))

    # Signals ----------------------------------------------------------------------------------

    def exit_signal(self, sender: Pid, target: Pid, reason: Any, *, linked: bool) -> None:
        """Send an exit signal; applied by Erlang's rules where it arrives."""
        if self.transport is None:
            self._apply_exit(sender, target, reason, linked)
        else:
            self.transport.carry(sender, target, "exit", reason, lambda: self._apply_exit(sender, target, reason, linked))

    def down(self, sender: Pid, watcher: Pid, down: Down) -> None:
        """Tell ``watcher`` that the process it monitored is down."""
        if self.transport is None:
            self._apply_down(watcher, down)
        else:
            self.transport.carry(sender, watcher, "down", down, lambda: self._apply_down(watcher, down))

    def _apply_exit(self, sender: Pid, target: Pid, reason: Any, linked: bool) -> None:
        process = self._node.processes.get(target)
        if process is not None:
            if self._node.trace is not None:
                self._node.trace.record("exit_signal", sender, target, reason)
            process.receive_exit(sender, reason, linked=linked)

    def _apply_down(self, watcher: Pid, down: Down) -> None:
        process = self._node.processes.get(watcher)
        if process is not None:
            process.deliver_system(down)

    # Arrival ----------------------------------------------------------------------------------

    def _carry(self, sender: Pid, target: Pid, kind: SignalKind, item: Any) -> None:
        self.transport.carry(sender, target, kind, item, lambda: self._arrive(sender, target, item))  # type: ignore[union-attr]

    def _arrive(self, sender: Pid, target: Pid, item: Any) -> None:
        """A carried message got to ``target``'s node: queue it as a local delivery would."""
        process = self._node.processes.get(target)
        if process is None:
            if type(item) is Caller:
                item.fail(ActorExited(target, NOPROC))
            self._dead_letter(sender, target, item)
        elif process.mailbox.put_or_drop(item):
            self._queued(sender, process, item)

    def _watch_call(self, future: asyncio.Future[Any]) -> None:
        metrics = self.metrics
        if metrics is not None:
            metrics.sent["call"] += 1
            metrics.watch_call(future, self._node.loop.time())

    def _count_sent(self, kind: SignalKind) -> None:
        if self.metrics is not None:
            self.metrics.sent[kind] += 1

    def _settle(self, caller: Caller, value: Any) -> None:
        """A carried reply got back to its caller."""
        caller.settle(value)
        if self.metrics is not None:
            self.metrics.delivered += 1

    def _queued(self, sender: Pid, process: Process, item: Any) -> None:
        trace = self._node.trace
        if trace is not None:
            trace.record("send", sender, process.pid, item)
        if self.metrics is not None:
            self.metrics.delivered += 1
        if process.state == IDLE:
            self._node.schedule(process)

    def _dead_letter(self, sender: Pid, target: Any, msg: Any) -> None:
        """A message to a process that is gone: dropped, as Erlang does, but counted."""
        self.dead_letters += 1
        node = self._node
        if node.trace is not None:
            node.trace.record("dead_letter", sender, target, msg)
        if node.reports.debug:
            node.reports.log.debug("dead_letter", sender=repr(sender), target=repr(target), message=type(msg).__name__)


def _time_out(future: asyncio.Future[Any], pid: Pid, request: Any, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeout(pid, request, timeout))


def _settle_error(future: asyncio.Future[Any], error: BaseException) -> None:
    """Resolve a call's future that nobody will await with ``error`` (its watchers see how
    the call ended), marking the exception retrieved so asyncio does not log it."""
    future.set_exception(error)
    future.exception()
