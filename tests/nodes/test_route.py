"""A node's route without Ray: runtimes in one loop, batches carried by a fake that can deliver
them out of order and lose a node; on the virtual clock, so every run is the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from neural_actors.runtime import (
    ActorExited,
    Down,
    Exit,
    NameTaken,
    Pid,
    Runtime,
    StartFailed,
    check_immutable,
    freeze,
)
from neural_actors.nodes import Global
from neural_actors.nodes.route import MAX_BATCH, ClusterRoute

from .actors import Collector, Echo, Get, Hold, Linker, WaitFor


class Wire:
    """Carries batches between the routes of a few runtimes on the next loop turn; while
    ``paused`` it keeps them, and ``release`` delivers them last first, as Ray may; ``lose``
    cuts a node off."""

    def __init__(self) -> None:
        self.routes: dict[int, ClusterRoute] = {}
        self.paused = False
        self.in_flight: list[tuple[int, int, int, bytes, tuple[Any, ...]]] = []
        self.names: dict[Global, Pid] = {}

    def post_from(self, source: int):
        def post(node: int, seq: int, payload: bytes, buffers: list) -> None:
            if not self.in_flight and not self.paused:
                asyncio.get_running_loop().call_soon(self.deliver)
            self.in_flight.append((source, node, seq, payload, tuple(b.raw() for b in buffers)))

        return post

    def deliver(self, batches: Any = None) -> None:
        if batches is None:
            batches, self.in_flight = self.in_flight, []
        for source, node, seq, payload, buffers in batches:
            if node in self.routes and source in self.routes:
                self.routes[node].receive(source, seq, payload, buffers)

    def release(self) -> int:
        """Deliver what was kept, last first, and carry on unpaused; returns how many."""
        batches, self.in_flight = self.in_flight, []
        self.paused = False
        self.deliver(list(reversed(batches)))
        return len(batches)

    async def register(self, name: Global, pid: Pid) -> Pid | None:
        if name in self.names:
            return self.names[name]
        self.names[name] = pid
        for route in self.routes.values():
            route.names_changed({name: pid}, ())
        return None

    async def unregister(self, name: Global, pid: Pid) -> None:
        if self.names.get(name) == pid:
            del self.names[name]
            for route in self.routes.values():
                route.names_changed({}, (name,))

    def lose(self, node: int) -> None:
        del self.routes[node]
        for route in self.routes.values():
            route.node_down(node)


async def cluster(count: int) -> AsyncIterator[tuple[Wire, list[Runtime]]]:
    wire = Wire()
    runtimes = [Runtime(clock="virtual", node=i) for i in range(count)]
    for runtime in runtimes:
        await runtime.start_runtime()
        route = ClusterRoute(runtime, wire.post_from(runtime.node), wire)
        runtime.set_remote(route)
        wire.routes[runtime.node] = route
    for runtime in runtimes:
        for other in runtimes:
            runtime.remote.node_up(other.node)  # type: ignore[union-attr]
    try:
        yield wire, runtimes
    finally:
        for runtime in runtimes:
            await runtime.remote.close()  # type: ignore[union-attr]
            await runtime.shutdown()


@pytest_asyncio.fixture
async def two() -> AsyncIterator[tuple[Wire, list[Runtime]]]:
    async for pair in cluster(2):
        yield pair


@pytest.mark.asyncio
async def test_batches_overtaking_each_other_still_arrive_in_send_order(two) -> None:
    """Batches delivered last first are held and applied in sequence: FIFO per pair holds."""
    wire, (zero, one) = two
    collector = one.spawn(Collector)
    wire.paused = True
    for turn in range(5):
        for i in range(3):
            zero.cast(collector, (turn, i))
        await asyncio.sleep(0)  # one batch per turn

    released = wire.release()
    seen = await zero.call(collector, WaitFor(15))

    assert 5 == released
    assert [(t, i) for t in range(5) for i in range(3)] == list(seen)


@pytest.mark.asyncio
async def test_one_batch_carries_a_turn_s_messages_and_a_full_queue_leaves_at_once(two) -> None:
    """A turn's messages to one node go as one batch, split only at ``MAX_BATCH``."""
    _, (zero, one) = two
    collector = one.spawn(Collector)
    for i in range(MAX_BATCH + 10):
        zero.cast(collector, i)

    seen = await zero.call(collector, WaitFor(MAX_BATCH + 10))

    stats = zero.remote.statistics()  # type: ignore[union-attr]
    assert list(range(MAX_BATCH + 10)) == list(seen)
    # the full queue left at once; the last ten went with the call, queued in the same turn
    assert (2, MAX_BATCH + 10 + 1) == (stats.batches_sent, stats.records_sent)


@pytest.mark.asyncio
async def test_arrays_arrive_frozen_whatever_their_size(two) -> None:
    """Small and large arrays cross and come back read-only over memory nobody can write."""
    _, (zero, one) = two
    echo = one.spawn(Echo)
    small = freeze(np.arange(6, dtype=np.float32).reshape(2, 3))
    large = freeze(np.ones((600, 600), dtype=np.float32))

    back = await zero.call(echo, (small, large))

    for sent, came in zip((small, large), back):
        check_immutable(came)
        assert (sent.dtype, sent.shape) == (came.dtype, came.shape)
        assert np.array_equal(sent, came)


@pytest.mark.asyncio
async def test_a_message_pickle_cannot_carry_fails_its_call_and_spares_the_batch(two) -> None:
    """A request that cannot be pickled fails its own call with a clear error; the message
    queued beside it still arrives."""
    _, (zero, one) = two
    collector = one.spawn(Collector)

    class Local:  # a class inside a function: pickle cannot name it
        pass

    from neural_actors.runtime import register_immutable

    register_immutable(Local)
    zero.cast(collector, "before")
    with pytest.raises(TypeError) as refused:
        await zero.call(collector, Local())

    assert ("before",) == await zero.call(collector, WaitFor(1))
    assert str(refused.value).startswith("cannot cross to another node: AttributeError: Can't pickle local object")


@pytest.mark.asyncio
async def test_losing_a_node_answers_everything_waiting_on_it(two) -> None:
    """Calls fail with ``noconnection``, waits return it, links and monitors hear it, and
    later signals to the node are answered the same way."""
    wire, (zero, one) = two
    holder = one.spawn(Hold)
    watcher = zero.spawn(Linker)
    zero.cast(watcher, ("link", holder))
    zero.cast(watcher, ("monitor", holder))
    await zero.call(watcher, WaitFor(1))  # the monitor's ref
    call = asyncio.ensure_future(zero.call(holder, Get(), timeout=None))
    wait = asyncio.ensure_future(zero.wait_exit(holder))
    await asyncio.sleep(0)

    wire.lose(1)

    with pytest.raises(ActorExited) as failed:
        await call
    seen = await zero.call(watcher, WaitFor(3))
    assert (holder, "noconnection") == (failed.value.pid, failed.value.reason)
    assert "noconnection" == await wait
    assert [(Exit, "noconnection"), (Down, "noconnection")] == [(type(s), s.reason) for s in seen[1:]]
    zero.cast(watcher, ("link", holder))
    zero.cast(watcher, ("monitor", holder))
    later = await zero.call(watcher, WaitFor(6))
    signals = [(type(s), s.reason) for s in later[3:] if type(s) is not tuple]
    assert [(Exit, "noconnection"), (Down, "noconnection")] == signals
    assert (0,) == zero.remote.alive()  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_start_places_on_the_named_node_or_the_next_live_one(two) -> None:
    """``node=1`` starts there; once node 1 is lost the start goes to a live node; an unknown
    placement is refused naming what is allowed."""
    wire, (zero, _) = two

    there = await zero.start(Collector, node=1)
    wire.lose(1)
    elsewhere = await zero.start(Collector, node=1)
    with pytest.raises(ValueError) as refused:
        await zero.start(Collector, node="spread")

    assert (1, 0) == (there.node, elsewhere.node)
    assert "node must be a node number (an int >= 0) or one of round_robin (got 'spread')" == str(refused.value)


@pytest.mark.asyncio
async def test_a_start_that_fails_over_there_fails_here_with_its_reason(two) -> None:
    """``init`` crashing on node 1 raises ``StartFailed`` with the reason on node 0."""
    _, (zero, _) = two

    with pytest.raises(StartFailed) as failed:
        await zero.start(Collector, "crash", node=1)

    assert "Collector failed to start: ValueError: asked to crash" == str(failed.value)


@pytest.mark.asyncio
async def test_global_names_resolve_on_every_node_and_go_with_their_process(two) -> None:
    """A global name reaches its process from any node; it is released when the process exits,
    and a taken name is refused."""
    _, (zero, one) = two
    collector = one.spawn(Collector)
    await one.remote.register("collector", collector)  # type: ignore[union-attr]

    zero.cast(Global("collector"), "hello")
    one.cast(Global("collector"), "from home")
    seen = await zero.call(Global("collector"), WaitFor(2))
    with pytest.raises(NameTaken):
        await zero.remote.register("collector", zero.spawn(Collector))  # type: ignore[union-attr]
    await one.stop(collector)
    await asyncio.sleep(0)

    assert ("from home", "hello") == seen  # the local cast arrives at once
    assert {} == zero.remote.global_names()  # type: ignore[union-attr]
