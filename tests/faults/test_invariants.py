"""Each invariant checker holds on a correct run and catches a bug planted on purpose."""

import asyncio

import pytest
from neural_actors.faults import (
    Delay,
    Drop,
    FaultPlan,
    InvariantViolated,
    Kill,
    Messages,
    Schedule,
    Violation,
    assert_invariants,
    check_accounting,
    check_invariants,
    check_pending_calls,
    check_registry,
    check_restarts,
    check_stopped,
)
from neural_actors.supervisors import start_tree
from neural_actors.faults.transport import FaultTransport
from neural_actors.runtime import CallTimeout, Runtime
from neural_actors.runtime.registry import Registry
from neural_actors.supervisors.intensity import RestartIntensity

from .helpers import Echo, Ping, Silent, echo_tree

# No call left pending ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_call_swallowed_without_a_timeout_is_reported_pending(actor_runtime: Runtime) -> None:
    """An actor that never answers strands a caller that set no timeout: named, with its request."""
    rt = actor_runtime
    silent = await rt.start(Silent)
    waiting = asyncio.ensure_future(rt.call(silent, Ping(1), timeout=None))
    await asyncio.sleep(1)

    found = check_pending_calls(rt)

    waiting.cancel()
    assert [Violation("pending_calls", f"{rt.pid!r} waits for a reply from {silent!r} to Ping(n=1) (still waiting)")] == found


@pytest.mark.asyncio
async def test_a_call_that_timed_out_is_not_pending(actor_runtime: Runtime) -> None:
    """A clear error (here ``CallTimeout``) ends a call: nothing is reported."""
    rt = actor_runtime
    silent = await rt.start(Silent)
    with pytest.raises(CallTimeout):
        await rt.call(silent, Ping(1), timeout=1.0)

    assert [] == check_pending_calls(rt)


# Nothing left running after shutdown -------------------------------------------------------------


class LeakyRuntime(Runtime):
    """A bug planted in shutdown: it returns without stopping anything."""

    async def shutdown(self) -> None:
        return None


@pytest.mark.asyncio
async def test_a_process_left_running_after_shutdown_is_reported() -> None:
    """The checker names the survivor and its actor."""
    async with LeakyRuntime(clock="virtual") as rt:
        survivor = await rt.start(Echo)
    found = check_stopped(rt)
    await Runtime.shutdown(rt)  # the real one, to leave nothing behind

    assert [Violation("stopped", f"{survivor!r} (Echo) is still running after shutdown")] == found
    assert [] == check_stopped(rt)


# No registry entry pointing at the dead ----------------------------------------------------------


@pytest.mark.asyncio
async def test_a_name_and_a_group_entry_outliving_their_process_are_reported(actor_runtime: Runtime, monkeypatch) -> None:
    """A bug planted in the registry (it forgets nothing at exit) leaves a dead name and member."""
    rt = actor_runtime
    pid = await rt.start(Echo, "g", name="e")
    assert [] == check_registry(rt)
    monkeypatch.setattr(Registry, "forget", lambda self, process: None)
    rt.exit(pid, "kill")
    await rt.wait_exit(pid)

    assert [
        Violation("registry", f"name 'e' points at {pid!r}, which is dead"),
        Violation("registry", f"group 'g' lists {pid!r}, which is dead"),
    ] == check_registry(rt)


# Every message accounted for ---------------------------------------------------------------------


class Lossy:
    """A transport underneath with a planted bug: it loses every third message it carries."""

    def __init__(self) -> None:
        self.count = 0

    def carry(self, sender, target, kind, item, arrive):
        self.count += 1
        if kind == "exit" or self.count % 3:
            arrive()

    def next_arrival(self):
        return None


@pytest.mark.asyncio
async def test_a_message_the_transport_underneath_loses_is_unaccounted(actor_runtime: Runtime) -> None:
    """Handed on and never back, with nothing on its way: lost."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    rt.set_transport(Lossy())
    injector = FaultPlan().install(rt)
    for n in range(3):
        rt.cast("a", Ping(n))
    await rt.wait_idle()

    assert [
        Violation(
            "accounting",
            "1 of 3 messages unaccounted for (delivered 2, dropped by faults 0, by mailboxes 0, dead letters 0): "
            "1 handed on and never arrived, though nothing is on its way: lost",
        )
    ] == check_accounting(injector)
    injector.uninstall()


@pytest.mark.asyncio
async def test_a_drop_nobody_counted_is_unaccounted(actor_runtime: Runtime, inject_faults, monkeypatch) -> None:
    """A bug planted in the plan's transport: it drops without counting."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    monkeypatch.setattr(FaultTransport, "_drop", lambda *args: None)
    injector = inject_faults(FaultPlan([Drop(Messages(kinds=("cast",)))]))
    await asyncio.sleep(0.1)
    rt.cast("a", Ping(1))
    await rt.wait_idle()

    assert [
        Violation(
            "accounting",
            "1 of 1 messages unaccounted for (delivered 0, dropped by faults 0, by mailboxes 0, dead letters 0): "
            "neither in flight nor counted anywhere: lost",
        )
    ] == check_accounting(injector)


@pytest.mark.asyncio
async def test_messages_in_flight_are_reported_with_what_to_do(actor_runtime: Runtime, inject_faults) -> None:
    """Checked too early, a delayed message is reported in flight; once idle, all is accounted."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    injector = inject_faults(FaultPlan([Delay(3.0)]))
    await asyncio.sleep(0.1)
    rt.cast("a", Ping(1))
    early = check_accounting(injector)
    await rt.wait_idle()

    assert "1 still in flight: check once the runtime is idle (await rt.wait_idle())" in early[0].detail
    assert [] == check_accounting(injector)


# Restarts within each supervisor's intensity -------------------------------------------------------


@pytest.mark.asyncio
async def test_a_supervisor_that_gives_up_past_its_intensity_breaks_nothing(actor_runtime: Runtime, inject_faults) -> None:
    """Intensity 1 in 5 s: the second kill within the window makes the root give up, as it must."""
    rt = actor_runtime
    root = await start_tree(rt, echo_tree("a", intensity=1, period=5))
    injector = inject_faults(FaultPlan([Kill("a", Schedule(every=1, times=2))]))

    assert ("shutdown", "reached_max_restart_intensity") == await rt.wait_exit(root)
    assert [] == check_restarts(injector)
    assert (("'root'", 1.0),) == injector.statistics().escalations


@pytest.mark.asyncio
async def test_a_supervisor_that_restarts_past_its_intensity_is_reported(actor_runtime: Runtime, inject_faults, monkeypatch) -> None:
    """A bug planted in the intensity window (it never fills): the root restarts on and on."""
    rt = actor_runtime
    monkeypatch.setattr(RestartIntensity, "add", lambda self, now: True)
    await start_tree(rt, echo_tree("a", intensity=1, period=5))
    injector = inject_faults(FaultPlan([Kill("a", Schedule(every=1, times=3))]))
    await asyncio.sleep(4)

    assert [
        Violation(
            "restarts",
            "supervisor 'root' made 2 restarts within 5.0 s (intensity 1) at t=1.000000 but carried on: "
            "it handled another message at t=2.000000 instead of giving up",
        )
    ] == check_restarts(injector)


@pytest.mark.asyncio
async def test_assert_invariants_lists_every_violation(actor_runtime: Runtime) -> None:
    """``InvariantViolated`` names how many broke and each one."""
    violations = [Violation("registry", "x"), Violation("accounting", "y")]

    with pytest.raises(InvariantViolated) as caught:
        assert_invariants(violations)

    assert "2 invariant violation(s):\n  registry: x\n  accounting: y" == str(caught.value)
    assert_invariants([])


@pytest.mark.asyncio
async def test_a_correct_tree_under_faults_keeps_every_invariant(actor_runtime: Runtime, inject_faults) -> None:
    """Kills and delays on a supervised pair: nothing pending, no dead entry, all accounted."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", "b", intensity=100))
    injector = inject_faults(FaultPlan([Kill("a", Schedule(every=0.3)), Delay(0.05)]))
    for n in range(30):
        for name in ("a", "b"):
            try:
                await rt.call(name, Ping(n), timeout=0.2)
            except Exception:  # noqa: BLE001 - clear errors are expected under kills
                pass
    injector.heal()
    await rt.wait_idle()

    assert [] == check_invariants(rt, injector)
