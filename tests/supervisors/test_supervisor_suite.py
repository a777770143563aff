"""Cases of OTP's ``supervisor_SUITE``, each named after the case it mirrors.

Here: ``sup_start_normal``, ``sup_start_fail`` (with ``sup_start_error_return``), ``child_specs``
(with ``sup_start_map_faulty_specs``), ``sup_flags``, ``sup_stop_infinity``,
``sup_stop_timeout``, ``sup_stop_brutal_kill``, ``multiple_restarts``, the three
``*_escalation`` cases, ``one_for_all_other_child_fails_restart``,
``rest_for_one_other_child_fails_restart``, ``permanent_shutdown``, ``transient_shutdown``,
``temporary_shutdown``, ``temporary_bystander``, ``hanging_restart_loop``, ``child_unlink``,
``count_children``, ``do_not_save_child_specs_for_temporary_children``.
In ``test_supervisor.py``: ``permanent_normal`` .. ``temporary_abnormal`` (the restart-type
matrix, one parameter per case), ``one_for_one``, ``one_for_all``, ``rest_for_one``, ``tree``
(three levels of escalation), ``child_adm``, the start-order and stop-order checks, and the
``significant_*``/``auto_shutdown_*`` cases. In ``test_dynamic.py``: ``simple_one_for_one``,
``simple_one_for_one_extra``, ``simple_one_for_one_shutdown``,
``simple_one_for_one_escalation``.

Not applicable: ``code_change*`` and ``*_upgrade*`` (no hot code loading in Python),
``simple_global_supervisor`` (no global registry: one node so far), ``get_callback_module`` and
``extra_return`` (callbacks are methods of an ``Actor`` class, not a module returning tuples),
``format_log_*`` (reports are structlog events, not formatted strings),
``sup_start_ignore_*`` (a Python ``init`` cannot return ``ignore``; a child that should not run
is left out of the spec list), ``sup_start_map`` (specs are one attrs class, not maps or tuples).
"""

import asyncio

import pytest

from neural_actors.runtime import Actor, ActorExited, Runtime, StartFailed, Stop
from neural_actors.supervisors import (
    ChildSpec,
    InvalidChildSpec,
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


@pytest.mark.parametrize("strategy", ["one_for_all", "rest_for_one"])
@pytest.mark.asyncio
async def test_other_child_fails_restart(actor_runtime: Runtime, strategy: str) -> None:
    """one_for_all_other_child_fails_restart, rest_for_one_other_child_fails_restart: a later
    sibling that cannot restart exhausts the intensity and the supervisor gives up."""
    plan = {"fail_start": ("b",)}
    children = [spec("a", plan), spec("b", plan)]
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(strategy=strategy, intensity=3, period=10), children)
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


@pytest.mark.asyncio
async def test_sup_start_normal(actor_runtime: Runtime) -> None:
    """sup_start_normal: a supervisor with no children starts and stops with ``shutdown``."""
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=2, period=3600), [])

    assert "shutdown" == await actor_runtime.stop(sup)


@pytest.mark.asyncio
async def test_sup_start_fail(actor_runtime: Runtime) -> None:
    """sup_start_fail / sup_start_error_return: bad child specs fail the start, saying which and why."""
    with pytest.raises(StartFailed, match=r"children\[0\]: 'not a spec' must be a ChildSpec"):
        await actor_runtime.start(Supervisor, SupervisorFlags(), ["not a spec"])


def test_child_specs() -> None:
    """child_specs / sup_start_map_faulty_specs: each faulty key is reported by name."""
    with pytest.raises(InvalidChildSpec, match=r"^id: None must be a hashable value, not None$"):
        ChildSpec(id=None, start=(Child, ()))
    with pytest.raises(InvalidChildSpec, match=r"^start: 'x' must be \(actor_class, args\) or \(actor_class, args, kwargs\)$"):
        ChildSpec(id="a", start="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpec, match=r"^type: 'thread' is not one of worker, supervisor$"):
        ChildSpec(id="a", start=(Child, ()), type="thread")  # type: ignore[arg-type]


def test_sup_flags() -> None:
    """sup_flags: faulty strategy, intensity, period and auto_shutdown are refused by name."""
    with pytest.raises(InvalidChildSpec, match=r"^strategy: 'all_for_one' is not one of one_for_one, one_for_all, rest_for_one$"):
        SupervisorFlags(strategy="all_for_one")  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpec, match=r"^period: 0 must be seconds > 0$"):
        SupervisorFlags(period=0)
    with pytest.raises(InvalidChildSpec, match=r"^auto_shutdown: 'sometimes' is not one of never, any_significant, all_significant$"):
        SupervisorFlags(auto_shutdown="sometimes")  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_multiple_restarts(actor_runtime: Runtime) -> None:
    """multiple_restarts: exactly ``intensity`` restarts within the period are allowed, one more is not."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(intensity=3, period=60), [spec("m", plan)])
    for _ in range(3):
        actor_runtime.cast(await child_pid(actor_runtime, sup, "m"), "crash")
        await actor_runtime.wait_idle()
    assert actor_runtime.is_alive(sup)

    actor_runtime.cast(await child_pid(actor_runtime, sup, "m"), "crash")

    assert "shutdown" == await actor_runtime.wait_exit(sup)


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
@pytest.mark.asyncio
async def test_strategy_escalation(actor_runtime: Runtime, strategy: str) -> None:
    """one_for_one_escalation, one_for_all_escalation, rest_for_one_escalation: past the
    intensity the supervisor stops every child and exits ``shutdown``, which its parent sees."""
    plan: dict = {}
    inner = ChildSpec(
        id="inner",
        start=(Supervisor, (SupervisorFlags(strategy=strategy, intensity=0), [spec("a", plan), spec("b", plan)])),
        type="supervisor",
        restart="temporary",
    )
    outer = await actor_runtime.start(Supervisor, SupervisorFlags(), [inner])
    inner_pid = await child_pid(actor_runtime, outer, "inner")
    actor_runtime.cast(await child_pid(actor_runtime, inner_pid, "a"), "crash")

    assert "shutdown" == await actor_runtime.wait_exit(inner_pid)
    assert ["a", "b"] == plan["terminated"]  # a after its crash, b when the supervisor gave up
    assert () == tuple(await which_children(actor_runtime, outer))


@pytest.mark.parametrize(
    ("restart", "kept"), [("transient", True), ("temporary", False)], ids=["transient_shutdown", "temporary_shutdown"]
)
@pytest.mark.asyncio
async def test_transient_and_temporary_shutdown(actor_runtime: Runtime, restart: str, kept: bool) -> None:
    """transient_shutdown, temporary_shutdown: a ``shutdown`` exit is not restarted; temporary specs go."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("s", plan, restart=restart)])
    actor_runtime.cast(await child_pid(actor_runtime, sup, "s"), "shutdown")
    await actor_runtime.wait_idle()

    assert (["s"], [("s", None, "worker")] if kept else []) == (plan["starts"], list(await which_children(actor_runtime, sup)))


@pytest.mark.asyncio
async def test_do_not_save_child_specs_for_temporary_children(actor_runtime: Runtime) -> None:
    """do_not_save_child_specs_for_temporary_children: an exited temporary child leaves no spec."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, SupervisorFlags(), [spec("t", plan, restart="temporary")])
    actor_runtime.cast(await child_pid(actor_runtime, sup, "t"), "crash")
    await actor_runtime.wait_idle()

    assert {"specs": 0, "active": 0, "supervisors": 0, "workers": 0, "restarts": 0} == await count_children(actor_runtime, sup)
