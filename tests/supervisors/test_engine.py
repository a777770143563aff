"""The restart engine both supervisors share: its reports, at OTP's levels, name the
supervisor, the child, its last reason and the limit that was reached."""

import pytest
from neural_actors.runtime import Actor, Runtime, Stop
from neural_actors.supervisors import (
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorFlags,
    start_dynamic_child,
    which_children,
)


#: How many of the next starts of each named worker fail (a test sets it while the tree runs).
FAILING: dict[str, int] = {}


class Worker(Actor):
    """Exits as cast: ``normal`` and ``shutdown`` by stopping, anything else by crashing; its
    next ``FAILING[name]`` starts fail."""

    def init(self, name: str) -> None:
        if FAILING.get(name):
            FAILING[name] -= 1
            raise RuntimeError(f"{name} cannot start")

    def handle_cast(self, msg):
        if msg in ("normal", "shutdown"):
            raise Stop(msg)
        raise RuntimeError(msg)


def events(log_events: list, name: str) -> list[dict]:
    return [e for e in log_events if e["event"] == name]


def fields(event: dict, *names: str) -> tuple:
    return tuple(event[n] for n in names)


async def exit_child(rt: Runtime, sup, how: str, index: int = 0) -> None:
    pid = (await which_children(rt, sup))[index][1]
    rt.cast(pid, how)
    await rt.wait_exit(pid)
    await rt.wait_idle()


@pytest.mark.asyncio
async def test_giving_up_is_an_error_naming_the_child_its_reason_and_the_limit(actor_runtime: Runtime, log_events: list) -> None:
    """Past the intensity the supervisor reports ``intensity_reached`` at error level with the
    child that exited last, its reason, ``intensity`` and ``period``; each abnormal exit is an
    error too; its own shutdown (reason ``shutdown``) is info."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, SupervisorFlags(intensity=1, period=5), [ChildSpec(id="w", start=(Worker, ("w",)))])
    await exit_child(rt, sup, "first")
    await exit_child(rt, sup, "second")

    (gave_up,) = events(log_events, "intensity_reached")
    assert ("error", repr(sup), "w", "RuntimeError: second", 1, 5.0) == fields(
        gave_up, "log_level", "supervisor", "child", "reason", "intensity", "period"
    )
    terminated = [e for e in events(log_events, "child_terminated") if "on_purpose" not in e]
    assert [("error", "w", "RuntimeError: first"), ("error", "w", "RuntimeError: second")] == [
        fields(e, "log_level", "child", "reason") for e in terminated
    ]
    assert [("info", "shutdown (reached_max_restart_intensity)")] == [fields(e, "log_level", "reason") for e in events(log_events, "shutdown")]


@pytest.mark.asyncio
async def test_normal_lifecycle_is_info(actor_runtime: Runtime, log_events: list) -> None:
    """Starts, restarts, a transient child's normal exit and stopping children on purpose are
    info; a permanent child's normal exit is an error (OTP: it was not supposed to end)."""
    rt = actor_runtime
    children = [ChildSpec(id="p", start=(Worker, ("p",))), ChildSpec(id="t", start=(Worker, ("t",)), restart="transient")]
    sup = await rt.start(Supervisor, SupervisorFlags(intensity=5), children)
    await exit_child(rt, sup, "normal", index=1)
    await exit_child(rt, sup, "normal", index=0)
    await rt.stop(sup)

    assert {"info"} == {e["log_level"] for e in events(log_events, "child_started") + events(log_events, "restart")}
    exits = [fields(e, "log_level", "child", "reason", "restart") for e in events(log_events, "child_terminated") if "on_purpose" not in e]
    assert [("info", "t", "normal", "transient"), ("error", "p", "normal", "permanent")] == exits
    assert [("info", "p")] == [fields(e, "log_level", "child") for e in events(log_events, "child_terminated") if "on_purpose" in e]


@pytest.mark.asyncio
async def test_a_failed_restart_and_an_abnormal_shutdown_are_errors(actor_runtime: Runtime, log_events: list) -> None:
    """``start_error`` names the child and why it failed; a supervisor stopped with a reason
    other than shutdown reports its ``shutdown`` at error level."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, SupervisorFlags(intensity=5), [ChildSpec(id="w", start=(Worker, ("w",)))])
    FAILING["w"] = 1
    await exit_child(rt, sup, "crash")
    rt.exit(sup, "lost_parent")
    await rt.wait_exit(sup)

    assert ("error", "w", "RuntimeError: w cannot start") == fields(events(log_events, "start_error")[0], "log_level", "child", "reason")
    assert [("error", "lost_parent")] == [fields(e, "log_level", "reason") for e in events(log_events, "shutdown")]


@pytest.mark.asyncio
async def test_a_dynamic_supervisor_reports_the_same_way(actor_runtime: Runtime, log_events: list) -> None:
    """The same engine: a dynamic child's crash and the supervisor giving up are errors naming
    the child by pid."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, ChildSpec(id="d", start=(Worker, ())), kwargs={"intensity": 0})
    pid = await start_dynamic_child(rt, sup, "d1")
    rt.cast(pid, "crash")
    await rt.wait_exit(sup)

    assert [("error", repr(pid), "RuntimeError: crash")] == [
        fields(e, "log_level", "child", "reason") for e in events(log_events, "child_terminated") if "on_purpose" not in e
    ]
    assert ("error", repr(pid), 0, 5.0) == fields(events(log_events, "intensity_reached")[0], "log_level", "child", "intensity", "period")


@pytest.mark.asyncio
async def test_a_stray_request_or_cast_is_a_warning(actor_runtime: Runtime, log_events: list) -> None:
    """The caller gets the error; the log says what came."""
    rt = actor_runtime
    sup = await rt.start(Supervisor, SupervisorFlags(), [])
    rt.cast(sup, "hello")
    with pytest.raises(Exception):  # noqa: B017 - the error itself is tested in test_management
        await rt.call(sup, "which_children")

    assert [("warning", "'hello'")] == [fields(e, "log_level", "message") for e in events(log_events, "unexpected_cast")]
    assert [("warning", "'which_children'")] == [fields(e, "log_level", "request") for e in events(log_events, "unknown_request")]


class Crasher(Actor):
    def handle_cast(self, msg):
        raise RuntimeError(msg)


@pytest.mark.asyncio
async def test_restarts_and_escalations_are_counted_by_path_in_the_tree() -> None:
    """With metrics on, each restart counts under its supervisor's path and the child's id; a
    supervisor that gives up counts an escalation."""
    shard = ChildSpec(
        id="shard", type="supervisor",
        start=(Supervisor, (SupervisorFlags(intensity=1), [ChildSpec(id="w", start=(Crasher, ()), name="w")])),
    )
    async with Runtime(clock="virtual", metrics=True) as rt:
        root = await rt.start(Supervisor, SupervisorFlags(intensity=5), [shard], name="root")
        rt.cast("w", "once")
        await rt.wait_idle()
        rt.cast("w", "twice")  # the shard's second restart within its period: it gives up
        await rt.wait_idle()
        snap = rt.metrics_snapshot()
        assert rt.is_alive(root)

    assert {("root/shard", "w"): 2, ("root", "shard"): 1} == dict(snap.restarts)
    assert {"root/shard": 1} == dict(snap.escalations)
