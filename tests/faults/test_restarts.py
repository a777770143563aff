"""The restart ledger: restarts per supervisor, which count toward the intensity, escalations."""

import asyncio

import pytest
from neural_actors.faults import FailInit, FaultPlan, Kill, Schedule, Target, check_restarts
from neural_actors.supervisors import start_tree
from neural_actors.runtime import Runtime
from neural_actors.supervisors import Backoff, ChildSpec, DynamicSupervisor, Supervisor, SupervisorFlags, start_dynamic_child

from .helpers import Echo, echo_tree


@pytest.mark.asyncio
async def test_restarts_are_counted_per_supervisor_name_across_incarnations(actor_runtime: Runtime, inject_faults) -> None:
    """The pool gives up twice (intensity 1) and the root restarts it: the pool's restarts of
    both incarnations add up under its name; the root's are its own; each give-up escalates."""
    rt = actor_runtime
    pool = echo_tree("a", intensity=1, period=10)
    pool = ChildSpec(id="pool", start=pool.start, type="supervisor", name="pool")
    await start_tree(rt, ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(intensity=5, period=10), (pool,))), name="root"))
    injector = inject_faults(FaultPlan([Kill("a", Schedule(every=1, times=4))]))
    await asyncio.sleep(5)
    await rt.wait_idle()
    statistics = injector.statistics()

    assert (("'pool'", 4), ("'root'", 2)) == tuple(sorted(statistics.restarts))
    assert (("'pool'", 1.0), ("'pool'", 3.0)) == statistics.escalations
    assert [] == check_restarts(injector)


@pytest.mark.asyncio
async def test_restarts_after_a_backoff_pause_do_not_count_toward_the_intensity(actor_runtime: Runtime, inject_faults) -> None:
    """A child with backoff is restarted five times under intensity 1: no escalation, no breach."""
    rt = actor_runtime
    child = ChildSpec(id="a", start=(Echo, ()), name="a", backoff=Backoff(min=0.1, max=0.1, random_factor=0))
    await start_tree(rt, ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(intensity=1, period=100), (child,))), name="root"))
    injector = inject_faults(FaultPlan([Kill("a", Schedule(every=1, times=5))]))
    await asyncio.sleep(6)

    assert ((("'root'", 5),), ()) == (injector.statistics().restarts, injector.statistics().escalations)
    assert [] == check_restarts(injector)


@pytest.mark.asyncio
async def test_a_failed_start_retried_counts_toward_the_intensity(actor_runtime: Runtime, inject_faults) -> None:
    """Each retry of a failing restart counts (OTP's rule): intensity 2 gives up on the third."""
    rt = actor_runtime
    root = await start_tree(rt, echo_tree("a", intensity=2, period=10))
    injector = inject_faults(FaultPlan([FailInit("a", inits=5, schedule=Schedule(at=1)), Kill("a", Schedule(at=1))]))

    assert ("shutdown", "reached_max_restart_intensity") == await rt.wait_exit(root)
    assert (("'root'", 1.0),) == injector.statistics().escalations
    assert [] == check_restarts(injector)


@pytest.mark.asyncio
async def test_a_dynamic_supervisor_s_restarts_are_followed_too(actor_runtime: Runtime, inject_faults) -> None:
    """Killing both children of a dynamic supervisor twice makes four restarts."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, ChildSpec(id="w", start=(Echo, ())), kwargs={"intensity": 10}, name="dyn")
    for _ in range(2):
        await start_dynamic_child(rt, sup)
    injector = inject_faults(FaultPlan([Kill(Target(subtree="dyn"), Schedule(every=1, times=2))]))
    await asyncio.sleep(3)

    assert (("'dyn'", 4),) == injector.statistics().restarts
