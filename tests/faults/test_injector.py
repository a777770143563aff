"""The injector applies each kind of fault at its schedule, to its targets: events on processes
(crash, kill, fail_init, crash_after) and conditions of the mesh (fail_core, fail_link,
slow_core, partition), each recorded in the trace with its target, and heals them."""

import asyncio

import pytest
from neural_actors.faults import (
    Crash,
    CrashAfter,
    FailCore,
    FailInit,
    FailLink,
    FaultPlan,
    Kill,
    Link,
    Partition,
    Schedule,
    SlowCore,
    Target,
)
from neural_actors.supervisors import start_tree
from neural_actors.runtime import Actor, ActorExited, Runtime, Unreachable
from neural_actors.supervisors import count_children

from .helpers import Echo, Ping, echo_tree


def faults(rt: Runtime) -> list[str]:
    """The trace's fault events but the plan's own, without their times."""
    events = [event.split(" ", 1)[1] for event in rt.trace_events()]
    return [event for event in events if event.startswith("fault.") and not event.startswith(("fault.plan", "fault.heal"))]


# Events on processes ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_crash_waits_for_the_target_s_next_handler_and_raises_there(actor_runtime: Runtime, inject_faults) -> None:
    """Armed at 1 s, the crash strikes when the worker next handles something; its caller gets a
    clear error naming the fault, and the supervisor restarts it."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", "b"))
    a = rt.whereis("a")
    injector = inject_faults(FaultPlan([Crash("a", Schedule(at=1))]))
    await asyncio.sleep(2)
    alive_before_a_message = rt.is_alive(a)

    with pytest.raises(ActorExited) as caught:
        await rt.call("a", Ping(1))
    await rt.wait_idle()

    assert alive_before_a_message
    assert f"{a!r} exited: InjectedFault: crash injected by fault 0 of the fault plan" == str(caught.value)
    assert rt.whereis("a") not in (None, a)
    assert 1 == (await count_children(rt, "root"))["restarts"]
    assert [f"fault.crash_armed 0 {a!r} 'a'", f"fault.crash 0 {a!r} 'a'"] == faults(rt)
    assert (("crash", 1),) == injector.statistics().injected


class Trapper(Actor):
    trap_exit = True

    def handle_info(self, msg):
        pass


@pytest.mark.asyncio
async def test_a_kill_cannot_be_trapped(actor_runtime: Runtime, inject_faults) -> None:
    """A process trapping exits still dies of a kill, with reason ``killed``."""
    rt = actor_runtime
    pid = await rt.start(Trapper, name="t")
    inject_faults(FaultPlan([Kill("t", Schedule(at=0.5))]))

    assert "killed" == await rt.wait_exit(pid)
    assert [f"fault.kill 0 {pid!r} 't'"] == faults(rt)


@pytest.mark.asyncio
async def test_fail_init_fails_the_next_restarts_then_lets_one_through(actor_runtime: Runtime, inject_faults) -> None:
    """After a crash, the next two inits of ``a`` fail; the supervisor retries until one starts."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", "b"))
    injector = inject_faults(FaultPlan([FailInit("a", inits=2, schedule=Schedule(at=1)), Kill("a", Schedule(at=1))]))
    await asyncio.sleep(2)
    await rt.wait_idle()

    assert Ping(3) == await rt.call("a", Ping(3))
    assert 3 == (await count_children(rt, "root"))["restarts"]
    assert (("kill", 1), ("fail_init", 2)) == injector.statistics().injected


@pytest.mark.asyncio
async def test_fail_init_with_a_pick_fails_the_restart_of_the_picked_process_only(actor_runtime: Runtime, inject_faults) -> None:
    """A random pick is remembered by name: when every worker is killed, only the picked one's
    restart fails (once), whoever it was."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", "b", "c"))
    injector = inject_faults(
        FaultPlan([FailInit(Target(subtree="root", pick=1), schedule=Schedule(at=1)), Kill(Target(subtree="root"), Schedule(at=2))])
    )
    await asyncio.sleep(3)
    await rt.wait_idle()
    armed = next(e for e in faults(rt) if e.startswith("fault.fail_init_armed"))
    struck = [e for e in faults(rt) if e.startswith("fault.fail_init ")]

    assert (("kill", 3), ("fail_init", 1)) == injector.statistics().injected
    assert 1 == len(struck)
    assert f"'{struck[0].rsplit(' ', 1)[1][1:-1]}'" in armed  # the name struck is the name picked
    assert 4 == (await count_children(rt, "root"))["restarts"]


@pytest.mark.asyncio
async def test_crash_after_lets_n_messages_through_then_crashes_on_the_next(actor_runtime: Runtime, inject_faults) -> None:
    """The target handles three items after the firing; the fourth raises."""
    rt = actor_runtime
    pid = await rt.start(Echo, name="e")
    inject_faults(FaultPlan([CrashAfter("e", after=3)]))
    await asyncio.sleep(0.1)
    answers = [await rt.call("e", Ping(n)) for n in range(3)]

    with pytest.raises(ActorExited) as caught:
        await rt.call("e", Ping(3))

    assert [Ping(0), Ping(1), Ping(2)] == answers
    assert f"{pid!r} exited: InjectedFault: crash_after injected by fault 0 of the fault plan" == str(caught.value)


@pytest.mark.asyncio
async def test_every_times_and_probability_decide_how_often_an_event_happens(inject_faults, actor_runtime: Runtime) -> None:
    """Five firings a second apart; with probability 1 each kills, with 0 none does."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", intensity=100))
    injector = inject_faults(
        FaultPlan([Kill("a", Schedule(every=1, times=5)), Kill("a", Schedule(at=0.5, every=1, times=5, probability=0))])
    )
    await asyncio.sleep(10)

    assert (("kill", 5),) == injector.statistics().injected
    assert [0] * 5 == [int(e.split()[1]) for e in faults(rt) if e.startswith("fault.kill")]


@pytest.mark.asyncio
async def test_a_random_pick_chooses_among_the_matches_with_the_seed(inject_faults, actor_runtime: Runtime) -> None:
    """Three firings of a one-victim pick kill three of the workers, each one of them."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", "b", "c", "d", intensity=100))
    inject_faults(FaultPlan([Kill(Target(glob="?", pick=1), Schedule(every=1, times=3))]))
    await asyncio.sleep(5)
    victims = [e.rsplit(" ", 1)[1] for e in faults(rt) if e.startswith("fault.kill")]

    assert 3 == len(victims)
    assert set(victims) <= {"'a'", "'b'", "'c'", "'d'"}


@pytest.mark.asyncio
async def test_heal_stops_every_firing_to_come(actor_runtime: Runtime, inject_faults) -> None:
    """Kills every second; healed at 2.5 s, the kills of 3 s on never happen."""
    rt = actor_runtime
    await start_tree(rt, echo_tree("a", intensity=100))
    injector = inject_faults(FaultPlan([Kill("a", Schedule(every=1))]))
    await asyncio.sleep(2.5)
    injector.heal()
    await asyncio.sleep(5)

    assert (("kill", 3),) == injector.statistics().injected
    assert 1 == sum(" fault.heal" in event for event in rt.trace_events())


@pytest.mark.asyncio
async def test_armed_crashes_and_inits_are_forgotten_when_healed(actor_runtime: Runtime, inject_faults) -> None:
    """A crash armed but not yet struck does not strike after heal."""
    rt = actor_runtime
    await rt.start(Echo, name="e")
    injector = inject_faults(FaultPlan([Crash("e"), FailInit("e")]))
    await asyncio.sleep(0.1)
    injector.heal()

    assert Ping(1) == await rt.call("e", Ping(1))
    assert () == injector.statistics().injected


# Conditions of the mesh --------------------------------------------------------------------------


async def on_cores(rt: Runtime, *cores: int) -> list:
    return [await rt.start(Echo, core=core) for core in cores]


@pytest.mark.asyncio
async def test_fail_core_kills_its_processes_and_is_restored_after_its_duration() -> None:
    """Core 1 fails from 1 s to 3 s: its process exits ``core_failed``; after, it takes spawns."""
    async with Runtime(clock="virtual", mesh="mesh:2x2", trace=True) as rt:
        _, victim = await on_cores(rt, 0, 1)
        injector = FaultPlan([FailCore(core=1, schedule=Schedule.window(1, 3))]).install(rt)
        reason = await rt.wait_exit(victim)
        placed_while_failed = rt.spawn(Echo, core=1).core
        await asyncio.sleep(2.5)
        placed_after = rt.spawn(Echo, core=1).core

    assert ("core_failed", 1.0) == (reason, 1.0)
    assert 1 != placed_while_failed
    assert 1 == placed_after
    assert [f"fault.fail_core 0 1 [{victim!r}]", "fault.restored 0"] == faults(rt)
    assert (("fail_core", 1),) == injector.statistics().injected


@pytest.mark.asyncio
async def test_fail_core_without_a_core_picks_one_processes_run_on() -> None:
    """With no core named, the seeded choice falls on a core in use."""
    async with Runtime(clock="virtual", mesh="mesh:4x4", trace=True, seed=4) as rt:
        await on_cores(rt, 5, 9)
        FaultPlan([FailCore()]).install(rt)
        await asyncio.sleep(0.1)

    assert faults(rt)[0].split()[2] in ("5", "9")


@pytest.mark.asyncio
async def test_fail_link_makes_routes_over_it_unreachable_for_its_window() -> None:
    """On a 4x1 mesh, messages from core 0 to core 3 cross (1,0)+x: refused while it is failed."""
    async with Runtime(clock="virtual", mesh="mesh:4x1", trace=True) as rt:
        (far,) = await on_cores(rt, 3)
        FaultPlan([FailLink(Link(0, 1, 0, "+x"), Schedule.window(1, 2))]).install(rt)
        rt.cast(far, "before")
        await asyncio.sleep(1.5)
        with pytest.raises(Unreachable) as caught:
            rt.cast(far, "during")
        await asyncio.sleep(1)
        rt.cast(far, "after")
        await rt.wait_idle()
        seen = await rt.call(far, "seen")

    assert ("before", "after") == seen
    assert f"{far!r} is unreachable: every route crosses a failed link" == str(caught.value)


@pytest.mark.asyncio
async def test_slow_core_multiplies_the_latency_of_messages_to_it() -> None:
    """A call to a core slowed 5x takes four one-way latencies longer, while the window lasts."""
    async with Runtime(clock="virtual", mesh="mesh:4x1") as rt:
        (far,) = await on_cores(rt, 3)
        FaultPlan([SlowCore(factor=5, core=3, schedule=Schedule.window(1, 2))]).install(rt)

        async def timed_call() -> float:
            start = rt.now()
            await rt.call(far, Ping(0))
            return rt.now() - start

        normal = await timed_call()
        await asyncio.sleep(1.5 - rt.now())
        slowed = await timed_call()
        await asyncio.sleep(1)
        healed = await timed_call()

    assert slowed == pytest.approx(normal / 2 * 5 + normal / 2)
    assert healed == pytest.approx(normal)


class Forwarder(Actor):
    """Casts what it is told to: ``(target, msg)``."""

    def handle_cast(self, msg):
        target, payload = msg
        self.cast(target, payload)


@pytest.mark.asyncio
async def test_a_partition_drops_messages_between_its_sides_and_lets_exits_through() -> None:
    """Cores 0,1 against 2,3: a cast from core 0 reaches core 1 but not core 2 while the cut
    lasts; exit signals still cross; after the window everything passes."""
    async with Runtime(clock="virtual", mesh="mesh:2x2", trace=True) as rt:
        near, far, doomed = await on_cores(rt, 1, 2, 3)
        injector = FaultPlan([Partition(sides=((0, 1), (2, 3)), schedule=Schedule.window(1, 2))]).install(rt)
        await asyncio.sleep(1.5)
        rt.cast(near, "cut")
        rt.cast(far, "cut")
        rt.exit(doomed, "kill")
        reason = await rt.wait_exit(doomed)
        await asyncio.sleep(1)
        rt.cast(far, "healed")
        await rt.wait_idle()
        seen = (await rt.call(near, "seen"), await rt.call(far, "seen"))
        accounting = injector.accounting()

    assert (("cut",), ("healed",)) == seen
    assert "killed" == reason
    assert (("partition", 1),) == accounting.dropped
    assert ["fault.partition 0 ((0, 1), (2, 3))", f"fault.partition 0 <0.0.0> {far!r} 'str'", "fault.restored 0"] == faults(rt)


@pytest.mark.asyncio
async def test_a_random_partition_splits_the_cores_in_use_in_two() -> None:
    """Without sides, the cores processes run on are shuffled with the seed and halved."""
    async with Runtime(clock="virtual", mesh="mesh:4x4", trace=True, seed=1) as rt:
        await on_cores(rt, 0, 5, 10, 15)
        FaultPlan([Partition()]).install(rt)
        await asyncio.sleep(0.1)
        sides = eval(faults(rt)[0].split(" ", 2)[2])  # noqa: S307 - our own trace's tuple of ints

    assert 2 == len(sides)
    assert {0, 5, 10, 15} == set(sides[0]) | set(sides[1])
    assert 2 == len(sides[0]) == len(sides[1])
