"""The supervisor beyond OTP's suite (``test_supervisor_suite.py``): exact stop and start order
per strategy, the intensity window, start failures, nesting three levels deep, reports."""

import asyncio

import pytest
from neural_actors.runtime import Actor, Runtime, StartFailed, Stop
from neural_actors.supervisors import (
    ChildSpec,
    Supervisor,
    SupervisorFlags,
    count_children,
    start_child,
    which_children,
)

from ..journal import Journal

#: The exit reason of a supervisor that gives up, as OTP's.
GAVE_UP = ("shutdown", "reached_max_restart_intensity")


class Worker(Actor):
    """Logs its start and stop to a shared list; exits as told by casts."""

    trap_exit = True

    def init(self, name: str, log: list) -> None:
        self.name = name
        self.log = log
        log.append(("start", name))

    def handle_cast(self, msg):
        if msg == "crash":
            raise RuntimeError(f"{self.name} crashed")
        raise Stop(msg)

    def terminate(self, reason):
        if reason == "shutdown":
            self.log.append(("stop", self.name))


class Idle(Actor):
    """A child with no arguments, so its spec can be sent in a message."""


class FailsToStart(Actor):
    def init(self) -> None:
        raise ValueError("no config")


def workers(log: list, *names: str, restart: str = "permanent") -> list[ChildSpec]:
    return [ChildSpec(id=name, start=(Worker, (name, log)), restart=restart) for name in names]


async def pids(rt: Runtime, sup) -> dict:
    return {child_id: pid for child_id, pid, _ in await which_children(rt, sup)}


async def start_tree(rt: Runtime, strategy: str, log: list, intensity: int = 10) -> object:
    flags = SupervisorFlags(strategy=strategy, intensity=intensity, period=5)
    return await rt.start(Supervisor, flags, workers(log, "a", "b", "c"))


async def crash_b(rt: Runtime, strategy: str) -> tuple[dict, dict, list]:
    """Start children a, b, c under ``strategy``, crash b; returns pids before, after, and the log."""
    log = Journal()
    sup = await start_tree(rt, strategy, log)
    before = await pids(rt, sup)
    log.clear()
    rt.cast(before["b"], "crash")
    await rt.wait_idle()
    return before, await pids(rt, sup), log


@pytest.mark.asyncio
async def test_one_for_one_restarts_only_the_failed_child(actor_runtime: Runtime) -> None:
    """one_for_one: the crashed child gets a new pid; its siblings keep theirs."""
    before, after, log = await crash_b(actor_runtime, "one_for_one")

    assert (before["a"], before["c"]) == (after["a"], after["c"])
    assert before["b"] != after["b"] and actor_runtime.is_alive(after["b"])
    assert [("start", "b")] == log


@pytest.mark.asyncio
async def test_one_for_all_restarts_every_child(actor_runtime: Runtime) -> None:
    """one_for_all: the others stop in reverse order, then all start in order."""
    before, after, log = await crash_b(actor_runtime, "one_for_all")

    assert [("stop", "c"), ("stop", "a"), ("start", "a"), ("start", "b"), ("start", "c")] == log
    assert not set(before.values()) & set(after.values())


@pytest.mark.asyncio
async def test_rest_for_one_restarts_the_failed_child_and_those_after_it(actor_runtime: Runtime) -> None:
    """rest_for_one: children started before the failed one are untouched."""
    before, after, log = await crash_b(actor_runtime, "rest_for_one")

    assert [("stop", "c"), ("start", "b"), ("start", "c")] == log
    assert before["a"] == after["a"]


@pytest.mark.asyncio
async def test_intensity_exceeded_stops_children_and_exits_shutdown(actor_runtime: Runtime, log_events: list) -> None:
    """More than ``intensity`` restarts within ``period`` makes the supervisor give up."""
    log = Journal()
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=1, period=5), workers(log, "a", "b"))
    actor_runtime.cast((await pids(actor_runtime, sup))["b"], "crash")
    await actor_runtime.wait_idle()
    actor_runtime.cast((await pids(actor_runtime, sup))["b"], "crash")

    assert GAVE_UP == await actor_runtime.wait_exit(sup)
    assert ("stop", "a") == log[-1]
    assert any(e["event"] == "intensity_reached" for e in log_events)


@pytest.mark.asyncio
async def test_restarts_outside_the_period_do_not_accumulate(actor_runtime: Runtime) -> None:
    """The window slides: one crash per period, forever, is within intensity 1."""
    log = Journal()
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=1, period=5), workers(log, "a"))
    for _ in range(4):
        actor_runtime.cast((await pids(actor_runtime, sup))["a"], "crash")
        await actor_runtime.wait_idle()
        await asyncio.sleep(6)

    assert actor_runtime.is_alive(sup)
    assert 4 == (await count_children(actor_runtime, sup))["restarts"]


@pytest.mark.asyncio
async def test_failing_child_at_start_fails_the_supervisor_naming_it(actor_runtime: Runtime) -> None:
    """A child whose init fails makes start fail with the child's id and reason; earlier ones stop."""
    log = Journal()
    children = [*workers(log, "a"), ChildSpec(id="bad", start=(FailsToStart, ()))]

    with pytest.raises(StartFailed) as info:
        await actor_runtime.start(Supervisor, SupervisorFlags(), children)

    shutdown, (tag, child_id, reason) = info.value.reason
    assert ("shutdown", "failed_to_start_child", "bad") == (shutdown, tag, child_id)
    assert "no config" == str(reason)
    assert [("start", "a"), ("stop", "a")] == log


@pytest.mark.asyncio
async def test_escalation_through_three_levels(actor_runtime: Runtime) -> None:
    """A leaf supervisor that gives up is restarted by its parent; a root that gives up exits."""
    log = Journal()
    leaf = ChildSpec(id="leaf", start=(Supervisor, (SupervisorFlags(intensity=0), workers(log, "w"))), type="supervisor")
    middle = ChildSpec(id="middle", start=(Supervisor, (SupervisorFlags(intensity=1), [leaf])), type="supervisor")
    root = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=0), [middle])

    async def crash_leaf_worker() -> None:
        middle_pid = (await pids(actor_runtime, root))["middle"]
        leaf_pid = (await pids(actor_runtime, middle_pid))["leaf"]
        actor_runtime.cast((await pids(actor_runtime, leaf_pid))["w"], "crash")
        await actor_runtime.wait_idle()

    await crash_leaf_worker()  # leaf gives up; middle restarts it (1 restart allowed)
    assert actor_runtime.is_alive(root)
    await crash_leaf_worker()  # leaf gives up again; middle gives up; root (intensity 0) gives up

    assert not actor_runtime.is_alive(root)
    assert 0 == actor_runtime.statistics().processes


@pytest.mark.asyncio
async def test_a_child_supervisor_added_at_run_time_supervises_its_own_children(actor_runtime: Runtime) -> None:
    """A subtree built with ``start_child`` in the documented form (flags and children in the
    spec): its grandchild worker is restarted by it, and the root sees nothing."""
    rt = actor_runtime
    root = await rt.start(Supervisor, SupervisorFlags(), [])
    sub = await start_child(rt, root, ChildSpec(id="sub", type="supervisor", start=(Supervisor, (SupervisorFlags(), ()))))
    grandchild = await start_child(rt, sub, ChildSpec(id="g", start=(Idle, ())))
    rt.exit(grandchild, "kill")
    await rt.wait_idle()

    ((_, restarted, _),) = await which_children(rt, sub)
    assert restarted != grandchild and rt.is_alive(restarted)
    assert ((("sub", sub, "supervisor"),), 0, 1) == (
        await which_children(rt, root), (await count_children(rt, root))["restarts"], (await count_children(rt, sub))["restarts"]
    )
