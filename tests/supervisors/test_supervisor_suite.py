"""Cases of OTP's ``supervisor_SUITE``, each named after the case it mirrors.

Mirrored here (the rest of the applicable cases live beside the code they test):
``sup_start_fail`` / ``sup_start_error_return`` (child start failure), ``sup_stop_infinity``,
``sup_stop_timeout``, ``sup_stop_brutal_kill``, ``permanent_shutdown``, ``temporary_bystander``,
``one_for_all_other_child_fails_restart``, ``hanging_restart_loop``, ``child_unlink``,
``count_children``. In ``test_supervisor.py``: ``permanent_normal`` .. ``temporary_abnormal``
(the restart-type matrix), ``one_for_one``, ``one_for_all``, ``rest_for_one``, the escalation
cases (``tree``), ``child_adm``, ``order_of_deletion``, ``significant_*``/``auto_shutdown``.
In ``test_dynamic.py``: ``simple_one_for_one``, ``simple_one_for_one_extra``,
``simple_one_for_one_shutdown``.

Not applicable: ``code_change*`` and ``*_upgrade*`` (no hot code loading in Python),
``simple_global_supervisor`` (no global registry yet: one node), ``get_callback_module`` and
``extra_return`` (callbacks are methods of an ``Actor`` class, not a module returning tuples),
``format_log_*`` (reports are structlog events, not formatted strings),
``sup_start_ignore_*`` (a Python ``init`` cannot return ``ignore``; a child that should not run
is simply not in the spec list).
"""

import asyncio

import pytest

from neural_actors.runtime import Actor, ActorExited, Runtime, Stop
from neural_actors.supervisors import (
    ChildSpec,
    Supervisor,
    SupervisorFlags,
    count_children,
    terminate_child,
    which_children,
)


class Child(Actor):
    """A child whose behaviour is set per test through a shared ``plan`` dict."""

    trap_exit = True

    async def init(self, name: str, plan: dict) -> None:
        self.name = name
        self.plan = plan
        plan.setdefault("starts", []).append(name)
        if name in plan.get("fail_start", ()) and plan["starts"].count(name) > 1:
            raise RuntimeError(f"{name} cannot start")

    def handle_cast(self, msg):
        if msg == "unlink":
            self.unlink(self.parent)
            return
        if msg == "shutdown":
            raise Stop(msg)
        raise RuntimeError(msg)

    async def terminate(self, reason):
        await asyncio.sleep(self.plan.get("terminate_seconds", 0))
        self.plan.setdefault("terminated", []).append(self.name)


def spec(name: str, plan: dict, **options) -> ChildSpec:
    return ChildSpec(id=name, start=(Child, (name, plan)), **options)


async def child_pid(rt: Runtime, sup, name: str):
    return {cid: pid for cid, pid, _ in await which_children(rt, sup)}[name]


@pytest.mark.asyncio
async def test_sup_stop_timeout(actor_runtime: Runtime) -> None:
    """sup_stop_timeout: a child slower than its shutdown is killed when the time is up."""
    plan = {"terminate_seconds": 100}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("slow", plan, shutdown=2)])
    start = actor_runtime.now()

    await actor_runtime.stop(sup)

    assert 2.0 == actor_runtime.now() - start
    assert "terminated" not in plan


@pytest.mark.asyncio
async def test_sup_stop_infinity(actor_runtime: Runtime) -> None:
    """sup_stop_infinity: a child with shutdown infinity is waited for, however long."""
    plan = {"terminate_seconds": 1000}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("patient", plan, shutdown="infinity")])
    start = actor_runtime.now()

    await actor_runtime.stop(sup, "infinity")

    assert 1000.0 == actor_runtime.now() - start
    assert ["patient"] == plan["terminated"]


@pytest.mark.asyncio
async def test_sup_stop_brutal_kill(actor_runtime: Runtime) -> None:
    """sup_stop_brutal_kill: the child is killed at once, without terminate."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("k", plan, shutdown="brutal_kill")])

    await actor_runtime.stop(sup)

    assert "terminated" not in plan
    assert 0 == actor_runtime.statistics().processes


@pytest.mark.asyncio
async def test_permanent_shutdown(actor_runtime: Runtime) -> None:
    """permanent_shutdown: a permanent child that exits with ``shutdown`` is restarted."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("p", plan)])
    actor_runtime.cast(await child_pid(actor_runtime, sup, "p"), "shutdown")
    await actor_runtime.wait_idle()

    assert ["p", "p"] == plan["starts"]


@pytest.mark.asyncio
async def test_temporary_bystander(actor_runtime: Runtime) -> None:
    """temporary_bystander: a temporary child stopped by one_for_all is not brought back."""
    plan: dict = {}
    children = [spec("perm", plan), spec("temp", plan, restart="temporary")]
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(strategy="one_for_all", intensity=5), children)
    actor_runtime.cast(await child_pid(actor_runtime, sup, "perm"), "crash")
    await actor_runtime.wait_idle()

    assert ["perm"] == [cid for cid, _, _ in await which_children(actor_runtime, sup)]


@pytest.mark.asyncio
async def test_one_for_all_other_child_fails_restart(actor_runtime: Runtime) -> None:
    """one_for_all_other_child_fails_restart: a sibling that cannot restart makes the supervisor give up."""
    plan = {"fail_start": ("b",)}
    children = [spec("a", plan), spec("b", plan)]
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(strategy="one_for_all", intensity=3, period=10), children)
    actor_runtime.cast(await child_pid(actor_runtime, sup, "a"), "crash")

    assert "shutdown" == await actor_runtime.wait_exit(sup)
    assert 0 == actor_runtime.statistics().processes


@pytest.mark.asyncio
async def test_hanging_restart_loop(actor_runtime: Runtime) -> None:
    """hanging_restart_loop: failed restarts are retried as messages; the supervisor still
    answers calls between attempts, and gives up when the intensity is spent."""
    plan = {"fail_start": ("h",)}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=3, period=10), [spec("h", plan)])
    actor_runtime.cast(await child_pid(actor_runtime, sup, "h"), "crash")
    restarts_seen = []
    try:
        while not restarts_seen or restarts_seen[-1] == 0:
            restarts_seen.append((await count_children(actor_runtime, sup))["restarts"])
    except ActorExited:
        pytest.fail("the supervisor died before answering between restart attempts")

    assert "shutdown" == await actor_runtime.wait_exit(sup)
    assert 1 <= restarts_seen[-1] <= 3
    assert 4 == len(plan["starts"])  # the first start and three failed restarts


@pytest.mark.asyncio
async def test_child_unlink(actor_runtime: Runtime) -> None:
    """child_unlink: a child that unlinked itself is still stopped, since the supervisor waits on its exit."""
    plan: dict = {"terminate_seconds": 0}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("u", plan)])
    actor_runtime.cast(await child_pid(actor_runtime, sup, "u"), "unlink")
    await actor_runtime.wait_idle()

    await terminate_child(actor_runtime, sup, "u")

    assert [("u", None, "worker")] == list(await which_children(actor_runtime, sup))
    assert ["u"] == plan["terminated"]


@pytest.mark.asyncio
async def test_count_children(actor_runtime: Runtime) -> None:
    """count_children: specs, active, supervisors and workers are counted."""
    plan: dict = {}
    inner = ChildSpec(id="inner", start=(Supervisor, (SupervisorFlags(), [])), type="supervisor")
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("a", plan), spec("b", plan), inner])
    await terminate_child(actor_runtime, sup, "b")

    assert {"specs": 3, "active": 2, "supervisors": 1, "workers": 2, "restarts": 0} == await count_children(actor_runtime, sup)
