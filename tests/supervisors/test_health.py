"""The health snapshot of a running tree: states, restarts, last reasons, mailbox depth, JSON."""

import json

import pytest
from neural_actors.runtime import Actor, Runtime
from neural_actors.supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorFlags,
    start_dynamic_child,
    terminate_child,
    tree_health,
    which_children,
)


class Worker(Actor):
    def handle_cast(self, msg):
        raise RuntimeError(msg)


@pytest.mark.asyncio
async def test_tree_health_reports_every_node_of_a_nested_tree(actor_runtime: Runtime) -> None:
    """Running, restarting (a backoff pause) and stopped children; restarts; last reasons."""
    rt = actor_runtime
    pool = ChildSpec(id="pool", type="supervisor", start=(DynamicSupervisor, (ChildSpec(id="t", start=(Worker, ())),)))
    specs = [
        ChildSpec(id="steady", start=(Worker, ())),
        ChildSpec(id="flaky", start=(Worker, ()), backoff=Backoff(min=10, max=10, random_factor=0)),
        ChildSpec(id="gone", start=(Worker, ()), restart="transient"),
        pool,
    ]
    root = await rt.start(Supervisor, SupervisorFlags(intensity=5), specs, name="root")
    pids = {cid: pid for cid, pid, _ in await which_children(rt, root)}
    await start_dynamic_child(rt, pids["pool"])
    rt.cast(pids["steady"], "boom")  # restarted at once
    rt.cast(pids["flaky"], "oops")  # restart due in 10 s
    await rt.wait_idle()
    await terminate_child(rt, root, "gone")

    health = await tree_health(rt, "root")

    nodes = {child.id: child for child in health.root.children}
    assert ("running", 1, "RuntimeError: boom") == (nodes["steady"].state, nodes["steady"].restarts, nodes["steady"].last_reason)
    assert ("restarting", "RuntimeError: oops") == (nodes["flaky"].state, nodes["flaky"].last_reason)
    assert ("stopped", None) == (nodes["gone"].state, nodes["gone"].pid)
    assert 0 == nodes["steady"].mailbox_depth
    assert [("running", "worker")] == [(c.state, c.type) for c in nodes["pool"].children]
    assert ["flaky"] == health.restarting()
    assert not health.healthy
    as_json = json.loads(health.to_json())
    assert ["steady", "flaky", "gone", "pool"] == [c["id"] for c in as_json["children"]]
    assert repr(nodes["steady"].pid) == as_json["children"][0]["pid"]


@pytest.mark.asyncio
async def test_a_healthy_tree_says_so(actor_runtime: Runtime) -> None:
    root = await actor_runtime.start(Supervisor, SupervisorFlags(), [ChildSpec(id="w", start=(Worker, ()))])

    assert (await tree_health(actor_runtime, root)).healthy
