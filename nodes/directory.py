"""The directory: the one Ray actor that knows which nodes are up and who holds each global name.

Nodes join it as they start: it gives each incarnation its number (a node's first start gets
its slot's number; a node Ray restarts gets a fresh one, beyond the slots, so a pid of the
lost incarnation can never reach a process of the new one, as Erlang's node creation does),
tells every node already up about the newcomer before answering, and answers with the nodes up
and the name table. A global name is registered here and pushed to every node before the
registration returns, so once ``register`` has returned every node resolves the name. The
directory watches every node; a lost node's names are dropped (each node drops them from its
own replica when it sees the loss itself).

Joins and registrations are serialized by one lock, so a node that joins gets a name table
that no registration is halfway through.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from neural_actors.runtime import Pid

from .liveness import until_lost
from .names import Global

__all__ = ["Directory"]

log = structlog.get_logger("neural_actors.nodes")

#: Seconds the directory waits for a node to take a change of the name table before it moves
#: on without that node (a node that slow is about to be seen lost anyway).
BROADCAST_TIMEOUT = 10.0


class Directory:
    """Membership and global names of one cluster (runs as a Ray actor)."""

    def __init__(self, slots: int) -> None:
        self._next = slots
        self._started: set[int] = set()
        self._nodes: dict[int, tuple[int, Any]] = {}  # node -> (slot, actor handle)
        self._slots: dict[int, int] = {}  # every node that ever joined -> its slot
        self._changed = asyncio.Event()  # set, and replaced, at every join and loss
        self._names: dict[Global, Pid] = {}
        self._lock = asyncio.Lock()
        self._watchers: set[asyncio.Task[None]] = set()

    async def join(self, slot: int, handle: Any) -> tuple[int, dict[int, Any], dict[Global, Pid]]:
        """A node of ``slot`` starts: its number, the nodes up (with their handles), the names."""
        async with self._lock:
            if slot in self._started:
                # Ray restarted this slot's actor: whatever ran there before is gone.
                for old in [old for old, (was, _) in self._nodes.items() if was == slot]:
                    self._forget(old)
                node = self._next
                self._next += 1
            else:
                node = slot
                self._started.add(slot)
            peers = {peer: peer_handle for peer, (_, peer_handle) in self._nodes.items()}
            await self._tell_all("peer_up", node, handle)
            self._nodes[node] = (slot, handle)
            self._slots[node] = slot
            self._announce()
            task = asyncio.get_running_loop().create_task(self._watch(node, handle))
            self._watchers.add(task)
            task.add_done_callback(self._watchers.discard)
            log.info("node_joined", node=node, slot=slot)
            return node, peers, dict(self._names)

    async def _watch(self, node: int, handle: Any) -> None:
        await until_lost(node, handle)
        self._forget(node)

    def _forget(self, node: int) -> None:
        if self._nodes.pop(node, None) is None:
            return
        for name in [name for name, pid in self._names.items() if pid.node == node]:
            del self._names[name]
        self._announce()
        log.info("node_left", node=node)

    def _announce(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def register(self, name: Global, pid: Pid) -> Pid | None:
        """Give ``name`` to ``pid`` on every node; returns the live holder if it is taken."""
        async with self._lock:
            holder = self._names.get(name)
            if holder is not None and holder.node in self._nodes:
                return holder
            self._names[name] = pid
            await self._tell_all("names_changed", {name: pid}, ())
            return None

    async def unregister(self, name: Global, pid: Pid) -> None:
        """Release ``name`` if ``pid`` still holds it, on every node."""
        async with self._lock:
            if self._names.get(name) != pid:
                return
            del self._names[name]
            await self._tell_all("names_changed", {}, (name,))

    def whereis(self, name: Global) -> Pid | None:
        """The pid holding the global ``name``, or ``None``."""
        return self._names.get(name)

    async def replaced(self, node: int) -> int:
        """Wait until a new incarnation serves the slot ``node`` ran in; its number."""
        slot = self._slots[node]
        while True:
            for number, (was, _) in self._nodes.items():
                if was == slot and number != node:
                    return number
            await self._changed.wait()

    async def lost(self, node: int) -> None:
        """Wait until the directory has seen ``node`` go."""
        while node in self._nodes:
            await self._changed.wait()

    def nodes(self) -> dict[int, tuple[int, Any]]:
        """The nodes up: number -> (slot, actor handle)."""
        return dict(self._nodes)

    async def _tell_all(self, method: str, *args: Any) -> None:
        calls = [getattr(handle, method).remote(*args) for _, handle in self._nodes.values()]
        if not calls:
            return
        try:
            async with asyncio.timeout(BROADCAST_TIMEOUT):
                await asyncio.gather(*calls, return_exceptions=True)  # a lost node is skipped
        except TimeoutError:
            log.warning("broadcast_late", method=method)
