"""Supervisors on a mesh: a restarted child keeps its core, and children of a failed core are
restarted on live ones."""

import pytest
from neural_actors.runtime import Actor, Runtime
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags, which_children


class Worker(Actor):
    def handle_cast(self, msg):
        raise RuntimeError("crash")


async def pids(rt: Runtime, sup) -> dict:
    return {cid: pid for cid, pid, _ in await which_children(rt, sup)}


@pytest.mark.asyncio
async def test_a_restarted_child_keeps_its_core() -> None:
    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        specs = [ChildSpec(id="a", start=(Worker, ())), ChildSpec(id="b", start=(Worker, ()), core=9)]
        sup = await rt.start(Supervisor, SupervisorFlags(intensity=5), specs, core=0)
        before = await pids(rt, sup)
        rt.cast(before["a"], "crash")
        rt.cast(before["b"], "crash")
        await rt.wait_idle()

        after = await pids(rt, sup)

    assert 9 == before["b"].core
    assert {k: p.core for k, p in before.items()} == {k: p.core for k, p in after.items()}
    assert before["a"] != after["a"]


@pytest.mark.asyncio
async def test_children_of_a_failed_core_restart_on_live_cores() -> None:
    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        specs = [ChildSpec(id=f"w{i}", start=(Worker, ()), core=5) for i in range(3)]
        sup = await rt.start(Supervisor, SupervisorFlags(intensity=5), specs, core=0)
        assert {5} == {p.core for p in (await pids(rt, sup)).values()}

        rt.fail_core(5)
        await rt.wait_idle()

        moved = await pids(rt, sup)
        assert rt.is_alive(sup)
        assert all(p.core != 5 and rt.is_alive(p) for p in moved.values())
