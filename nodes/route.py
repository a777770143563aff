"""One node's route to the others: the runtime's ``RemoteRoute``, with no Ray in it.

The runtime hands over whatever is addressed to another node (``forward``, ``call``, ``start``,
``wait_exit``); the route turns each into a record, queues it for its destination node, and
sends every destination's queue as one batch on the next loop turn (at once when a queue
reaches ``MAX_BATCH``): one carrier call per destination and turn, not one per message. A
batch carries a sequence number per (source, destination) pair and the receiver applies
batches in that order, holding any that overtook an earlier one (Ray does not keep the order of
calls to an async actor), so per-pair FIFO holds as in Erlang. Records are applied through
the seam's own doors (``Delivery.arrive``, ``arrive_call``).

A call's future stays here with the caller; the callee's node answers with a reply record. So
do starts and waits. When a node is lost, everything that waits on it is answered at once as
Erlang's distribution does: calls fail with ``ActorExited(pid, "noconnection")``, starts with
``StartFailed(actor, "noconnection")``, waits return ``"noconnection"``; the seam's
``node_down`` signals every link and monitor; the node's global names are dropped; and nothing
more is accepted from it. A signal to a lost node is answered as that node would have been:
a link with an exit ``noconnection``, a monitor with a ``Down`` ``noconnection``; messages to
it are dropped (counted).

How batches travel and how nodes learn of each other is the carrier's business (``node.py``
with Ray; an in-process fake in the tests): it calls ``post`` to send and ``receive``,
``node_up``, ``node_down`` and ``names_changed`` as things happen.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
from collections.abc import Callable, Hashable
from typing import Any, Protocol, final

import attrs
import structlog

from neural_actors.runtime import ActorExited, Down, NameTaken, Pid, RemoteKind, Runtime, StartFailed
from neural_actors.supervisors import NODE_PLACEMENTS

from .names import Global
from .wire import decode, encode

__all__ = ["MAX_BATCH", "NOCONNECTION", "ClusterRoute", "Post", "Registrar", "RouteStatistics"]

log = structlog.get_logger("neural_actors.nodes")

NOCONNECTION = "noconnection"

#: A destination's queue is sent at once when it holds this many records.
MAX_BATCH = 4096

# Record codes: the first item of every record (small ints pickle in two bytes).
CAST, SEND, EXIT, DOWN, LINK, UNLINK, MONITOR, DEMONITOR, CALL, REPLY, START, WAIT = range(12)
_SIGNALS = ("cast", "send", "exit", "down", "link", "unlink", "monitor", "demonitor")
_CODES = {kind: code for code, kind in enumerate(_SIGNALS)}


class Post(Protocol):
    """How a batch leaves: to node ``node``, the ``seq``-th batch of this pair."""

    def __call__(self, node: int, seq: int, payload: bytes, buffers: list[pickle.PickleBuffer]) -> None: ...


class Registrar(Protocol):
    """The cluster's name table, as the route uses it."""

    async def register(self, name: Global, pid: Pid) -> Pid | None:
        """Give ``name`` to ``pid`` on every node; returns the holder if the name is taken."""
        ...

    async def unregister(self, name: Global, pid: Pid) -> None:
        """Release ``name`` if ``pid`` still holds it."""
        ...


@final
@attrs.frozen
class RouteStatistics:
    """What one node's route has carried so far."""

    batches_sent: int
    records_sent: int
    batches_received: int
    records_received: int
    dropped: int  # records to lost nodes, or that could not be pickled
    nodes: tuple[int, ...]  # the nodes this one believes alive, itself included
    lost: tuple[int, ...]


@attrs.define(eq=False)
class _Waiting:
    """Something waiting on another node: a call, a start or a wait for an exit."""

    future: asyncio.Future[Any]
    node: int
    lost: Callable[[asyncio.Future[Any]], None]  # answers it when the node is lost
    replied: Callable[[Any], Any] | None = None  # turns a good reply into the result


@final
class ClusterRoute:
    """The runtime's ``RemoteRoute`` for one node of a cluster; see the module docstring."""

    def __init__(self, runtime: Runtime, post: Post, registrar: Registrar | None = None) -> None:
        self._runtime = runtime
        self._delivery = runtime.delivery
        self.node = runtime.node
        self._post = post
        self._registrar = registrar
        self._loop = asyncio.get_running_loop()
        self._live: dict[int, None] = {self.node: None}
        self._lost: dict[int, None] = {}
        self._outbox: dict[int, list[tuple[Any, ...]]] = {}
        self._flush_due = False
        self._sent: dict[int, int] = {}
        self._expected: dict[int, int] = {}
        self._held: dict[int, dict[int, tuple[bytes, tuple[Any, ...]]]] = {}
        self._refs = itertools.count(1)
        self._waiting: dict[int, _Waiting] = {}
        self._names: dict[Global, Pid] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._turn = itertools.count()
        self._batches_sent = self._records_sent = self._batches_received = self._records_received = 0
        self._dropped = 0

    def __repr__(self) -> str:
        return f"<ClusterRoute of node {self.node}: {len(self._live)} nodes alive, {len(self._waiting)} waiting>"

    # The runtime's door (RemoteRoute) ---------------------------------------------------------

    def forward(self, sender: Pid, target: Pid, kind: RemoteKind, item: Any) -> None:
        """Queue one signal for ``target``'s node, or answer for a node that is gone."""
        node = target.node
        if node in self._live:
            self._queue(node, (_CODES[kind], sender, target, item))
        elif kind == "link":
            self._delivery.arrive(target, sender, "exit", (NOCONNECTION, True))
        elif kind == "monitor":
            self._delivery.arrive(target, sender, "down", Down(item, target, NOCONNECTION))
        else:
            self._dropped += 1

    def call(self, sender: Pid, target: Pid, request: Any, future: asyncio.Future[Any]) -> None:
        """Queue a call; ``future`` gets the reply, or fails when ``target``'s node is lost."""
        ref = self._wait(future, target.node, lambda f: f.set_exception(ActorExited(target, NOCONNECTION)))
        if ref is not None:
            self._queue(target.node, (CALL, sender, target, ref, request))

    def whereis(self, name: Hashable) -> Pid | None:
        """The pid of a global name (``Global``), from this node's replica of the name table."""
        return self._names.get(name) if type(name) is Global else None

    async def start(self, node: Hashable, actor: type, args: tuple[Any, ...], options: dict[str, Any]) -> Pid:
        """Start ``actor`` on ``node`` (if alive, else the next live node in turn) or where the
        placement ``node`` names; a ``link`` in ``options`` is linked on both nodes."""
        where = self._place(node)
        if where == self.node:
            return await self._runtime.start(actor, *args, **options)
        name = getattr(actor, "__name__", repr(actor))
        link = options.get("link")

        def started(answer: tuple[Pid, bool]) -> Pid:
            # Linked here as the answer is applied, before any later signal from the child's
            # node: a child that died before answering has already signalled its exit.
            pid, alive = answer
            if link is not None and alive:
                self._delivery.arrive(pid, link, "link", None)
            return pid

        future = self._loop.create_future()
        ref = self._wait(future, where, lambda f: f.set_exception(StartFailed(name, NOCONNECTION)), started)
        if ref is not None:
            self._queue(where, (START, ref, actor, args, options))
        pid: Pid = await future
        return pid

    async def wait_exit(self, pid: Pid, timeout: float | None) -> Any:
        """Wait for ``pid`` to exit on its node; ``"noconnection"`` if the node is lost first.

        Raises:
            TimeoutError: it was still alive after ``timeout`` seconds.
        """
        future = self._loop.create_future()
        ref = self._wait(future, pid.node, lambda f: f.set_result(NOCONNECTION))
        if ref is not None:
            self._queue(pid.node, (WAIT, ref, pid, timeout))
        if timeout is None:
            return await future
        async with asyncio.timeout(timeout):
            return await future

    # Global names -----------------------------------------------------------------------------

    async def register(self, name: Hashable, pid: Pid) -> None:
        """Give ``pid`` the global name ``name`` (``Global(name)`` finds it from any node) until
        it exits or its node is lost.

        Raises:
            NameTaken: a live process holds the name.
            RuntimeError: this node has no name table (a route made without a registrar).
        """
        if self._registrar is None:
            raise RuntimeError("this route has no cluster name table; global names need a cluster")
        key = name if type(name) is Global else Global(name)
        holder = await self._registrar.register(key, pid)
        if holder is not None:
            raise NameTaken(key, holder)
        self._names[key] = pid
        self._spawn(self._release_at_exit(key, pid))

    async def _release_at_exit(self, name: Global, pid: Pid) -> None:
        await self._runtime.wait_exit(pid)
        if self._names.get(name) == pid:
            del self._names[name]
        if self._registrar is not None:
            await self._registrar.unregister(name, pid)

    def names_changed(self, added: dict[Global, Pid], removed: tuple[Global, ...]) -> None:
        """The cluster's name table changed (the directory says so)."""
        for name in removed:
            self._names.pop(name, None)
        self._names.update((name, pid) for name, pid in added.items() if pid.node not in self._lost)

    def global_names(self) -> dict[Global, Pid]:
        """This node's replica of the cluster's name table."""
        return dict(self._names)

    # Nodes coming and going -------------------------------------------------------------------

    def node_up(self, node: int) -> None:
        """``node`` joined the cluster: signals to it are carried from now on."""
        if node not in self._lost:
            self._live[node] = None

    def node_down(self, node: int) -> None:
        """``node`` is lost: answer everything that waits on it; see the module docstring."""
        if node == self.node or node in self._lost:
            return
        self._live.pop(node, None)
        self._lost[node] = None
        self._dropped += len(self._outbox.pop(node, ()))
        self._held.pop(node, None)
        for ref, waiting in list(self._waiting.items()):
            if waiting.node == node:
                del self._waiting[ref]
                if not waiting.future.done():
                    waiting.lost(waiting.future)
        for name in [name for name, pid in self._names.items() if pid.node == node]:
            del self._names[name]
        self._delivery.node_down(node)
        log.warning("node_lost", node=self.node, lost=node)

    def alive(self) -> tuple[int, ...]:
        """The nodes this one believes alive, itself included, in order."""
        return tuple(sorted(self._live))

    def statistics(self) -> RouteStatistics:
        """A snapshot of what this route has carried."""
        return RouteStatistics(
            self._batches_sent, self._records_sent, self._batches_received, self._records_received,
            self._dropped, self.alive(), tuple(self._lost),
        )

    # Sending ----------------------------------------------------------------------------------

    def _wait(
        self, future: asyncio.Future[Any], node: int, lost: Callable[[asyncio.Future[Any]], None],
        replied: Callable[[Any], Any] | None = None,
    ) -> int | None:
        """Remember ``future`` until its node answers; answered at once if the node is gone."""
        if node not in self._live:
            lost(future)
            return None
        ref = next(self._refs)
        self._waiting[ref] = _Waiting(future, node, lost, replied)
        # A caller that gives up (timeout, cancellation) forgets its entry; a late answer is
        # then discarded.
        future.add_done_callback(lambda _: self._waiting.pop(ref, None))
        return ref

    def _queue(self, node: int, record: tuple[Any, ...]) -> None:
        outbox = self._outbox.get(node)
        if outbox is None:
            outbox = self._outbox[node] = []
        outbox.append(record)
        if len(outbox) >= MAX_BATCH:
            self._send(node, self._outbox.pop(node))
        elif not self._flush_due:
            self._flush_due = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        outboxes, self._outbox = self._outbox, {}
        for node, records in outboxes.items():
            self._send(node, records)

    def _send(self, node: int, records: list[tuple[Any, ...]]) -> None:
        try:
            payload, buffers = encode(records)
        except Exception:  # noqa: BLE001 - find the records that cannot cross, send the rest
            records = self._crossable(records)
            if not records:
                return
            payload, buffers = encode(records)
        seq = self._sent.get(node, 0)
        self._sent[node] = seq + 1
        self._batches_sent += 1
        self._records_sent += len(records)
        self._post(node, seq, payload, buffers)

    def _crossable(self, records: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The records that pickle; each that does not is answered as a failure here."""
        kept = []
        for record in records:
            try:
                encode([record])
            except Exception as error:  # noqa: BLE001 - reported to whoever waits, or logged
                replacement = self._refused(record, error)
                if replacement is not None:
                    kept.append(replacement)
            else:
                kept.append(record)
        return kept

    def _refused(self, record: tuple[Any, ...], error: Exception) -> tuple[Any, ...] | None:
        why = f"cannot cross to another node: {type(error).__name__}: {error}"
        code = record[0]
        if code in (CALL, START, WAIT):
            ref = record[3] if code == CALL else record[1]
            waiting = self._waiting.pop(ref, None)
            if waiting is not None and not waiting.future.done():
                failure = StartFailed(getattr(record[2], "__name__", "actor"), why) if code == START else TypeError(why)
                waiting.future.set_exception(failure)
            return None
        if code == REPLY:
            return (REPLY, record[1], False, TypeError(f"the reply {why}"))
        self._dropped += 1
        log.error("message_dropped", node=self.node, kind=_SIGNALS[code], target=repr(record[2]), reason=why)
        return None

    # Receiving --------------------------------------------------------------------------------

    def receive(self, source: int, seq: int, payload: bytes, buffers: tuple[Any, ...] = ()) -> None:
        """A batch from ``source`` got here: apply it in order, holding it if one is missing."""
        if source in self._lost:
            return  # Erlang's rule: nothing from a node after it is seen down
        expected = self._expected.get(source, 0)
        if seq != expected:
            self._held.setdefault(source, {})[seq] = (payload, buffers)
            return
        held = self._held.get(source)
        while True:
            self._apply(source, payload, buffers)
            expected += 1
            if not held or expected not in held:
                break
            payload, buffers = held.pop(expected)
        self._expected[source] = expected

    def _apply(self, source: int, payload: bytes, buffers: tuple[Any, ...]) -> None:
        records = decode(payload, buffers)
        self._batches_received += 1
        self._records_received += len(records)
        arrive = self._delivery.arrive
        for record in records:
            code = record[0]
            try:
                if code < CALL:
                    arrive(record[1], record[2], _SIGNALS[code], record[3])  # type: ignore[arg-type]
                elif code == CALL:
                    self._called(source, *record[1:])
                elif code == REPLY:
                    self._replied(*record[1:])
                elif code == START:
                    self._spawn(self._answer(source, record[1], self._started(*record[2:])))
                else:
                    self._spawn(self._answer(source, record[1], self._runtime.wait_exit(*record[2:])))
            except Exception as error:  # noqa: BLE001 - one bad record must not stop the batch
                log.error("record_failed", node=self.node, source=source, code=code, error=repr(error))

    def _called(self, source: int, sender: Pid, target: Pid, ref: int, request: Any) -> None:
        future = self._loop.create_future()
        future.add_done_callback(lambda done: self._answer_call(source, ref, done))
        self._delivery.arrive_call(sender, target, request, future)

    def _answer_call(self, source: int, ref: int, done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if source in self._live:
            self._queue(source, (REPLY, ref, error is None, done.result() if error is None else error))

    def _replied(self, ref: int, ok: bool, value: Any) -> None:
        waiting = self._waiting.pop(ref, None)
        if waiting is None or waiting.future.done():
            return  # the caller gave up
        if not ok:
            waiting.future.set_exception(value)
            return
        if waiting.replied is not None:
            value = waiting.replied(value)
        waiting.future.set_result(value)

    async def _started(self, actor: type, args: tuple[Any, ...], options: dict[str, Any]) -> tuple[Pid, bool]:
        pid = await self._runtime.start(actor, *args, **options)
        return pid, self._runtime.is_alive(pid)

    async def _answer(self, source: int, ref: int, work: Any) -> None:
        try:
            value = await work
        except Exception as error:  # noqa: BLE001 - the asker's error, carried back
            answer: tuple[Any, ...] = (REPLY, ref, False, error.with_traceback(None))
        else:
            answer = (REPLY, ref, True, value)
        if source in self._live:
            self._queue(source, answer)

    def _spawn(self, work: Any) -> None:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Placement --------------------------------------------------------------------------------

    def _place(self, node: Hashable) -> int:
        """The node a start goes to: ``node`` if alive, else the next live node in turn."""
        if type(node) is int and node >= 0:
            if node in self._live:
                return node
        elif node not in NODE_PLACEMENTS:
            raise ValueError(
                f"node must be a node number (an int >= 0) or one of {', '.join(NODE_PLACEMENTS)} (got {node!r})"
            )
        live = sorted(self._live)
        return live[next(self._turn) % len(live)]

    async def close(self) -> None:
        """Cancel the work this route runs for others (starts, waits); sends nothing more."""
        self._live = {self.node: None}
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
