"""Nodes on a local Ray cluster: remote messaging, FIFO per pair, links and monitors across
nodes, lost nodes, supervision across nodes, global names.

Marked ``ray`` (deselect with ``-m "not ray"``). Ray starts once for the module; the tests
that kill a node get a cluster of their own, the others share one. Every wait is on an event
(a reply, a ``WaitFor`` answered when enough has arrived) under a generous timeout, never a
sleep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from neural_actors.runtime import ActorExited, Down, Exit, NameTaken, NoProcess, Pid, Runtime, check_immutable, freeze
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags, which_children

ray = pytest.importorskip("ray")

from neural_actors.nodes import Cluster, ClusterError, Global, cluster, register_global  # noqa: E402

from .actors import Announcer, Collector, Crash, Echo, Get, Hold, Linker, Sleepy, WaitFor  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    """One local Ray for the module (two CPUs, no dashboard)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def shared(ray_session: None) -> Iterator[Cluster]:
    """Three nodes that no test kills."""
    with cluster(3, runtime={"log_level": "error"}) as nodes:
        yield nodes


@pytest.fixture
def own(ray_session: None) -> Iterator[Cluster]:
    """Three nodes for a test that kills one."""
    with cluster(3, runtime={"log_level": "error"}) as nodes:
        yield nodes


def test_cast_send_and_call_reach_a_process_on_another_node(shared: Cluster) -> None:
    """From node 0 to a process on node 1: casts and sends arrive, calls are answered, and a
    crash in the callee fails the caller with its reason."""
    collector = shared.start(1, Collector)
    shared.cast(collector, "cast")
    shared.send(collector, "info")

    seen = shared.call(collector, WaitFor(2))
    with pytest.raises(ActorExited) as crashed:
        shared.call(collector, Crash("over there"))

    assert 1 == collector.node
    assert ("cast", "info") == seen
    assert (collector, "over there") == (crashed.value.pid, str(crashed.value.reason))


async def _echo_arrays(runtime: Runtime, echo: Pid) -> list[tuple[bool, bool]]:
    """Send a small and a large (out of band) array to ``echo`` and back; for each, whether it
    came back equal and frozen."""
    sent = [freeze(np.arange(12, dtype=np.float32).reshape(3, 4)), freeze(np.ones((600, 600), np.float32))]
    back = await runtime.call(echo, tuple(sent))
    checked = []
    for original, came in zip(sent, back):
        try:
            check_immutable(came)
        except TypeError:
            frozen = False
        else:
            frozen = True
        checked.append((bool(np.array_equal(original, came)), frozen))
    return checked


def test_arrays_cross_nodes_and_arrive_frozen(shared: Cluster) -> None:
    """A small array (inside the batch) and a large one (through Ray's object store) come back
    equal and read-only over memory nobody can write."""
    echo = shared.start(1, Echo)

    assert [(True, True), (True, True)] == shared.run(0, _echo_arrays, echo)


async def _blast(runtime: Runtime, target: Pid, count: int, per_turn: int) -> None:
    """Cast 0 .. count - 1 to ``target``, yielding every ``per_turn``: many batches in flight."""
    for i in range(count):
        runtime.cast(target, i)
        if i % per_turn == per_turn - 1:
            await asyncio.sleep(0)


def test_messages_between_a_pair_arrive_in_send_order(shared: Cluster) -> None:
    """Thousands of casts in hundreds of batches, which Ray may deliver out of order, arrive in
    the order they were sent."""
    collector = shared.start(2, Collector)

    shared.run(0, _blast, collector, 20_000, 50)

    assert list(range(20_000)) == list(shared.call(collector, WaitFor(20_000), timeout=60.0))
    assert shared.statistics(0).batches_sent >= 400


def test_links_and_monitors_cross_nodes(shared: Cluster) -> None:
    """A crash on node 1 reaches a linked process and a monitor on node 0, with its reason."""
    watcher = shared.start(0, Linker)
    victim = shared.start(1, Collector)
    shared.cast(watcher, ("link", victim))
    shared.cast(watcher, ("monitor", victim))
    ref = shared.call(watcher, WaitFor(1))[0][1]

    shared.cast(victim, Crash("linked"))
    seen = shared.call(watcher, WaitFor(3))

    assert [(Exit, victim, "linked"), (Down, victim, "linked")] == [
        (type(s), s.pid, str(s.reason)) for s in seen[1:]
    ]
    assert ref == seen[2].ref


def test_a_killed_node_gives_noconnection_to_links_monitors_calls_and_names(own: Cluster) -> None:
    """Killing node 2's Ray actor: the call waiting on it fails at once, links and monitors
    hear ``noconnection``, its global names are gone, and nothing hangs."""
    holder = own.start(2, Hold)
    own.register("held", holder)
    watcher = own.start(0, Linker)
    own.cast(watcher, ("link", holder))
    own.cast(watcher, ("monitor", holder))
    own.call(watcher, WaitFor(1))
    assert holder == own.whereis("held")
    pending = own.submit_call(holder, Get(), timeout=None)  # waits for ever, unless the node goes

    own.kill(2)

    with pytest.raises(ActorExited) as failed:
        pending.result(timeout=30)
    seen = own.call(watcher, WaitFor(3))
    assert (holder, "noconnection") == (failed.value.pid, failed.value.reason)
    assert [(Exit, "noconnection"), (Down, "noconnection")] == [(type(s), s.reason) for s in seen[1:]]
    with pytest.raises(NoProcess):
        own.call(Global("held"), Get())
    with pytest.raises(ActorExited) as unreachable:
        own.call(holder, Get(), via=1)
    assert "noconnection" == unreachable.value.reason
    own.wait_lost(2)
    assert [0, 1] == own.nodes()
    with pytest.raises(ClusterError) as gone:
        own.call(holder, Get(), via=2)
    assert "node 2 is not up; the nodes up are [0, 1]" == str(gone.value)


def test_a_call_in_flight_when_its_callee_s_node_dies_fails_at_once(own: Cluster) -> None:
    """A slow callee's node is killed mid-call: the caller, an actor on node 0, gets
    ``noconnection`` long before its timeout."""
    sleepy = own.start(1, Sleepy)
    pending = own.submit_call(sleepy, 3600.0, timeout=7200.0)

    own.kill(1)

    with pytest.raises(ActorExited) as failed:
        pending.result(timeout=30)
    assert "noconnection" == failed.value.reason


def test_a_node_ray_restarts_comes_back_empty_under_a_new_number(ray_session: None) -> None:
    """With ``restart=True`` a killed node returns as a new node, with no processes; a pid of
    the lost incarnation reaches nothing there."""
    with cluster(2, restart=True, runtime={"log_level": "error"}) as nodes:
        lost = nodes.start(1, Echo)
        nodes.kill(1)

        number = nodes.wait_restarted(1)

        assert 2 == number
        assert [] == nodes.run(number, _processes)
        with pytest.raises(ActorExited) as unreachable:
            nodes.call(lost, "anyone?", via=number)
        assert "noconnection" == unreachable.value.reason
        started = nodes.start(number, Echo)
        assert "back" == nodes.call(started, "back")


def _processes(runtime: Runtime) -> list[Pid]:
    return runtime.processes()


def _tree(reporter: Pid, node: int) -> tuple[SupervisorFlags, tuple[ChildSpec, ...]]:
    spec = ChildSpec(id="worker", start=(Announcer, (reporter,)), node=node)
    return SupervisorFlags(intensity=5, period=60.0), (spec,)


async def _children(runtime: Runtime, supervisor: Pid) -> tuple[Pid | str | None, ...]:
    return tuple(pid for _, pid, _ in await which_children(runtime, supervisor))


def test_a_supervisor_restarts_a_child_on_its_node_and_elsewhere_when_the_node_dies(own: Cluster) -> None:
    """A supervisor on node 0 starts its child on node 1; a crash restarts it there; killing
    node 1 restarts it on a live node."""
    reporter = own.start(0, Collector)
    supervisor = own.start(0, Supervisor, *_tree(reporter, 1))
    first = own.call(reporter, WaitFor(1))[0][1]

    with pytest.raises(ActorExited):
        own.call(first, Crash("again"))
    second = own.call(reporter, WaitFor(2))[1][1]
    own.kill(1)
    third = own.call(reporter, WaitFor(3))[2][1]

    assert (1, 1) == (first.node, second.node)
    assert first != second
    assert third.node in (0, 2)
    assert (third,) == own.run(0, _children, supervisor)
    assert "still here" == own.call(third, "still here")


def test_global_names_are_found_from_every_node_and_unique(shared: Cluster) -> None:
    """A name registered on node 1 is found from nodes 0 and 2; a second holder is refused; once
    its process exits, the name no longer reaches anyone."""
    echo = shared.start(1, Echo)
    shared.register("echo", echo)
    other = shared.start(2, Echo)

    answers = [shared.call(Global("echo"), f"via {node}", via=node) for node in (0, 1, 2)]
    with pytest.raises(NameTaken):
        shared.register("echo", other)
    shared.run(1, _stop, echo)

    assert ["via 0", "via 1", "via 2"] == answers
    with pytest.raises(ActorExited):  # NoProcess once the name is released, noproc until then
        shared.call(Global("echo"), "anyone?", via=2)


async def _stop(runtime: Runtime, pid: Pid) -> None:
    await runtime.stop(pid)


def test_register_global_from_code_on_a_node(shared: Cluster) -> None:
    """``register_global`` registers from a node's own code; ``Global`` works as a target."""

    async def scenario(runtime: Runtime) -> tuple[str, Pid | None]:
        pid = runtime.spawn(Echo)
        await register_global(runtime, "scenario-echo", pid)
        return await runtime.call(Global("scenario-echo"), "hi"), pid

    answer, pid = shared.run(2, scenario)

    assert "hi" == answer
    assert pid == shared.whereis("scenario-echo")
