"""OTP's ``supervisor_SUITE``, case by case: each test is named after the case it mirrors.

Every case of the suite (OTP 27) that applies here has a test of its name below; where OTP has
a tuple-spec and a map-spec twin of one case, one test covers both, as its docstring says.
``DynamicSupervisor`` plays ``simple_one_for_one``. The order of ``which_children`` is start
order here (OTP lists the newest first).

Not applicable, and why:
- ``extra_return``, ``simple_one_for_one_extra``'s ``{ok, Pid, Info}`` half: a start returns a
  pid only (``simple_one_for_one_extra`` is kept for its restart-with-own-arguments half).
- ``get_callback_module``: callbacks are methods of an ``Actor`` class, not a module.
- ``external_start_no_progress_log``, ``format_log_1``, ``format_log_2``: reports are structlog
  events (see ``test_supervisor.py``), not SASL progress reports or formatted strings.
- ``faulty_application_shutdown``, ``simple_global_supervisor``: no OTP applications, no
  ``global`` registry (one node so far).
- ``code_change``, ``code_change_map``, ``code_change_simple``, ``code_change_simple_map``,
  ``significant_upgrade_*`` (7 cases): no hot code upgrade in Python.
"""

import asyncio
import gc
import weakref

import pytest
from neural_actors.runtime import Actor, ActorExited, Ignore, Runtime, StartFailed, StartIgnored, Stop, message
from neural_actors.supervisors import (
    RESTARTING,
    ChildSpec,
    DynamicSupervisor,
    InvalidChildSpec,
    Supervisor,
    SupervisorError,
    SupervisorFlags,
    check_childspecs,
    count_children,
    delete_child,
    get_childspec,
    restart_child,
    start_child,
    start_dynamic_child,
    terminate_child,
    which_children,
)

#: The exit reason of a supervisor that gives up, as OTP's.
GAVE_UP = ("shutdown", "reached_max_restart_intensity")

INFINITY = float("inf")

#: Plans by key: a spec sent in ``start_child`` must be immutable, so children get the key.
PLANS: dict[int, dict] = {}


class Child(Actor):
    """A child steered by a ``plan`` dict the test shares with it (and may change meanwhile).

    ``plan["failing"][name]``: how many more starts fail (each after ``plan["fail_seconds"]``);
    ``plan["terminate_seconds"]``: how long ``terminate`` takes (a number, or per name);
    ``plan["exit_at"][name] = (seconds, reason)``: exit by itself then.
    Starts and terminations are recorded in ``plan["starts"]`` and ``plan["terminated"]``.
    """

    trap_exit = True

    async def init(self, name: str, plan_key: int, suffix: str = "", payload: object = None) -> None:
        self.name = name + suffix
        self.plan = plan = PLANS[plan_key]
        plan.setdefault("starts", []).append(self.name)
        failing = plan.setdefault("failing", {})
        if failing.get(self.name, 0) > 0:
            failing[self.name] -= 1
            await asyncio.sleep(plan.get("fail_seconds", 0))
            raise RuntimeError(f"{self.name} cannot start")
        if self.name in plan.get("exit_at", {}):
            seconds, reason = plan["exit_at"][self.name]
            self.send_after(seconds, self.pid, ("exit", reason))

    def handle_cast(self, msg):
        if msg == "unlink":
            self.unlink(self.parent)
        elif msg == "crash":
            raise RuntimeError(f"{self.name} crashed")
        else:
            raise Stop(msg)

    def handle_call(self, msg, caller):
        return self.name

    def handle_info(self, msg):
        if type(msg) is tuple and msg[0] == "exit":
            raise Stop(msg[1])
        Actor.handle_info(self, msg)

    async def terminate(self, reason):
        seconds = self.plan.get("terminate_seconds", 0)
        await asyncio.sleep(seconds.get(self.name, 0) if isinstance(seconds, dict) else seconds)
        self.plan.setdefault("terminated", []).append(self.name)


@message
class Payload:
    """A start argument the tests can watch with a weak reference."""

    data: tuple


def plan_key(plan: dict) -> int:
    PLANS[id(plan)] = plan
    return id(plan)


def spec(child_id: str, plan: dict, /, **options) -> ChildSpec:
    return ChildSpec(id=child_id, start=(Child, (child_id, plan_key(plan))), **options)


def sup_flags(**options) -> SupervisorFlags:
    return SupervisorFlags(**{"intensity": 2, "period": 3600, **options})


async def child_pid(rt: Runtime, sup, name: str):
    return {cid: pid for cid, pid, _ in await which_children(rt, sup)}[name]


async def counts(rt: Runtime, sup) -> tuple[int, int, int, int]:
    """OTP's ``get_child_counts``: specs, active, supervisors, workers."""
    c = await count_children(rt, sup)
    return c["specs"], c["active"], c["supervisors"], c["workers"]


def watch(rt: Runtime, *pids) -> list[asyncio.Future]:
    """Exit reasons of ``pids``, to be awaited after they exit."""
    return [asyncio.ensure_future(rt.wait_exit(pid)) for pid in pids]


async def reasons(watches: list[asyncio.Future]) -> list:
    return [await w for w in watches]


async def end(rt: Runtime, pid, how: str) -> None:
    """OTP's ``terminate/4`` helper: make a child exit ``how`` and wait until it is handled."""
    if how == "kill":
        rt.exit(pid, "kill")
    else:
        rt.cast(pid, how)
    await rt.wait_exit(pid)
    await rt.wait_idle()


# sup_start ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sup_start_normal(actor_runtime: Runtime) -> None:
    """sup_start_normal: a supervisor with no children starts and stops with ``shutdown``."""
    sup = await actor_runtime.start(Supervisor, sup_flags(), [])

    assert "shutdown" == await actor_runtime.stop(sup)


@pytest.mark.asyncio
async def test_sup_start_error_return(actor_runtime: Runtime) -> None:
    """sup_start_error_return: flags that are not flags fail the start, saying so."""
    with pytest.raises(StartFailed) as info:
        await actor_runtime.start(Supervisor, ("one_for_one", 2, 3600), [])

    assert "flags: must be a SupervisorFlags (got ('one_for_one', 2, 3600), a tuple)" == str(info.value.reason)


@pytest.mark.asyncio
async def test_sup_start_fail(actor_runtime: Runtime) -> None:
    """sup_start_fail: an init that fails fails the start with the reason, and nothing is left."""
    plan = {"failing": {"b": 1}}
    with pytest.raises(StartFailed, match=r"failed_to_start_child', 'b', .*b cannot start"):
        await actor_runtime.start(Supervisor, sup_flags(), [spec("a", plan), spec("b", plan)])

    assert ["a"] == plan["terminated"]
    assert 0 == actor_runtime.statistics().processes


@pytest.mark.asyncio
async def test_sup_start_child_returns_error(actor_runtime: Runtime) -> None:
    """sup_start_child_returns_error: a child that fails to start is not kept; the caller gets why."""
    plan = {"failing": {"bad": INFINITY}}
    sup = await actor_runtime.start(Supervisor, sup_flags(), [])

    with pytest.raises(SupervisorError, match=r"^child 'bad': start_failed: RuntimeError: bad cannot start$"):
        await start_child(actor_runtime, sup, spec("bad", plan))
    assert () == await which_children(actor_runtime, sup)


@pytest.mark.asyncio
async def test_sup_start_restart_child_returns_error(actor_runtime: Runtime) -> None:
    """sup_start_restart_child_returns_error: a failed restart_child keeps the stopped spec."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, sup_flags(), [spec("c", plan)])
    await terminate_child(actor_runtime, sup, "c")
    plan["failing"]["c"] = INFINITY

    with pytest.raises(SupervisorError, match="^child 'c': start_failed: RuntimeError: c cannot start$"):
        await restart_child(actor_runtime, sup, "c")
    assert (("c", None, "worker"),) == await which_children(actor_runtime, sup)


@pytest.mark.asyncio
async def test_sup_start_child_returns_error_simple(actor_runtime: Runtime) -> None:
    """sup_start_child_returns_error_simple: the same, for a dynamic supervisor."""
    plan = {"failing": {"d1": INFINITY}}
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", plan))

    with pytest.raises(SupervisorError, match="start_failed: RuntimeError: d1 cannot start"):
        await start_dynamic_child(actor_runtime, sup, "1")
    assert () == await which_children(actor_runtime, sup)


@pytest.mark.asyncio
async def test_sup_start_map(actor_runtime: Runtime) -> None:
    """sup_start_map, sup_start_map_simple: a spec given only id and start gets OTP's defaults,
    and ``get_childspec`` reads each child's spec back (``not_found`` for no such child)."""
    rt = actor_runtime
    plan: dict = {}
    child1 = spec("child1", plan)
    child2 = spec("child2", plan, shutdown="brutal_kill")
    child3 = ChildSpec(id="child3", start=(Supervisor, (sup_flags(), ())), type="supervisor")
    sup = await rt.start(Supervisor, sup_flags(), [child1, child2, child3])

    got = [await get_childspec(rt, sup, cid) for cid in ("child1", "child2", "child3")]
    assert [child1, child2, child3] == got
    assert [("permanent", 5.0, "worker", False), ("permanent", "brutal_kill", "worker", False),
            ("permanent", "infinity", "supervisor", False)] == [
        (s.restart, s.shutdown_timeout, s.type, s.significant) for s in got
    ]
    with pytest.raises(SupervisorError) as info:
        await get_childspec(rt, sup, "child4")
    assert "child 'child4': not_found" == str(info.value)

    dynamic = await rt.start(DynamicSupervisor, spec("d", plan))
    pid = await start_dynamic_child(rt, dynamic, "1")
    assert (spec("d", plan), spec("d", plan)) == (await get_childspec(rt, dynamic, "d"), await get_childspec(rt, dynamic, pid))


@pytest.mark.asyncio
async def test_sup_start_map_faulty_specs(actor_runtime: Runtime) -> None:
    """sup_start_map_faulty_specs: a faulty spec among the children fails the start, naming it."""
    plan: dict = {}
    with pytest.raises(StartFailed) as faulty:
        await actor_runtime.start(Supervisor, sup_flags(), [spec("a", plan), "child4"])
    with pytest.raises(StartFailed) as twice:
        await actor_runtime.start(Supervisor, sup_flags(), [spec("a", plan), spec("a", plan)])

    assert "children[1]: must be a ChildSpec (got 'child4', a str)" == str(faulty.value.reason)
    assert "children[1].id: must be unique; children[0] has it too (got 'a', a str)" == str(twice.value.reason)
    assert "starts" not in plan  # nothing started before the specs were checked


# sup_stop ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sup_stop_infinity(actor_runtime: Runtime) -> None:
    """sup_stop_infinity: children with shutdown infinity (worker and supervisor) are waited for."""
    plan = {"terminate_seconds": 1000}
    inner = ChildSpec(id="inner", start=(Supervisor, (sup_flags(), [])), type="supervisor")
    sup = await actor_runtime.start(Supervisor, sup_flags(), [inner, spec("patient", plan, shutdown="infinity")])
    watches = watch(actor_runtime, *[pid for _, pid, _ in await which_children(actor_runtime, sup)])
    start = actor_runtime.now()

    await actor_runtime.stop(sup, "infinity")

    assert 1000.0 == actor_runtime.now() - start
    assert ["shutdown", "shutdown"] == await reasons(watches)


@pytest.mark.asyncio
async def test_sup_stop_timeout(actor_runtime: Runtime) -> None:
    """sup_stop_timeout: a child slower than its shutdown time is killed when the time is up."""
    plan = {"terminate_seconds": {"slow": 100}}
    sup = await actor_runtime.start(Supervisor, sup_flags(), [spec("quick", plan, shutdown=2), spec("slow", plan, shutdown=2)])
    watches = watch(actor_runtime, await child_pid(actor_runtime, sup, "quick"), await child_pid(actor_runtime, sup, "slow"))
    start = actor_runtime.now()

    await actor_runtime.stop(sup)

    assert 2.0 == actor_runtime.now() - start
    assert ["shutdown", "killed"] == await reasons(watches)
    assert ["quick"] == plan["terminated"]


@pytest.mark.asyncio
async def test_sup_stop_timeout_dynamic(actor_runtime: Runtime) -> None:
    """sup_stop_timeout_dynamic: the same for a dynamic supervisor's children."""
    plan = {"terminate_seconds": {"d2": 100}}
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", plan, restart="temporary", shutdown=1))
    watches = watch(actor_runtime, await start_dynamic_child(actor_runtime, sup, "1"), await start_dynamic_child(actor_runtime, sup, "2"))

    assert "shutdown" == await actor_runtime.stop(sup)
    assert ["shutdown", "killed"] == await reasons(watches)


@pytest.mark.asyncio
async def test_sup_stop_brutal_kill(actor_runtime: Runtime) -> None:
    """sup_stop_brutal_kill: a brutal_kill child is killed at once, without terminate."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, sup_flags(), [spec("a", plan, shutdown=1), spec("k", plan, shutdown="brutal_kill")])
    watches = watch(actor_runtime, await child_pid(actor_runtime, sup, "a"), await child_pid(actor_runtime, sup, "k"))

    await actor_runtime.stop(sup)

    assert ["shutdown", "killed"] == await reasons(watches)
    assert ["a"] == plan["terminated"]


@pytest.mark.asyncio
async def test_sup_stop_brutal_kill_dynamic(actor_runtime: Runtime) -> None:
    """sup_stop_brutal_kill_dynamic: ten brutal_kill children of a dynamic supervisor are killed."""
    plan: dict = {}
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", plan, restart="temporary", shutdown="brutal_kill"))
    watches = watch(actor_runtime, *[await start_dynamic_child(actor_runtime, sup, str(i)) for i in range(10)])

    assert "shutdown" == await actor_runtime.stop(sup)
    assert ["killed"] * 10 == await reasons(watches)
    assert "terminated" not in plan


EXIT_REASONS = ["normal", "shutdown", ("shutdown", "test"), "other"]


@pytest.mark.asyncio
async def test_sup_stop_race(actor_runtime: Runtime) -> None:
    """sup_stop_race: children exiting by themselves while the supervisor shuts down keep their
    reasons, are not restarted, and the shutdown completes."""
    plan: dict = {"terminate_seconds": {"z": 1}, "exit_at": {}}
    racers = []
    for restart in ("temporary", "transient", "permanent"):
        for i, reason in enumerate(EXIT_REASONS):
            name = f"{restart}-{i}"
            plan["exit_at"][name] = (0.2, reason)
            racers.append(spec(name, plan, restart=restart))
    children = [spec("a", plan, restart="temporary"), *racers, spec("z", plan, restart="temporary", shutdown=2)]
    sup = await actor_runtime.start(Supervisor, sup_flags(intensity=100), children)
    pids = [pid for _, pid, _ in await which_children(actor_runtime, sup)]
    watches = watch(actor_runtime, *pids)

    assert "shutdown" == await actor_runtime.stop(sup)  # z takes 1 s; the racers exit at 0.2 s
    assert ["shutdown", *EXIT_REASONS * 3, "shutdown"] == await reasons(watches)
    assert len(children) == len(plan["starts"])  # nothing restarted


@pytest.mark.parametrize("restart", ["temporary", "transient", "permanent"])
@pytest.mark.asyncio
async def test_sup_stop_non_shutdown_exit_dynamic(actor_runtime: Runtime, restart: str) -> None:
    """sup_stop_non_shutdown_exit_dynamic: a dynamic supervisor stopping as its children exit with
    reasons other than shutdown ends with ``shutdown`` and leaves nothing behind."""
    plan: dict = {"exit_at": {f"d{i}": (1.0, reason) for i, reason in enumerate(EXIT_REASONS)}}
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", plan, restart=restart), kwargs={"intensity": 10})
    watches = watch(actor_runtime, *[await start_dynamic_child(actor_runtime, sup, str(i)) for i in range(4)])
    await asyncio.sleep(1.0)

    assert "shutdown" == await actor_runtime.stop(sup)
    assert EXIT_REASONS == await reasons(watches)
    assert 0 == actor_runtime.statistics().processes


# child administration ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_child_adm(actor_runtime: Runtime) -> None:
    """child_adm: start/terminate/restart/delete_child, which_children and count_children,
    with OTP's error words."""
    rt = actor_runtime
    child = spec("child1", {})
    sup = await rt.start(Supervisor, sup_flags(), [child])
    ((_, pid, _),) = await which_children(rt, sup)
    assert (1, 1, 0, 1) == await counts(rt, sup)
    with pytest.raises(SupervisorError, match="already_started"):
        await start_child(rt, sup, child)

    with pytest.raises(SupervisorError, match="not_found"):
        await terminate_child(rt, sup, "hej")
    with pytest.raises(ActorExited, match="no process is registered as 'foo'"):
        await terminate_child(rt, "foo", "child1")
    watches = watch(rt, pid)
    await terminate_child(rt, sup, "child1")
    assert ["shutdown"] == await reasons(watches)
    assert (("child1", None, "worker"),) == await which_children(rt, sup)
    assert (1, 0, 0, 1) == await counts(rt, sup)
    await terminate_child(rt, sup, "child1")  # terminating a stopped child succeeds
    with pytest.raises(SupervisorError, match="already_present"):
        await start_child(rt, sup, child)

    pid2 = await restart_child(rt, sup, "child1")
    assert (("child1", pid2, "worker"),) == await which_children(rt, sup)
    with pytest.raises(SupervisorError, match="running"):
        await restart_child(rt, sup, "child1")
    with pytest.raises(SupervisorError, match="not_found"):
        await restart_child(rt, sup, "child2")

    with pytest.raises(SupervisorError, match="running"):
        await delete_child(rt, sup, "child1")
    with pytest.raises(SupervisorError, match="not_found"):
        await delete_child(rt, sup, "hej")
    await terminate_child(rt, sup, "child1")
    await delete_child(rt, sup, "child1")
    with pytest.raises(SupervisorError, match="not_found"):
        await restart_child(rt, sup, "child1")
    assert ((), (0, 0, 0, 0)) == (await which_children(rt, sup), await counts(rt, sup))

    pid3 = await start_child(rt, sup, child)
    with pytest.raises(SupervisorError, match="not_found"):
        await terminate_child(rt, sup, pid3)  # a static supervisor's children are named by id
    assert ((("child1", pid3, "worker"),), (1, 1, 0, 1)) == (await which_children(rt, sup), await counts(rt, sup))


@pytest.mark.asyncio
async def test_child_adm_simple(actor_runtime: Runtime) -> None:
    """child_adm_simple: a dynamic supervisor's children are named by pid; restart_child and
    delete_child do not apply."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, spec("d", {}))
    assert ((), (1, 0, 0, 0)) == (await which_children(rt, sup), await counts(rt, sup))
    pid1 = await start_dynamic_child(rt, sup, "1")
    pid2 = await start_dynamic_child(rt, sup, "2")
    assert ((None, pid1, "worker"), (None, pid2, "worker")) == await which_children(rt, sup)
    assert (1, 2, 0, 2) == await counts(rt, sup)

    with pytest.raises(SupervisorError, match="simple_one_for_one"):
        await terminate_child(rt, sup, "child1")
    await terminate_child(rt, sup, pid1)
    assert not rt.is_alive(pid1)
    assert (1, 1, 0, 1) == await counts(rt, sup)
    await terminate_child(rt, sup, pid1)  # an exited pid is fine
    stranger = rt.spawn(Child, "stranger", plan_key({}))
    with pytest.raises(SupervisorError, match="not_found"):
        await terminate_child(rt, sup, stranger)
    assert rt.is_alive(stranger)

    with pytest.raises(SupervisorError, match="simple_one_for_one"):
        await restart_child(rt, sup, "child1")
    with pytest.raises(SupervisorError, match="simple_one_for_one"):
        await delete_child(rt, sup, "child1")


@pytest.mark.asyncio
async def test_child_specs(actor_runtime: Runtime) -> None:
    """child_specs, child_specs_map: a faulty spec is refused, naming the field, what it must be
    and what came: when it is made, by ``check_childspecs``, and by ``start_child``, which answers
    the caller (also OTP's ``bad_combination``) and leaves the supervisor as it was."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(), [spec("child", {})])
    before = await which_children(rt, sup)
    with pytest.raises(InvalidChildSpec) as not_a_spec:
        await start_child(rt, sup, "hej")  # type: ignore[arg-type]
    significant = ChildSpec(id="s", start=(Child, ()), restart="transient", significant=True)
    with pytest.raises(InvalidChildSpec) as combination:
        await start_child(rt, sup, significant)

    assert (
        "spec: must be a ChildSpec (a DynamicSupervisor starts children with start_dynamic_child) (got 'hej', a str)"
        == str(not_a_spec.value)
    )
    assert (
        "significant: must be False under auto_shutdown never; give the supervisor auto_shutdown "
        "any_significant or all_significant to let this child shut it down (got True, a bool)"
    ) == str(combination.value)
    assert before == await which_children(rt, sup)

    faulty = [
        ({"start": "mfa"}, "start: must be a tuple (actor_class, args) or (actor_class, args, kwargs) (got 'mfa', a str)"),
        ({"restart": "prmanent"}, "restart: must be one of permanent, transient, temporary (got 'prmanent', a str)"),
        ({"shutdown": -10}, "shutdown: must be 'brutal_kill', 'infinity' or a finite number of seconds >= 0 (got -10, an int)"),
        ({"type": "wrker"}, "type: must be one of worker, supervisor (got 'wrker', a str)"),
        ({"significant": True}, "significant: must be False for a permanent child (only transient or temporary children can be significant) (got True, a bool)"),
    ]
    for fields, expected in faulty:
        with pytest.raises(InvalidChildSpec) as info:
            ChildSpec(**{"id": "child", "start": (Child, ()), **fields})
        assert expected == str(info.value)

    correct = [
        ChildSpec(id="child", start=(Child, ("a",)), shutdown="infinity", type="supervisor"),
        ChildSpec(id="child", start=(Child, ("a",)), shutdown=1, type="supervisor"),
        ChildSpec(id="child", start=(Child, ("a",)), restart="temporary", shutdown=1),
        ChildSpec(id="child", start=(Child, ("a",)), restart="transient", shutdown=1),
        ChildSpec(id="child", start=(Child, ("a",)), shutdown="infinity"),
    ]
    for one in correct:
        assert None is check_childspecs([one])
    with pytest.raises(InvalidChildSpec) as badarg:
        check_childspecs(correct[0])  # type: ignore[arg-type]
    with pytest.raises(InvalidChildSpec) as duplicate:
        check_childspecs(correct[:2])
    with pytest.raises(InvalidChildSpec) as never:
        check_childspecs([correct[0], significant], SupervisorFlags(auto_shutdown="never"))
    assert None is check_childspecs([significant], SupervisorFlags(auto_shutdown="any_significant"))
    assert None is check_childspecs([significant])  # no flags: the combination is not checked

    assert str(badarg.value).startswith("children: must be a list or tuple of ChildSpec (got ChildSpec(")
    assert "children[1].id: must be unique; children[0] has it too (got 'child', a str)" == str(duplicate.value)
    assert str(never.value).startswith("children[1].significant: must be False under auto_shutdown never;")


def test_sup_flags() -> None:
    """sup_flags: a faulty strategy, intensity, period or auto_shutdown is refused by name; an
    infinite or NaN period is refused as OTP refuses ``infinity`` (``invalid_period``)."""
    faulty = [
        ({"strategy": "none_for_one"}, "strategy: must be one of one_for_one, one_for_all, rest_for_one (got 'none_for_one', a str)"),
        ({"intensity": INFINITY}, "intensity: must be an int >= 0 (got inf, a float)"),
        ({"period": 0}, "period: must be a finite number of seconds > 0 (got 0, an int)"),
        ({"period": INFINITY}, "period: must be a finite number of seconds > 0 (got inf, a float)"),
        ({"period": float("nan")}, "period: must be a finite number of seconds > 0 (got nan, a float)"),
        ({"auto_shutdown": "sometimes"}, "auto_shutdown: must be one of never, any_significant, all_significant (got 'sometimes', a str)"),
    ]
    for fields, expected in faulty:
        with pytest.raises(InvalidChildSpec) as info:
            SupervisorFlags(**fields)
        assert expected == str(info.value)


# restart types -----------------------------------------------------------------------------


async def exit_once(rt: Runtime, restart: str, how: str) -> tuple[tuple, tuple, object]:
    """Start one child of ``restart`` type, make it exit ``how``; returns which_children,
    the counts and the old pid."""
    sup = await rt.start(Supervisor, sup_flags(), [])
    pid = await start_child(rt, sup, spec("child1", {}, restart=restart))
    await end(rt, pid, how)
    return await which_children(rt, sup), await counts(rt, sup), pid


def restarted(children: tuple, old) -> bool:
    ((_, pid, _),) = children
    return pid is not None and pid != old


async def check_restarted(rt: Runtime, restart: str, how: str) -> None:
    children, child_counts, old = await exit_once(rt, restart, how)
    assert restarted(children, old) and (1, 1, 0, 1) == child_counts


@pytest.mark.asyncio
async def test_permanent_normal(actor_runtime: Runtime) -> None:
    """permanent_normal: a permanent child is restarted even after a normal exit."""
    await check_restarted(actor_runtime, "permanent", "normal")


@pytest.mark.asyncio
async def test_transient_normal(actor_runtime: Runtime) -> None:
    """transient_normal: a transient child that exits normally is not restarted; its spec stays."""
    children, child_counts, _ = await exit_once(actor_runtime, "transient", "normal")
    assert ((("child1", None, "worker"),), (1, 0, 0, 1)) == (children, child_counts)


@pytest.mark.asyncio
async def test_temporary_normal(actor_runtime: Runtime) -> None:
    """temporary_normal: a temporary child is never restarted, and its spec goes."""
    assert ((), (0, 0, 0, 0)) == (await exit_once(actor_runtime, "temporary", "normal"))[:2]


@pytest.mark.asyncio
async def test_permanent_shutdown(actor_runtime: Runtime) -> None:
    """permanent_shutdown: a permanent child is restarted after ``shutdown`` and ``(shutdown, _)``."""
    sup = await actor_runtime.start(Supervisor, sup_flags(), [spec("child1", {})])
    for how in ("shutdown", ("shutdown", "some_info")):
        old = await child_pid(actor_runtime, sup, "child1")
        await end(actor_runtime, old, how)
        assert restarted(await which_children(actor_runtime, sup), old)
    assert (1, 1, 0, 1) == await counts(actor_runtime, sup)


@pytest.mark.asyncio
async def test_transient_shutdown(actor_runtime: Runtime) -> None:
    """transient_shutdown: a transient child is not restarted after ``shutdown`` or ``(shutdown, _)``."""
    sup = await actor_runtime.start(Supervisor, sup_flags(), [spec("child1", {}, restart="transient")])
    for how in ("shutdown", ("shutdown", "some_info")):
        pid = await child_pid(actor_runtime, sup, "child1") or await restart_child(actor_runtime, sup, "child1")
        await end(actor_runtime, pid, how)
        assert ((("child1", None, "worker"),), (1, 0, 0, 1)) == (await which_children(actor_runtime, sup), await counts(actor_runtime, sup))


@pytest.mark.asyncio
async def test_temporary_shutdown(actor_runtime: Runtime) -> None:
    """temporary_shutdown: a temporary child that exits with ``shutdown`` is gone, spec and all."""
    sup = await actor_runtime.start(Supervisor, sup_flags(), [])
    for how in ("shutdown", ("shutdown", "some_info")):
        await end(actor_runtime, await start_child(actor_runtime, sup, spec("child1", {}, restart="temporary")), how)
        assert ((), (0, 0, 0, 0)) == (await which_children(actor_runtime, sup), await counts(actor_runtime, sup))


@pytest.mark.asyncio
async def test_permanent_abnormal(actor_runtime: Runtime) -> None:
    """permanent_abnormal: a crashed permanent child is restarted."""
    await check_restarted(actor_runtime, "permanent", "crash")


@pytest.mark.asyncio
async def test_transient_abnormal(actor_runtime: Runtime) -> None:
    """transient_abnormal: a crashed transient child is restarted."""
    await check_restarted(actor_runtime, "transient", "crash")


@pytest.mark.asyncio
async def test_temporary_abnormal(actor_runtime: Runtime) -> None:
    """temporary_abnormal: a crashed temporary child is not restarted, and its spec goes."""
    assert ((), (0, 0, 0, 0)) == (await exit_once(actor_runtime, "temporary", "crash"))[:2]


@pytest.mark.asyncio
async def test_temporary_bystander(actor_runtime: Runtime) -> None:
    """temporary_bystander: a temporary child stopped by one_for_all or rest_for_one is not
    restarted (its arguments are gone), so the supervisor does not die trying."""
    for strategy in ("one_for_all", "rest_for_one"):
        sup = await actor_runtime.start(Supervisor, sup_flags(strategy=strategy), [])
        pid = await start_child(actor_runtime, sup, spec("child1", {}))
        await start_child(actor_runtime, sup, spec("child2", {}, restart="temporary"))
        await end(actor_runtime, pid, "normal")

        assert actor_runtime.is_alive(sup)
        assert ["child1"] == [cid for cid, _, _ in await which_children(actor_runtime, sup)]


# restart strategies ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_multiple_restarts(actor_runtime: Runtime) -> None:
    """multiple_restarts: restarts spaced wider than the period never add up to the intensity."""
    sup = await actor_runtime.start(Supervisor, sup_flags(intensity=1, period=1), [])
    await start_child(actor_runtime, sup, spec("child1", {}, shutdown="brutal_kill"))
    await end(actor_runtime, await child_pid(actor_runtime, sup, "child1"), "crash")
    for _ in range(3):
        await asyncio.sleep(2.1)
        await end(actor_runtime, await child_pid(actor_runtime, sup, "child1"), "crash")

    await terminate_child(actor_runtime, sup, "child1")
    await delete_child(actor_runtime, sup, "child1")
    assert actor_runtime.is_alive(sup)


@pytest.mark.asyncio
async def test_one_for_one(actor_runtime: Runtime) -> None:
    """one_for_one: only the crashed child restarts; a third restart in the period is too many."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(), [spec("child1", {}), spec("child2", {})])
    child2 = await child_pid(rt, sup, "child2")
    await end(rt, await child_pid(rt, sup, "child1"), "crash")
    assert child2 == await child_pid(rt, sup, "child2")
    assert (2, 2, 0, 2) == await counts(rt, sup)

    watches = watch(rt, sup)
    await end(rt, child2, "crash")
    rt.cast(await child_pid(rt, sup, "child1"), "crash")
    assert [GAVE_UP] == await reasons(watches)


@pytest.mark.asyncio
async def test_one_for_all(actor_runtime: Runtime) -> None:
    """one_for_all: a crash restarts every child; a third restart in the period is too many."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(strategy="one_for_all"), [spec("child1", {}), spec("child2", {})])
    old = [pid for _, pid, _ in await which_children(rt, sup)]
    watches = watch(rt, old[1])
    await end(rt, old[0], "crash")
    assert ["shutdown"] == await reasons(watches)
    new = [pid for _, pid, _ in await which_children(rt, sup)]
    assert 2 == len(new) and not set(old) & set(new)
    assert (2, 2, 0, 2) == await counts(rt, sup)

    watches = watch(rt, sup)
    await end(rt, new[0], "crash")
    rt.cast(await child_pid(rt, sup, "child1"), "crash")
    assert [GAVE_UP] == await reasons(watches)


@pytest.mark.asyncio
async def test_rest_for_one(actor_runtime: Runtime) -> None:
    """rest_for_one: a crash restarts that child and those started after it, not those before."""
    rt = actor_runtime
    plan: dict = {}
    sup = await rt.start(Supervisor, sup_flags(strategy="rest_for_one"), [spec(f"child{i}", plan) for i in (1, 2, 3)])
    pid1, pid2, pid3 = [pid for _, pid, _ in await which_children(rt, sup)]
    watches = watch(rt, pid3)
    await end(rt, pid2, "crash")
    assert ["shutdown"] == await reasons(watches)
    new = [pid for _, pid, _ in await which_children(rt, sup)]
    assert pid1 == new[0] and not {pid2, pid3} & set(new)
    assert (3, 3, 0, 3) == await counts(rt, sup)

    watches = watch(rt, sup)
    await end(rt, new[2], "crash")
    rt.cast(await child_pid(rt, sup, "child2"), "crash")
    assert [GAVE_UP] == await reasons(watches)


async def check_escalation(rt: Runtime, strategy: str) -> None:
    """child1 crashes and cannot start again: every failed attempt counts, and past the intensity
    (4) the supervisor stops child2 and exits ``("shutdown", "reached_max_restart_intensity")``."""
    plan: dict = {}
    sup = await rt.start(Supervisor, sup_flags(strategy=strategy, intensity=4), [spec("child1", plan), spec("child2", plan)])
    watches = watch(rt, sup, await child_pid(rt, sup, "child2"))
    plan["failing"]["child1"] = INFINITY
    rt.cast(await child_pid(rt, sup, "child1"), "crash")

    assert [GAVE_UP, "shutdown"] == await reasons(watches)
    assert 1 + 4 == plan["starts"].count("child1")  # the first start, then four failed restarts


@pytest.mark.asyncio
async def test_one_for_one_escalation(actor_runtime: Runtime) -> None:
    """one_for_one_escalation: see ``check_escalation``."""
    await check_escalation(actor_runtime, "one_for_one")


@pytest.mark.asyncio
async def test_one_for_all_escalation(actor_runtime: Runtime) -> None:
    """one_for_all_escalation: see ``check_escalation``."""
    await check_escalation(actor_runtime, "one_for_all")


@pytest.mark.asyncio
async def test_rest_for_one_escalation(actor_runtime: Runtime) -> None:
    """rest_for_one_escalation: see ``check_escalation``."""
    await check_escalation(actor_runtime, "rest_for_one")


async def starts_when_another_child_fails_restart(rt: Runtime, strategy: str) -> list[str]:
    """child1 crashes; child2's first restart fails, its retry succeeds. Returns every start."""
    plan: dict = {}
    sup = await rt.start(Supervisor, sup_flags(strategy=strategy, intensity=3), [spec("child1", plan), spec("child2", plan)])
    plan["failing"]["child2"] = 1
    await end(rt, await child_pid(rt, sup, "child1"), "crash")
    assert (2, 2, 0, 2) == await counts(rt, sup)
    return plan["starts"]


@pytest.mark.asyncio
async def test_one_for_all_other_child_fails_restart(actor_runtime: Runtime) -> None:
    """one_for_all_other_child_fails_restart: when child2 fails to restart, the restarted child1 is
    stopped again and the retry restarts both."""
    starts = await starts_when_another_child_fails_restart(actor_runtime, "one_for_all")
    assert ["child1", "child2", "child1", "child2", "child1", "child2"] == starts


@pytest.mark.asyncio
async def test_rest_for_one_other_child_fails_restart(actor_runtime: Runtime) -> None:
    """rest_for_one_other_child_fails_restart: the retry restarts child2 only, not child1 again."""
    starts = await starts_when_another_child_fails_restart(actor_runtime, "rest_for_one")
    assert ["child1", "child2", "child1", "child2", "child2"] == starts


# simple_one_for_one: the dynamic supervisor ------------------------------------------------


@pytest.mark.asyncio
async def test_simple_one_for_one(actor_runtime: Runtime) -> None:
    """simple_one_for_one: a crashed child restarts alone; a third restart is too many."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, spec("d", {}), kwargs={"intensity": 2, "period": 3600})
    pid1 = await start_dynamic_child(rt, sup, "1")
    pid2 = await start_dynamic_child(rt, sup, "2")
    await end(rt, pid1, "crash")
    children = [pid for _, pid, _ in await which_children(rt, sup)]
    assert 2 == len(children) and pid2 in children and pid1 not in children
    assert (1, 2, 0, 2) == await counts(rt, sup)

    watches = watch(rt, sup)
    await end(rt, pid2, "crash")
    rt.cast((await which_children(rt, sup))[0][1], "crash")
    assert [GAVE_UP] == await reasons(watches)


@pytest.mark.asyncio
async def test_simple_one_for_one_extra(actor_runtime: Runtime) -> None:
    """simple_one_for_one_extra: a child comes back with its own extra start arguments."""
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", {}))
    pid = await start_dynamic_child(actor_runtime, sup, "-ada")
    await end(actor_runtime, pid, "crash")

    ((_, new, _),) = await which_children(actor_runtime, sup)
    assert new != pid
    assert "d-ada" == await actor_runtime.call(new, "name")


@pytest.mark.asyncio
async def test_simple_one_for_one_shutdown(actor_runtime: Runtime) -> None:
    """simple_one_for_one_shutdown: children are stopped together: two that take 1 s and one
    that would take 5 s (killed at its 2 s shutdown) take 2 s in all, not 7."""
    plan = {"terminate_seconds": {"d1": 1, "d2": 1, "d3": 5}}
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", plan, shutdown=2))
    for i in "123":
        await start_dynamic_child(actor_runtime, sup, i)
    start = actor_runtime.now()

    assert "shutdown" == await actor_runtime.stop(sup)
    assert 2.0 == actor_runtime.now() - start
    assert ["d1", "d2"] == sorted(plan["terminated"])


@pytest.mark.asyncio
async def test_simple_one_for_one_escalation(actor_runtime: Runtime) -> None:
    """simple_one_for_one_escalation: a child that cannot restart spends the intensity; the
    supervisor then stops its other children and exits ``shutdown``."""
    rt = actor_runtime
    plan: dict = {}
    sup = await rt.start(DynamicSupervisor, spec("d", plan), kwargs={"intensity": 4, "period": 3600})
    pid1 = await start_dynamic_child(rt, sup, "1")
    watches = watch(rt, sup, await start_dynamic_child(rt, sup, "2"))
    plan["failing"]["d1"] = INFINITY
    rt.cast(pid1, "crash")

    assert [GAVE_UP, "shutdown"] == await reasons(watches)
    assert 1 + 4 == plan["starts"].count("d1")


@pytest.mark.asyncio
async def test_simple_one_for_one_corruption(actor_runtime: Runtime) -> None:
    """simple_one_for_one_corruption: after a temporary child has exited, the next temporary
    child's start arguments are still not kept by the supervisor."""
    sup = await actor_runtime.start(DynamicSupervisor, spec("d", {}, restart="temporary"))
    await end(actor_runtime, await start_dynamic_child(actor_runtime, sup, "1"), "crash")
    payload = Payload(tuple(range(50_000)))
    watched = weakref.ref(payload)
    await start_dynamic_child(actor_runtime, sup, "2", payload)

    del payload
    gc.collect()
    assert watched() is None


# significant children ----------------------------------------------------------------------


AUTO_SHUTDOWNS = ["never", "any_significant", "all_significant"]


@pytest.mark.parametrize("auto_shutdown", AUTO_SHUTDOWNS)
@pytest.mark.asyncio
async def test_nonsignificant_temporary(actor_runtime: Runtime, auto_shutdown: str) -> None:
    """nonsignificant_temporary: however a non-significant temporary child ends, no auto_shutdown."""
    sup = await actor_runtime.start(Supervisor, sup_flags(auto_shutdown=auto_shutdown), [])
    child = spec("child1", {}, restart="temporary")
    await start_child(actor_runtime, sup, child)
    await terminate_child(actor_runtime, sup, "child1")
    for how in ("kill", "crash", "normal"):
        await end(actor_runtime, await start_child(actor_runtime, sup, child), how)
        assert actor_runtime.is_alive(sup)


@pytest.mark.parametrize("auto_shutdown", AUTO_SHUTDOWNS)
@pytest.mark.asyncio
async def test_nonsignificant_transient(actor_runtime: Runtime, auto_shutdown: str) -> None:
    """nonsignificant_transient: however a non-significant transient child ends, no auto_shutdown
    (and it is restarted after a kill or a crash)."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(intensity=5, auto_shutdown=auto_shutdown), [spec("child1", {}, restart="transient")])
    await terminate_child(rt, sup, "child1")
    await restart_child(rt, sup, "child1")
    for how in ("kill", "crash", "normal"):
        await end(rt, await child_pid(rt, sup, "child1"), how)
        assert rt.is_alive(sup)
    assert None is await child_pid(rt, sup, "child1")


async def significant_trio(rt: Runtime, restart: str, auto_shutdown: str) -> tuple:
    """A supervisor with child1 and child2 significant, child3 not, all of ``restart`` type."""
    children = [
        spec("child1", {}, restart=restart, significant=True),
        spec("child2", {}, restart=restart, significant=True),
        spec("child3", {}, restart=restart),
    ]
    sup = await rt.start(Supervisor, sup_flags(intensity=5, auto_shutdown=auto_shutdown), children)
    return sup, children, [pid for _, pid, _ in await which_children(rt, sup)]


@pytest.mark.asyncio
async def test_significant_temporary(actor_runtime: Runtime) -> None:
    """significant_temporary: with any_significant, a significant temporary child ending (but not
    being terminated by the supervisor) shuts everything down; with all_significant, the last one."""
    rt = actor_runtime
    sup, children, _ = await significant_trio(rt, "temporary", "any_significant")
    await terminate_child(rt, sup, "child1")
    assert rt.is_alive(sup)
    pid = await start_child(rt, sup, children[0])
    watches = watch(rt, sup, *[p for _, p, _ in await which_children(rt, sup)])
    rt.exit(pid, "kill")
    assert ["shutdown", "shutdown", "shutdown", "killed"] == await reasons(watches)

    for how in ("crash", "normal"):
        sup, _, pids = await significant_trio(rt, "temporary", "any_significant")
        watches = watch(rt, sup)
        await end(rt, pids[0], how)
        assert ["shutdown"] == await reasons(watches)

    sup, _, pids = await significant_trio(rt, "temporary", "all_significant")
    await end(rt, pids[0], "normal")
    assert rt.is_alive(sup) and rt.is_alive(pids[1])
    watches = watch(rt, sup, pids[2])
    await end(rt, pids[1], "normal")
    assert ["shutdown", "shutdown"] == await reasons(watches)


@pytest.mark.asyncio
async def test_significant_transient(actor_runtime: Runtime) -> None:
    """significant_transient: a killed or crashed significant transient child is restarted; only
    its normal exit triggers auto_shutdown (all_significant: only the last one's)."""
    rt = actor_runtime
    sup, _, _ = await significant_trio(rt, "transient", "any_significant")
    await terminate_child(rt, sup, "child1")
    await restart_child(rt, sup, "child1")
    for how in ("kill", "crash"):
        await end(rt, await child_pid(rt, sup, "child1"), how)
        assert rt.is_alive(sup) and (3, 3, 0, 3) == await counts(rt, sup)
    watches = watch(rt, sup)
    await end(rt, await child_pid(rt, sup, "child1"), "normal")
    assert ["shutdown"] == await reasons(watches)

    sup, _, pids = await significant_trio(rt, "transient", "all_significant")
    await end(rt, pids[0], "normal")
    assert rt.is_alive(sup)
    watches = watch(rt, sup, pids[2])
    await end(rt, pids[1], "normal")
    assert ["shutdown", "shutdown"] == await reasons(watches)


@pytest.mark.asyncio
async def test_significant_simple(actor_runtime: Runtime) -> None:
    """significant_simple: a dynamic supervisor cannot have significant children."""
    template = spec("d", {}, restart="transient", significant=True)
    with pytest.raises(StartFailed) as info:
        await actor_runtime.start(DynamicSupervisor, template)

    assert "template.significant: must be False: a dynamic supervisor has no auto_shutdown (got True, a bool)" == str(info.value.reason)


@pytest.mark.parametrize("auto_shutdown", ["any_significant", "all_significant"])
@pytest.mark.parametrize(
    ("strategy", "stopped"),
    [("one_for_one", [1]), ("one_for_all", [0, 1, 2]), ("rest_for_one", [1, 2])],
)
@pytest.mark.asyncio
async def test_significant_bystander(actor_runtime: Runtime, strategy: str, stopped: list, auto_shutdown: str) -> None:
    """significant_bystander: significant children stopped by the strategy because a sibling
    died do not trigger auto_shutdown."""
    rt = actor_runtime
    children = [
        spec("child1", {}, restart="transient", significant=True),
        spec("child2", {}, restart="transient"),
        spec("child3", {}, restart="transient", significant=True),
    ]
    sup = await rt.start(Supervisor, sup_flags(strategy=strategy, intensity=5, auto_shutdown=auto_shutdown), children)
    pids = [pid for _, pid, _ in await which_children(rt, sup)]
    await end(rt, pids[1], "kill")

    assert [i not in stopped for i in range(3)] == [rt.is_alive(pid) for pid in pids]
    assert rt.is_alive(sup) and (3, 3, 0, 3) == await counts(rt, sup)


@pytest.mark.parametrize("significant", [True, False])
@pytest.mark.asyncio
async def test_significant_escalation(actor_runtime: Runtime, significant: bool) -> None:
    """significant_escalation: a significant child's exit shuts its supervisor down, which in
    turn shuts the parent down only if that supervisor is significant to it."""
    rt = actor_runtime
    flags = sup_flags(auto_shutdown="any_significant")
    middle = ChildSpec(id="sup1", start=(Supervisor, (flags, [])), restart="transient", type="supervisor", significant=significant)
    top = await rt.start(Supervisor, flags, [middle])
    middle_pid = await child_pid(rt, top, "sup1")
    worker = await start_child(rt, middle_pid, spec("child1", {}, restart="transient", significant=True))
    watches = watch(rt, middle_pid)
    await end(rt, worker, "normal")

    assert ["shutdown"] == await reasons(watches)
    assert significant is not rt.is_alive(top)


# misc --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_child_unlink(actor_runtime: Runtime) -> None:
    """child_unlink: a child that unlinked itself is still stopped: the supervisor waits on its
    exit, not on a link, and does not hang."""
    plan: dict = {}
    sup = await actor_runtime.start(Supervisor, sup_flags(), [spec("naughty", plan)])
    actor_runtime.cast(await child_pid(actor_runtime, sup, "naughty"), "unlink")
    await actor_runtime.wait_idle()

    await terminate_child(actor_runtime, sup, "naughty")

    assert (("naughty", None, "worker"),) == await which_children(actor_runtime, sup)
    assert ["naughty"] == plan["terminated"]


@pytest.mark.asyncio
async def test_tree(actor_runtime: Runtime) -> None:
    """tree: a two-level tree built at run time with ``start_child`` (child supervisors with
    their children in the spec, and workers added later). Only a crashed worker restarts; a
    child supervisor that gives up makes the one_for_all top restart every child supervisor,
    without the children added at run time."""
    rt = actor_runtime
    plan: dict = {}
    sup1 = ChildSpec(id="supchild1", start=(Supervisor, (sup_flags(intensity=4), (spec("child1", plan), spec("child2", plan)))), type="supervisor")
    sup2 = ChildSpec(id="supchild2", start=(Supervisor, (sup_flags(intensity=4), ())), type="supervisor")
    sup3 = ChildSpec(id="supchild3", start=(Supervisor, (sup_flags(intensity=4), ())), type="supervisor", restart="transient")
    top = await rt.start(Supervisor, sup_flags(strategy="one_for_all", intensity=4), [])
    s1 = await start_child(rt, top, sup1)
    s2 = await start_child(rt, top, sup2)
    await start_child(rt, top, sup3)
    await terminate_child(rt, top, "supchild3")
    assert (3, 2, 3, 0) == await counts(rt, top)
    await start_child(rt, s2, spec("child3", plan))
    child4 = await start_child(rt, s2, spec("child4", plan))
    assert ((2, 2, 0, 2), (2, 2, 0, 2)) == (await counts(rt, s1), await counts(rt, s2))

    workers1 = await which_children(rt, s1)
    await end(rt, child4, "crash")
    assert workers1 == await which_children(rt, s1)
    assert restarted(((await which_children(rt, s2))[1],), child4)
    assert (s1, s2) == (await child_pid(rt, top, "supchild1"), await child_pid(rt, top, "supchild2"))

    plan["failing"]["child3"] = INFINITY
    rt.cast(await child_pid(rt, s2, "child3"), "crash")
    await rt.wait_exit(s2)
    await rt.wait_idle()

    assert (3, 3, 3, 0) == await counts(rt, top)
    new = {cid: pid for cid, pid, _ in await which_children(rt, top)}
    assert not {s1, s2} & set(new.values())
    assert ["child1", "child2"] == [cid for cid, _, _ in await which_children(rt, new["supchild1"])]
    assert ((), ()) == (await which_children(rt, new["supchild2"]), await which_children(rt, new["supchild3"]))


@pytest.mark.asyncio
async def test_count_children(actor_runtime: Runtime) -> None:
    """count_children: many dynamic children are counted, and uncounted as they go."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, spec("d", {}, restart="temporary"))
    pids = [await start_dynamic_child(rt, sup, str(i)) for i in range(100)]
    assert (1, 100, 0, 100) == await counts(rt, sup)
    pids += [await start_dynamic_child(rt, sup, str(i)) for i in range(100, 200)]
    assert (1, 200, 0, 200) == await counts(rt, sup)
    assert 200 == len(await which_children(rt, sup))

    for pid in pids:
        rt.exit(pid, "kill")
    await rt.wait_idle()
    assert (1, 0, 0, 0) == await counts(rt, sup)


@pytest.mark.asyncio
async def test_count_children_supervisor(actor_runtime: Runtime) -> None:
    """count_children_supervisor: dynamic children that are supervisors count as supervisors."""
    rt = actor_runtime
    template = ChildSpec(id="child", start=(Supervisor, (sup_flags(), [])), restart="temporary", type="supervisor")
    sup = await rt.start(DynamicSupervisor, template)
    pids = [await start_dynamic_child(rt, sup) for _ in range(50)]
    assert (1, 50, 50, 0) == await counts(rt, sup)

    for pid in pids:
        rt.exit(pid, "kill")
    await rt.wait_idle()
    assert (1, 0, 0, 0) == await counts(rt, sup)


@pytest.mark.asyncio
async def test_count_restarting_children(actor_runtime: Runtime) -> None:
    """count_restarting_children: children whose restart is being retried are counted as
    children, not as active."""
    rt = actor_runtime
    plan: dict = {"fail_seconds": 0.5}
    sup = await rt.start(DynamicSupervisor, spec("d", plan, shutdown="brutal_kill"), kwargs={"intensity": 20, "period": 10})
    pids = [await start_dynamic_child(rt, sup, str(i)) for i in range(3)]
    assert (1, 3, 0, 3) == await counts(rt, sup)

    plan["failing"].update(d0=INFINITY, d1=INFINITY)
    for pid in pids[:2]:
        rt.cast(pid, "crash")
        await rt.wait_exit(pid)
    assert (1, 1, 0, 3) == await counts(rt, sup)

    plan["failing"].clear()
    await rt.wait_idle()
    assert (1, 3, 0, 3) == await counts(rt, sup)
    for _, pid, _ in await which_children(rt, sup):
        await terminate_child(rt, sup, pid)
    assert (1, 0, 0, 0) == await counts(rt, sup)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.asyncio
async def test_do_not_save_start_parameters_for_temporary_children(actor_runtime: Runtime, dynamic: bool) -> None:
    """do_not_save_start_parameters_for_temporary_children: a running temporary child's start
    arguments are not held by its supervisor (they could be large, and are never used again)."""
    rt = actor_runtime
    payload = Payload(tuple(range(50_000)))
    watched = weakref.ref(payload)
    if dynamic:
        sup = await rt.start(DynamicSupervisor, spec("d", {}, restart="temporary"))
        await start_dynamic_child(rt, sup, "1", payload)
    else:
        sup = await rt.start(Supervisor, sup_flags(), [])
        await start_child(rt, sup, ChildSpec(id="t", start=(Child, ("t", plan_key({}), "", payload)), restart="temporary"))

    del payload
    gc.collect()
    assert watched() is None
    assert (1, 1) == (await counts(rt, sup))[:2]


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
@pytest.mark.asyncio
async def test_do_not_save_child_specs_for_temporary_children(actor_runtime: Runtime, strategy: str) -> None:
    """do_not_save_child_specs_for_temporary_children: after any exit a temporary child's spec is
    gone (it can be started again), while permanent and transient specs stay."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(strategy=strategy, intensity=100), [])
    for how in ("kill", "normal", "crash", "supervisor"):
        for restart in ("permanent", "transient", "temporary"):
            child = spec(restart, {}, restart=restart)
            pid = await start_child(rt, sup, child)
            if how == "supervisor":
                await terminate_child(rt, sup, restart)
            else:
                await end(rt, pid, how)
            if restart == "temporary":
                await start_child(rt, sup, child)
            else:
                stopped = how == "supervisor" or (restart == "transient" and how == "normal")
                expected = "already_present" if stopped else "already_started"
                with pytest.raises(SupervisorError, match=expected):
                    await start_child(rt, sup, child)
            await terminate_child(rt, sup, restart)
            if restart != "temporary":
                await delete_child(rt, sup, restart)


@pytest.mark.asyncio
async def test_simple_one_for_one_scale_many_temporary_children(actor_runtime: Runtime) -> None:
    """simple_one_for_one_scale_many_temporary_children: a thousand temporary children come and
    go through terminate_child (pids are a dict's keys, so each is O(1))."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, spec("d", {}, restart="temporary"))
    pids = [await start_dynamic_child(rt, sup, str(i)) for i in range(1000)]
    for pid in pids:
        await terminate_child(rt, sup, pid)

    assert ((), (1, 0, 0, 0)) == (await which_children(rt, sup), await counts(rt, sup))
    assert 1 == rt.statistics().processes


async def hang_in_restart_loop(rt: Runtime, sup, plan: dict, name: str) -> None:
    """Make ``name`` crash and every restart of it fail, slowly, and let one attempt fail."""
    plan["fail_seconds"] = 0.5
    plan["failing"][name] = INFINITY
    rt.cast(await child_pid(rt, sup, name), "crash")
    await asyncio.sleep(0.75)


@pytest.mark.asyncio
async def test_hanging_restart_loop(actor_runtime: Runtime) -> None:
    """hanging_restart_loop: a child in a restart loop shows as ``restarting``; it can be
    terminated (ending the loop), restarted by hand, and the supervisor can still shut down."""
    rt = actor_runtime
    plan: dict = {}
    child = spec("child1", plan, shutdown="brutal_kill")
    sup = await rt.start(Supervisor, sup_flags(intensity=30, period=60), [child])
    await hang_in_restart_loop(rt, sup, plan, "child1")

    with pytest.raises(SupervisorError, match="already_present"):
        await start_child(rt, sup, child)
    with pytest.raises(SupervisorError, match="restarting"):
        await restart_child(rt, sup, "child1")
    with pytest.raises(SupervisorError, match="restarting"):
        await delete_child(rt, sup, "child1")
    assert (("child1", RESTARTING, "worker"),) == await which_children(rt, sup)
    assert (1, 0, 0, 1) == await counts(rt, sup)

    await terminate_child(rt, sup, "child1")
    attempts = plan["starts"].count("child1")
    await asyncio.sleep(5)
    assert attempts == plan["starts"].count("child1")  # the loop has ended
    assert (("child1", None, "worker"),) == await which_children(rt, sup)

    plan["failing"].clear()
    await restart_child(rt, sup, "child1")
    await hang_in_restart_loop(rt, sup, plan, "child1")
    assert "shutdown" == await rt.stop(sup)


@pytest.mark.asyncio
async def test_hanging_restart_loop_rest_for_one(actor_runtime: Runtime) -> None:
    """hanging_restart_loop_rest_for_one: the same, with rest_for_one: the children after the
    looping one stay stopped meanwhile."""
    rt = actor_runtime
    plan: dict = {}
    children = [spec(name, plan, shutdown="brutal_kill") for name in ("child1", "child2", "child3")]
    sup = await rt.start(Supervisor, sup_flags(strategy="rest_for_one", intensity=30, period=60), children)
    pid1 = await child_pid(rt, sup, "child1")
    await hang_in_restart_loop(rt, sup, plan, "child2")

    with pytest.raises(SupervisorError, match="already_present"):
        await start_child(rt, sup, children[1])
    with pytest.raises(SupervisorError, match="restarting"):
        await restart_child(rt, sup, "child2")
    with pytest.raises(SupervisorError, match="restarting"):
        await delete_child(rt, sup, "child2")
    expected = (("child1", pid1, "worker"), ("child2", RESTARTING, "worker"), ("child3", None, "worker"))
    assert expected == await which_children(rt, sup)
    assert (3, 1, 0, 3) == await counts(rt, sup)

    await terminate_child(rt, sup, "child2")
    assert (("child1", pid1, "worker"), ("child2", None, "worker"), ("child3", None, "worker")) == await which_children(rt, sup)

    plan["failing"].clear()
    await restart_child(rt, sup, "child2")
    await hang_in_restart_loop(rt, sup, plan, "child2")
    assert "shutdown" == await rt.stop(sup)


@pytest.mark.asyncio
async def test_hanging_restart_loop_simple(actor_runtime: Runtime) -> None:
    """hanging_restart_loop_simple: the same for a dynamic supervisor, whose looping child is
    terminated by the pid it had."""
    rt = actor_runtime
    plan: dict = {"fail_seconds": 0.5}
    sup = await rt.start(DynamicSupervisor, spec("d", plan, shutdown="brutal_kill"), kwargs={"intensity": 8, "period": 10})
    pid = await start_dynamic_child(rt, sup, "1")
    plan["failing"]["d1"] = INFINITY
    rt.cast(pid, "crash")
    await asyncio.sleep(0.75)

    with pytest.raises(SupervisorError, match="simple_one_for_one"):
        await restart_child(rt, sup, "child1")
    with pytest.raises(SupervisorError, match="simple_one_for_one"):
        await delete_child(rt, sup, "child1")
    assert ((None, RESTARTING, "worker"),) == await which_children(rt, sup)
    assert (1, 0, 0, 1) == await counts(rt, sup)

    await terminate_child(rt, sup, pid)
    assert () == await which_children(rt, sup)

    plan["failing"].clear()
    pid = await start_dynamic_child(rt, sup, "1")
    plan["failing"]["d1"] = INFINITY
    rt.cast(pid, "crash")
    await asyncio.sleep(0.75)
    assert "shutdown" == await rt.stop(sup)


@pytest.mark.asyncio
async def test_order_of_children(actor_runtime: Runtime) -> None:
    """order_of_children: children start in list order and stop in reverse, on a restart and at
    shutdown."""
    rt = actor_runtime
    plan: dict = {}
    ids = ["ch7", "ch3", "ch10", "ch2", "ch5"]
    sup = await rt.start(Supervisor, sup_flags(strategy="rest_for_one"), [spec(i, plan) for i in ids])
    first = await which_children(rt, sup)
    assert ids == plan["starts"] and sorted(pid.serial for _, pid, _ in first) == [pid.serial for _, pid, _ in first]

    rt.cast(await child_pid(rt, sup, "ch10"), "shutdown")
    await rt.wait_idle()
    assert ["ch10", "ch5", "ch2"] == plan["terminated"]
    assert ["ch10", "ch2", "ch5"] == plan["starts"][5:]

    plan["terminated"].clear()
    await rt.stop(sup)
    assert list(reversed(ids)) == plan["terminated"]


@pytest.mark.asyncio
async def test_scale_start_stop_many_children(actor_runtime: Runtime) -> None:
    """scale_start_stop_many_children: a thousand children started and terminated one by one."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(), [])
    for i in range(1000):
        await start_child(rt, sup, ChildSpec(id=i, start=(Child, (str(i), plan_key({})))))
    assert (1000, 1000, 0, 1000) == await counts(rt, sup)
    for i in range(1000):
        await terminate_child(rt, sup, i)

    assert (1000, 0, 0, 1000) == await counts(rt, sup)
    assert 1 == rt.statistics().processes


@pytest.mark.asyncio
async def test_already_started_outside_supervisor(actor_runtime: Runtime) -> None:
    """already_started_outside_supervisor: a child whose name another process holds is refused,
    naming the holder; the supervisor carries on."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(), [])
    holder = rt.spawn(Child, "holder", plan_key({}), name="registered_name")

    with pytest.raises(SupervisorError, match=rf"already_started: 'registered_name' is held by {holder!r}"):
        await start_child(rt, sup, spec("child", {}, restart="transient", name="registered_name"))
    assert () == await which_children(rt, sup)
    assert "shutdown" == await rt.stop(sup)


@pytest.mark.asyncio
async def test_which_children(actor_runtime: Runtime) -> None:
    """which_children: ids, pids (None once terminated) and types, in start order."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, sup_flags(), [])
    assert () == await which_children(rt, sup)
    pid1 = await start_child(rt, sup, spec("child1", {}))
    pid2 = await start_child(rt, sup, spec("child2", {}))
    assert (("child1", pid1, "worker"), ("child2", pid2, "worker")) == await which_children(rt, sup)

    await terminate_child(rt, sup, "child1")
    assert (("child1", None, "worker"), ("child2", pid2, "worker")) == await which_children(rt, sup)
    await delete_child(rt, sup, "child1")
    assert (("child2", pid2, "worker"),) == await which_children(rt, sup)


@pytest.mark.asyncio
async def test_which_children_simple_one_for_one(actor_runtime: Runtime) -> None:
    """which_children_simple_one_for_one: dynamic children have no id, and are listed until they go."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, spec("d", {}, restart="temporary"))
    assert () == await which_children(rt, sup)
    pid1 = await start_dynamic_child(rt, sup, "1")
    pid2 = await start_dynamic_child(rt, sup, "2")
    assert ((None, pid1, "worker"), (None, pid2, "worker")) == await which_children(rt, sup)

    await terminate_child(rt, sup, pid1)
    assert ((None, pid2, "worker"),) == await which_children(rt, sup)


# sup_start_ignore: init returning Ignore (OTP's ignore) -------------------------------------

#: How many more starts of each ignoring child say ``Ignore`` (by name); absent: always.
IGNORING: dict[str, int] = {}


class Ignoring(Actor):
    """Returns ``Ignore()`` from init while ``IGNORING`` says so."""

    def init(self, name: str) -> object:
        left = IGNORING.get(name)
        if left is None or left > 0:
            if left is not None:
                IGNORING[name] = left - 1
            return Ignore()
        return None

    def handle_cast(self, msg):
        raise RuntimeError("crash")


class IgnoringSupervisor(Supervisor):
    async def init(self, *args: object) -> object:
        return Ignore()


@pytest.mark.asyncio
async def test_sup_start_ignore_init(actor_runtime: Runtime) -> None:
    """A supervisor whose init returns ignore: start says so, nothing runs."""
    with pytest.raises(StartIgnored):
        await actor_runtime.start(IgnoringSupervisor, sup_flags(), [])

    assert [] == actor_runtime.processes()


@pytest.mark.asyncio
async def test_sup_start_ignore_child(actor_runtime: Runtime) -> None:
    """An ignoring permanent child is kept with no pid, at start and through start_child."""
    sup = await actor_runtime.start(Supervisor, sup_flags(), [ChildSpec(id="child1", start=(Ignoring, ("c1",)))])

    assert None is await start_child(actor_runtime, sup, ChildSpec(id="child2", start=(Ignoring, ("c2",))))
    assert (("child1", None, "worker"), ("child2", None, "worker")) == await which_children(actor_runtime, sup)
    assert (2, 0, 0, 2) == await counts(actor_runtime, sup)


@pytest.mark.asyncio
async def test_sup_start_ignore_temporary_child(actor_runtime: Runtime) -> None:
    """An ignoring temporary child is not kept, at start or through start_child."""
    temporary = ChildSpec(id="child1", start=(Ignoring, ("t1",)), restart="temporary")
    sup = await actor_runtime.start(Supervisor, sup_flags(), [temporary])

    assert None is await start_child(actor_runtime, sup, ChildSpec(id="child2", start=(Ignoring, ("t2",)), restart="temporary"))
    assert () == await which_children(actor_runtime, sup)


@pytest.mark.asyncio
async def test_sup_start_ignore_permanent_child_start_child_simple(actor_runtime: Runtime) -> None:
    """simple_one_for_one: an ignoring child is not added; start_child answers None."""
    sup = await actor_runtime.start(DynamicSupervisor, ChildSpec(id="t", start=(Ignoring, ())))

    assert None is await start_dynamic_child(actor_runtime, sup, "d1")
    assert () == await which_children(actor_runtime, sup)


@pytest.mark.asyncio
async def test_simple_one_for_one_restart_ignore(actor_runtime: Runtime) -> None:
    """A dynamic child that returns ignore when restarted is let go."""
    IGNORING["d2"] = 0  # starts now; its restart ignores
    sup = await actor_runtime.start(DynamicSupervisor, ChildSpec(id="t", start=(Ignoring, ())))
    pid = await start_dynamic_child(actor_runtime, sup, "d2")
    IGNORING["d2"] = 1
    actor_runtime.cast(pid, "crash")
    await actor_runtime.wait_idle()

    assert () == await which_children(actor_runtime, sup)
    assert actor_runtime.is_alive(sup)
