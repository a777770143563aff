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

A **remote route** (``RemoteRoute``) is the door to other nodes. With one installed, whatever
is addressed to a pid of another node, or to a name only another node holds, leaves through
it instead of becoming a dead letter; what comes back from other nodes enters through
``arrive`` and ``arrive_call``, and ``node_down`` turns a lost node into ``noconnection`` for
every link and monitor that reached it. The seam asks the route only once no local process
was found, so local delivery pays nothing for it. The route knows nothing of the runtime's
insides and the runtime nothing of how the route carries (``neural_actors.nodes``: Ray).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, Literal, Protocol, final

import attrs

from .calls import Caller
from .errors import ActorExited, CallTimeout, MailboxFull, NoProcess
from .links import NOCONNECTION, NOPROC, Down
from .message import SCALARS, check_immutable
from .metrics import RuntimeMetrics
from .pid import Pid, Ref
from .process import IDLE, Info, Node, Process

__all__ = ["Delivery", "Dispatched", "RemoteKind", "RemoteRoute", "SignalKind", "Transport"]

SignalKind = Literal["cast", "send", "call", "reply", "exit", "down", "timer"]

#: What crosses to another node besides calls: messages, exit signals (``(reason, linked)``),
#: ``Down`` messages, and the requests that set up or drop a link or a monitor there.
RemoteKind = Literal["cast", "send", "exit", "down", "link", "unlink", "monitor", "demonitor"]


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


class RemoteRoute(Protocol):
    """The door to other nodes: what the seam hands over when the target is not on this node.

    ``forward`` carries one signal to ``target``'s node, which applies it with
    ``Delivery.arrive``; it must keep FIFO order per (sender, target) pair, and must treat a
    signal to a node it knows is gone as that node would answer: a ``link`` with an exit
    ``noconnection``, a ``monitor`` with a ``Down`` ``noconnection``, anything else dropped.
    """

    def forward(self, sender: Pid, target: Pid, kind: RemoteKind, item: Any) -> None: ...

    def call(self, sender: Pid, target: Pid, request: Any, future: asyncio.Future[Any]) -> None:
        """Carry a call; resolve ``future`` with the reply, or fail it (``ActorExited`` with
        ``noconnection`` at once when ``target``'s node is or goes away)."""
        ...

    def whereis(self, name: Hashable) -> Pid | None:
        """The pid of a name this node's registry does not hold (a global name), or ``None``."""
        ...

    async def start(self, node: Hashable, actor: type, args: tuple[Any, ...], options: dict[str, Any]) -> Pid:
        """``Runtime.start`` on another node (or where the placement ``node`` names)."""
        ...

    async def wait_exit(self, pid: Pid, timeout: float | None) -> Any:
        """``Runtime.wait_exit`` for a pid of another node (``noconnection`` if its node goes)."""
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

    __slots__ = ("_node", "dead_letters", "metrics", "remote", "transport")

    def __init__(self, node: Node) -> None:
        self._node = node
        self.transport: Transport | None = None
        self.metrics: RuntimeMetrics | None = None
        self.remote: RemoteRoute | None = None
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
        if process is None and (self.remote is None or self.remote.whereis(target) is None):
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
            self._elsewhere(sender, target, "cast", msg)
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
            self._elsewhere(sender, target, "send", msg)
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
            self._elsewhere(sender, target, "send" if info else "cast", msg)
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
            if self.remote is not None:
                return await self._call_elsewhere(sender, target, msg, timeout)
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
            self._elsewhere(node.pid, target, "send", msg)
        elif self.transport is None:
            item = Info(msg)
            if process.mailbox.put_or_drop(item):
                self._queued(node.pid, process, item)
        else:
            self._carry(node.pid, process.pid, "timer", Info(msg))

    # Signals ----------------------------------------------------------------------------------

    def exit_signal(self, sender: Pid, target: Pid, reason: Any, *, linked: bool) -> None:
        """Send an exit signal; applied by Erlang's rules where it arrives."""
        if self.reaches(target):
            self.remote.forward(sender, target, "exit", (reason, linked))  # type: ignore[union-attr]
        elif self.transport is None:
            self._apply_exit(sender, target, reason, linked)
        else:
            self.transport.carry(sender, target, "exit", reason, lambda: self._apply_exit(sender, target, reason, linked))

    def down(self, sender: Pid, watcher: Pid, down: Down) -> None:
        """Tell ``watcher`` that the process it monitored is down."""
        if self.reaches(watcher):
            self.remote.forward(sender, watcher, "down", down)  # type: ignore[union-attr]
        elif self.transport is None:
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

    # Other nodes -------------------------------------------------------------------------------
    #
    # Everything here runs only once no local process was found, or for a pid of another node,
    # so a node that is not part of a cluster (``remote is None``) never gets here but to fail.

    def _elsewhere(self, sender: Pid, target: Pid | Hashable, kind: RemoteKind, msg: Any) -> None:
        """No local process is ``target``: hand ``msg`` to the node that has it, or dead-letter it."""
        pid = self._remote_pid(target)
        if pid is None:
            self._dead_letter(sender, target, msg)
        elif pid.node == self._node.id:  # a global name held here
            self.arrive(sender, pid, kind, msg)
        else:
            self.remote.forward(sender, pid, kind, msg)  # type: ignore[union-attr]

    async def _call_elsewhere(self, sender: Pid, target: Pid | Hashable, msg: Any, timeout: float | None) -> Any:
        """A call to a process of another node: the future stays here, the route settles it."""
        pid = self._remote_pid(target)
        if pid is None:
            raise ActorExited(target, NOPROC)
        loop = self._node.loop
        future = loop.create_future()
        if pid.node == self._node.id:
            self.arrive_call(sender, pid, msg, future)
        else:
            self.remote.call(sender, pid, msg, future)  # type: ignore[union-attr]
        if timeout is None:
            return await future
        handle = loop.call_later(timeout, _time_out, future, pid, msg, timeout)
        try:
            return await future
        finally:
            handle.cancel()

    def reaches(self, pid: Pid) -> bool:
        """True if ``pid`` is a process of another node, which the remote route can reach."""
        return self.remote is not None and pid.node != self._node.id

    def _remote_pid(self, target: Pid | Hashable) -> Pid | None:
        """``target`` as a pid the route can reach: a pid of another node, or a name it knows."""
        if type(target) is Pid:
            return target if self.reaches(target) else None
        return None if self.remote is None else self.remote.whereis(target)

    def link_elsewhere(self, pid: Pid, other: Pid) -> bool:
        """Link ``pid`` to ``other`` on another node, whose node is told; False if ``other`` is
        not a pid of another node the route can reach (then it is a dead local pid)."""
        if not self.reaches(other):
            return False
        self._node.links.link(pid, other)
        self.remote.forward(pid, other, "link", None)  # type: ignore[union-attr]
        return True

    def unlink_elsewhere(self, pid: Pid, other: Pid) -> None:
        """Tell ``other``'s node that ``pid`` unlinked from it (nothing for a local pid)."""
        if self.reaches(other):
            self.remote.forward(pid, other, "unlink", None)  # type: ignore[union-attr]

    def monitor_elsewhere(self, ref: Ref, watcher: Pid, target: Pid) -> bool:
        """Monitor ``target`` on another node under ``ref``; False as ``link_elsewhere``."""
        if not self.reaches(target):
            return False
        self._node.links.monitor(ref, watcher, target)
        self.remote.forward(watcher, target, "monitor", ref)  # type: ignore[union-attr]
        return True

    def demonitor_elsewhere(self, ref: Ref, watcher: Pid, target: Pid) -> None:
        """Tell ``target``'s node that the monitor ``ref`` is dropped (nothing for a local pid)."""
        if self.reaches(target):
            self.remote.forward(watcher, target, "demonitor", ref)  # type: ignore[union-attr]

    def arrive(self, sender: Pid, target: Pid, kind: RemoteKind, item: Any) -> None:
        """A signal from another node got here: apply it as a carried signal is applied.

        A linked exit uses the link up, and a ``Down`` its monitor, as in Erlang; a link or a
        monitor of a process that is not alive is answered at once with ``noproc``.
        """
        node = self._node
        if kind == "cast":
            self._arrive(sender, target, item)
        elif kind == "send":
            self._arrive(sender, target, Info(item))
        elif kind == "exit":
            reason, linked = item
            if linked:
                node.links.unlink(target, sender)
            self._apply_exit(sender, target, reason, linked)
        elif kind == "down":
            node.links.demonitor(item.ref, target)
            self._apply_down(target, item)
        elif kind == "link":
            if target in node.processes:
                node.links.link(target, sender)
            else:
                self.exit_signal(target, sender, NOPROC, linked=True)
        elif kind == "unlink":
            node.links.unlink(target, sender)
        elif kind == "monitor":
            if target in node.processes:
                node.links.monitor(item, sender, target)
            else:
                self.down(target, sender, Down(item, target, NOPROC))
        elif kind == "demonitor":
            node.links.demonitor(item, sender)
        else:
            raise ValueError(f"unknown kind of signal from another node: {kind!r}")

    def arrive_call(self, sender: Pid, target: Pid | Hashable, request: Any, future: asyncio.Future[Any]) -> None:
        """A call from another node got here: queue it with a reply handle that settles
        ``future`` (the route carries the reply back); a dead target fails it with ``noproc``."""
        node = self._node
        process = node.processes.get(target) if type(target) is Pid else node.registry.whereis(target)
        if process is None:
            future.set_exception(ActorExited(target, NOPROC))
            self._dead_letter(sender, target, request)
            return
        caller = Caller(request, future, process, sender, self)
        process.add_call(caller)
        if process.mailbox.put_or_drop(caller):
            self._queued(sender, process, caller)

    def node_down(self, node_id: int) -> None:
        """Node ``node_id`` is gone: each link to one of its processes delivers an exit
        ``noconnection``, and each monitor of one a ``Down`` with ``noconnection``. (Calls
        waiting on it are the route's to fail: it holds their futures.)"""
        links, monitors = self._node.links.forget_node(node_id)
        for local, gone in links:
            self._apply_exit(gone, local, NOCONNECTION, True)
        for ref, watcher, gone in monitors:
            self._apply_down(watcher, Down(ref, gone, NOCONNECTION))


def _time_out(future: asyncio.Future[Any], pid: Pid, request: Any, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeout(pid, request, timeout))


def _settle_error(future: asyncio.Future[Any], error: BaseException) -> None:
    """Resolve a call's future that nobody will await with ``error`` (its watchers see how
    the call ended), marking the exception retrieved so asyncio does not log it."""
    future.set_exception(error)
    future.exception()
