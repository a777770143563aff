"""The door to other nodes (``RemoteRoute``): two runtimes in one loop joined by a fake route.

The fake carries every signal to the other runtime on a later loop turn, in order, as a cluster
would, and can lose a node; the tests check what the seam does with pids of another node:
messages, calls and their replies, links and monitors, starts and waits, and ``noconnection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from typing import Any

import pytest
import pytest_asyncio
from neural_actors.runtime import (
    ActorExited,
    CallTimeout,
    Down,
    Exit,
    NoProcess,
    Pid,
    Runtime,
    StartFailed,
)

from .helpers import Crash, Get, Recorder, Sleep, Sleeper
from .test_links import Linker


class FakeRoute:
    """One node's route in a world of runtimes sharing a loop; ``lose`` takes a node away."""

    def __init__(self, home: Runtime, world: dict[int, Runtime]) -> None:
        self.home = home
        self.world = world
        self.pending: dict[asyncio.Future[Any], Pid] = {}
        self.forwarded = 0

    def _peer(self, pid: Pid) -> Runtime | None:
        return self.world.get(pid.node)

    def forward(self, sender: Pid, target: Pid, kind: Any, item: Any) -> None:
        self.forwarded += 1
        peer = self._peer(target)
        loop = asyncio.get_running_loop()
        if peer is not None:
            loop.call_soon(peer.delivery.arrive, sender, target, kind, item)
        elif kind == "link":
            loop.call_soon(self.home.delivery.arrive, target, sender, "exit", ("noconnection", True))
        elif kind == "monitor":
            down = Down(item, target, "noconnection")
            loop.call_soon(self.home.delivery.arrive, target, sender, "down", down)

    def call(self, sender: Pid, target: Pid, request: Any, future: asyncio.Future[Any]) -> None:
        peer = self._peer(target)
        if peer is None:
            future.set_exception(ActorExited(target, "noconnection"))
            return
        there = asyncio.get_running_loop().create_future()
        there.add_done_callback(lambda done: _settle(future, done))
        self.pending[future] = target
        future.add_done_callback(lambda done: self.pending.pop(done, None))
        asyncio.get_running_loop().call_soon(peer.delivery.arrive_call, sender, target, request, there)

    def whereis(self, name: Hashable) -> Pid | None:
        for runtime in self.world.values():
            if runtime is not self.home and (pid := runtime.whereis(name)) is not None:
                return pid
        return None

    async def start(self, node: Hashable, actor: type, args: tuple[Any, ...], options: dict[str, Any]) -> Pid:
        peer = self.world.get(node)  # type: ignore[call-overload]
        if peer is None:
            raise StartFailed(actor.__name__, "noconnection")
        pid = await peer.start(actor, *args, **options)
        if options.get("link") is not None:
            self.home.delivery.arrive(pid, options["link"], "link", None)
        return pid

    async def wait_exit(self, pid: Pid, timeout: float | None) -> Any:
        peer = self._peer(pid)
        return "noconnection" if peer is None else await peer.wait_exit(pid, timeout)

    def lose(self, node: int) -> None:
        """``node`` is gone, as seen from here."""
        for future, target in list(self.pending.items()):
            if target.node == node and not future.done():
                future.set_exception(ActorExited(target, "noconnection"))
        self.home.delivery.node_down(node)


def _settle(future: asyncio.Future[Any], done: asyncio.Future[Any]) -> None:
    error = done.exception()
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(done.result())


@pytest_asyncio.fixture
async def nodes() -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Node 0 and node 1, each with a route to the other."""
    world: dict[int, Runtime] = {}
    async with Runtime(clock="virtual", node=0) as zero, Runtime(clock="virtual", node=1) as one:
        world.update({0: zero, 1: one})
        zero.set_remote(FakeRoute(zero, world))
        one.set_remote(FakeRoute(one, world))
        yield zero, one


async def lose(nodes: tuple[Runtime, Runtime], node: int) -> None:
    """Take ``node`` away from the other's view, as a dead cluster node."""
    world = nodes[0].remote.world  # type: ignore[union-attr]
    gone = world.pop(node)
    for runtime in world.values():
        runtime.remote.lose(node)  # type: ignore[union-attr]
    await asyncio.sleep(0)
    assert gone.is_alive  # its processes live on; it is only unreachable


async def settle(*runtimes: Runtime) -> None:
    for _ in range(4):
        for runtime in runtimes:
            await runtime.wait_idle()
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_casts_sends_and_calls_reach_a_pid_of_another_node_in_order(nodes) -> None:
    """What is addressed to another node's pid arrives there, in send order, and a call's
    reply comes back to the caller."""
    zero, one = nodes
    there = one.spawn(Recorder, name="recorder")
    for i in range(3):
        zero.cast(there, i)
    zero.send(there, "info")
    zero.cast("recorder", "by name")

    assert (0, 1, 2, "info", "by name") == await zero.call(there, Get())


@pytest.mark.asyncio
async def test_an_unknown_name_is_no_process_on_every_node(nodes) -> None:
    """A name no node holds raises as a local unknown name does."""
    zero, _ = nodes

    with pytest.raises(NoProcess) as raised:
        zero.cast("nobody", 1)

    assert "no process is registered as 'nobody'" == str(raised.value)


@pytest.mark.asyncio
async def test_a_call_to_another_node_fails_with_the_callee_s_exit_and_times_out_here(nodes) -> None:
    """A callee that crashes fails the remote caller with its reason; a slow one times out on
    the caller's own clock."""
    zero, one = nodes
    recorder = one.spawn(Recorder)
    sleeper = one.spawn(Sleeper)

    with pytest.raises(ActorExited) as crashed:
        await zero.call(recorder, Crash("remote boom"))
    with pytest.raises(CallTimeout) as late:
        await zero.call(sleeper, Sleep(10.0), timeout=1.0)

    assert "remote boom" == str(crashed.value.reason)
    assert 1.0 == late.value.timeout


@pytest.mark.asyncio
async def test_links_and_monitors_cross_nodes(nodes) -> None:
    """A crash on node 1 reaches a trapping linked process and a monitor on node 0."""
    zero, one = nodes
    watcher = zero.spawn(Linker, True)
    victim = one.spawn(Recorder)
    zero.cast(watcher, ("link", victim))
    zero.cast(watcher, ("monitor", victim))
    await settle(zero, one)
    one.cast(victim, Crash("gone"))
    await settle(zero, one)

    seen = await zero.call(watcher, Get())

    ref = seen[0][1]
    assert [Exit, Down] == [type(item) for item in seen[1:]]
    assert (victim, "gone") == (seen[1].pid, str(seen[1].reason))
    assert (ref, victim, "gone") == (seen[2].ref, seen[2].pid, str(seen[2].reason))
    assert () == zero.process_info(watcher).links


@pytest.mark.asyncio
async def test_an_exit_on_this_node_reaches_links_on_another_and_uses_the_link_up(nodes) -> None:
    """The link is recorded on both nodes; the exit signal crosses and removes it there too."""
    zero, one = nodes
    watcher = one.spawn(Linker, True)
    victim = zero.spawn(Recorder)
    one.cast(watcher, ("link", victim))
    await settle(zero, one)
    assert (watcher,) == zero.process_info(victim).links

    zero.cast(victim, Crash("here"))
    await settle(zero, one)

    seen = await one.call(watcher, Get())
    assert [(victim, "here")] == [(item.pid, str(item.reason)) for item in seen]
    assert () == one.process_info(watcher).links


@pytest.mark.asyncio
async def test_linking_or_monitoring_a_dead_pid_of_another_node_is_noproc(nodes) -> None:
    """Its node answers for it: an exit ``noproc`` and a ``Down`` ``noproc``."""
    zero, one = nodes
    dead = one.spawn(Recorder)
    await one.stop(dead)
    watcher = zero.spawn(Linker, True)
    zero.cast(watcher, ("link", dead))
    zero.cast(watcher, ("monitor", dead))
    await settle(zero, one)

    seen = await zero.call(watcher, Get())

    assert [("exit", dead, "noproc"), ("down", dead, "noproc")] == [
        ("exit" if type(item) is Exit else "down", item.pid, item.reason) for item in seen[1:]
    ]


@pytest.mark.asyncio
async def test_unlink_and_demonitor_reach_the_other_node(nodes) -> None:
    """After unlink and demonitor, a crash over there tells nothing here."""
    zero, one = nodes
    watcher = zero.spawn(Linker, True)
    victim = one.spawn(Recorder)
    zero.cast(watcher, ("link", victim))
    zero.cast(watcher, ("monitor", victim))
    await settle(zero, one)
    ref = (await zero.call(watcher, Get()))[0][1]
    zero.cast(watcher, ("unlink", victim))
    zero.cast(watcher, ("demonitor", ref))
    await settle(zero, one)
    info = one.process_info(victim)

    one.cast(victim, Crash())
    await settle(zero, one)

    assert ((), 0) == (info.links, info.monitors)
    assert 1 == len(await zero.call(watcher, Get()))


@pytest.mark.asyncio
async def test_a_lost_node_gives_noconnection_to_links_monitors_and_pending_calls(nodes) -> None:
    """Losing node 1: the linked process and the monitor hear ``noconnection``, and a call
    waiting on it fails at once."""
    zero, one = nodes
    watcher = zero.spawn(Linker, True)
    plain = zero.spawn(Linker, False)
    victim = one.spawn(Sleeper)
    zero.cast(watcher, ("link", victim))
    zero.cast(watcher, ("monitor", victim))
    zero.cast(plain, ("link", victim))
    await settle(zero, one)
    call = asyncio.ensure_future(zero.call(victim, Sleep(100.0), timeout=None))
    plain_exit = asyncio.ensure_future(zero.wait_exit(plain))
    await asyncio.sleep(0)

    await lose(nodes, 1)

    with pytest.raises(ActorExited) as failed:
        await call
    assert (victim, "noconnection") == (failed.value.pid, failed.value.reason)
    seen = await zero.call(watcher, Get())
    assert [(Exit, "noconnection"), (Down, "noconnection")] == [(type(i), i.reason) for i in seen[1:]]
    assert "noconnection" == await plain_exit


@pytest.mark.asyncio
async def test_start_link_on_another_node_links_both_ways(nodes) -> None:
    """A process starts a child on node 1 with ``node=1``: the child's crash reaches it."""
    zero, one = nodes

    class Parent(Recorder):
        async def handle_call(self, msg, caller):
            if msg == "start":
                return await self.start_link(Recorder, node=1)
            return super().handle_call(msg, caller)

    parent = zero.spawn(Parent, True)
    child = await zero.call(parent, "start")
    info = one.process_info(child)
    one.cast(child, Crash("child"))
    await settle(zero, one)

    assert (1, parent, (parent,)) == (child.node, info.parent, info.links)
    assert [(child, "child")] == [(item.pid, str(item.reason)) for item in await zero.call(parent, Get())]


@pytest.mark.asyncio
async def test_wait_exit_waits_for_a_pid_of_another_node(nodes) -> None:
    """``wait_exit`` of a remote pid returns its reason once it exits there."""
    zero, one = nodes
    pid = one.spawn(Recorder)
    waiting = asyncio.ensure_future(zero.wait_exit(pid))
    await asyncio.sleep(0)
    await one.stop(pid)

    assert "shutdown" == await waiting


@pytest.mark.asyncio
async def test_without_a_route_other_nodes_are_unreachable() -> None:
    """A node on its own dead-letters what is sent to another node's pid, fails calls with
    ``noproc`` and refuses to start anything elsewhere."""
    async with Runtime(clock="virtual", node=0) as alone:
        elsewhere = Pid(1, 0, 1)
        alone.cast(elsewhere, "lost")
        with pytest.raises(ActorExited) as failed:
            await alone.call(elsewhere, Get())
        with pytest.raises(StartFailed) as refused:
            await alone.start(Recorder, node=1)

        assert 1 == alone.statistics().dead_letters
        assert "noproc" == failed.value.reason
        assert "Recorder failed to start: node 1 is not reachable: runtime node 0 is in no cluster" == str(
            refused.value
        )
