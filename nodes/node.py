"""A node: one ``Runtime`` running inside one async Ray actor, whose event loop is the node's.

The actor joins the cluster's directory when it starts, builds its runtime with the node number
the directory gave it, and installs a ``ClusterRoute``, which it gives two things: ``post``
(a batch leaves as one fire-and-forget ``receive.remote`` call to the destination's actor) and
the news of nodes coming and going.

How a lost node is seen: every node keeps one call pending on each peer's ``watch`` method,
which never returns while the peer runs (``liveness.py``). When the peer's process dies
(killed, crashed, its machine gone) Ray fails that call at once, and the node calls
``route.node_down``; a peer that stops on purpose answers it, which counts the same. No
heartbeat traffic, no polling: Ray's own failure detection does the work.

The driver (``cluster.py``) reaches a node through the other methods here; each returns
``("ok", value)`` or ``("error", exception)`` so the driver re-raises the runtime's own
exception, not Ray's wrapper of it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import ray
import structlog

from neural_actors.runtime import Pid, Runtime

from .liveness import until_lost
from .names import Global
from .route import ClusterRoute, RouteStatistics

__all__ = ["NodeActor"]

log = structlog.get_logger("neural_actors.nodes")

Outcome = tuple[str, Any]


class _Names:
    """The directory, as a route's ``Registrar``."""

    def __init__(self, directory: Any) -> None:
        self._directory = directory

    async def register(self, name: Global, pid: Pid) -> Pid | None:
        holder: Pid | None = await self._directory.register.remote(name, pid)
        return holder

    async def unregister(self, name: Global, pid: Pid) -> None:
        await self._directory.unregister.remote(name, pid)


class NodeActor:
    """One node of a cluster; Ray runs it as an async actor (``cluster.py`` makes it remote)."""

    async def __init__(self, slot: int, directory: Any, runtime: dict[str, Any]) -> None:  # type: ignore[misc]  # Ray awaits it
        me = ray.get_runtime_context().current_actor
        self.slot = slot
        self.node, peers, names = await directory.join.remote(slot, me)
        self.runtime = Runtime(node=self.node, **runtime)
        await self.runtime.start_runtime()
        self.route = ClusterRoute(self.runtime, self._post, _Names(directory))
        self.runtime.set_remote(self.route)
        self._peers: dict[int, Any] = {}
        self._stopped: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers: set[asyncio.Task[None]] = set()
        for node, handle in peers.items():
            self.peer_up(node, handle)
        self.route.names_changed(names, ())
        log.info("node_started", node=self.node, slot=slot, peers=sorted(peers))

    # Between nodes ----------------------------------------------------------------------------

    def _post(self, node: int, seq: int, payload: bytes, buffers: list[Any]) -> None:
        handle = self._peers.get(node)
        if handle is not None:
            # Large arrays as uint8 arrays: Ray moves those through its object store unpickled.
            handle.receive.remote(self.node, seq, payload, *[np.frombuffer(b, dtype=np.uint8) for b in buffers])

    async def receive(self, source: int, seq: int, payload: bytes, *buffers: Any) -> None:
        """A batch from node ``source``."""
        self.route.receive(source, seq, payload, buffers)

    def peer_up(self, node: int, handle: Any) -> None:
        """Node ``node`` joined (the directory says so): carry to it, and watch it."""
        if node == self.node or node in self._peers:
            return
        self._peers[node] = handle
        self.route.node_up(node)
        task = asyncio.get_running_loop().create_task(self._watch(node, handle))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _watch(self, node: int, handle: Any) -> None:
        await until_lost(node, handle)
        self._peers.pop(node, None)
        if not self._stopped.done():
            self.route.node_down(node)

    async def watch(self) -> None:
        """Returns when this node stops; fails (through Ray) when its process dies."""
        await asyncio.shield(self._stopped)

    def names_changed(self, added: dict[Global, Pid], removed: tuple[Global, ...]) -> None:
        """The cluster's name table changed."""
        self.route.names_changed(added, removed)

    # For the driver ---------------------------------------------------------------------------

    def ready(self) -> tuple[int, int]:
        """This node's number and slot, once it has started."""
        return self.node, self.slot

    async def start(self, actor: type, args: tuple[Any, ...], options: dict[str, Any]) -> Outcome:
        """``Runtime.start`` here (or where ``node=`` in ``options`` says)."""
        return await _outcome(self.runtime.start(actor, *args, **options))

    async def call(self, target: Pid | Hashable, msg: Any, timeout: float | None) -> Outcome:
        """``Runtime.call`` from this node."""
        return await _outcome(self.runtime.call(target, msg, timeout))

    def cast(self, target: Pid | Hashable, msg: Any, info: bool) -> Outcome:
        """``Runtime.cast`` (``send`` with ``info``) from this node."""
        try:
            (self.runtime.send if info else self.runtime.cast)(target, msg)
        except Exception as error:  # noqa: BLE001 - carried back to the driver
            return "error", error.with_traceback(None)
        return "ok", None

    async def run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> Outcome:
        """``function(runtime, *args)`` on this node's loop, awaited if it is a coroutine."""
        try:
            result = function(self.runtime, *args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:  # noqa: BLE001 - carried back to the driver
            return "error", error.with_traceback(None)
        return "ok", result

    async def register(self, name: Hashable, pid: Pid) -> Outcome:
        """Register the global name ``name`` for ``pid`` from this node."""
        return await _outcome(self.route.register(name, pid))

    def statistics(self) -> RouteStatistics:
        """What this node's route has carried."""
        return self.route.statistics()

    async def stop(self) -> None:
        """Stop this node's processes, then tell the others it is gone."""
        await self.runtime.shutdown()
        await self.route.close()
        if not self._stopped.done():
            self._stopped.set_result(None)
        for task in list(self._watchers):
            task.cancel()


async def _outcome(work: Any) -> Outcome:
    try:
        return "ok", await work
    except Exception as error:  # noqa: BLE001 - carried back to the driver
        return "error", error.with_traceback(None)
