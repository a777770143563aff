"""Fault plans as data: each fault kind's fields are checked when it is built, and a plan that
needs what the runtime lacks is refused when installed."""

import pytest
from neural_actors.faults import (
    FAULT_KINDS,
    Crash,
    CrashAfter,
    Delay,
    Drop,
    FailCore,
    FailInit,
    FailLink,
    FaultPlan,
    FaultPlanError,
    Kill,
    Messages,
    Partition,
    Reorder,
    Schedule,
    SlowCore,
    Target,
)
from neural_actors.runtime import Runtime


def test_a_string_target_is_a_name_or_a_glob() -> None:
    """Shorthand: ``"w1"`` is a name, ``"w*"`` a glob, other hashables names."""
    assert Target(name="w1") == Crash("w1").target
    assert Target(glob="w*") == Crash("w*").target
    assert Target(name=("shard", 2)) == Kill(("shard", 2)).target


def test_every_kind_is_listed_by_its_name() -> None:
    """``FAULT_KINDS`` maps each kind to its class, as YAML names them."""
    assert [
        "crash", "kill", "fail_init", "crash_after", "drop", "delay", "duplicate", "reorder",
        "fail_core", "fail_link", "slow_core", "partition",
    ] == list(FAULT_KINDS)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: Crash(None), "target: expected a Target, a name or a glob (got None)"),
        (lambda: Crash("w", schedule=1.0), "schedule: expected a Schedule (got 1.0)"),
        (lambda: FailInit("w", inits=0), "inits: expected an int >= 1 (got 0)"),
        (lambda: CrashAfter("w", after=-1), "after: expected an int >= 0 (got -1)"),
        (lambda: Delay(seconds=0), "seconds: expected finite seconds > 0 (got 0)"),
        (lambda: Delay(jitter=-1), "jitter: expected finite seconds >= 0 (got -1)"),
        (lambda: Reorder(hold=0), "hold: expected finite seconds > 0 (got 0)"),
        (lambda: Drop(messages="w1"), "messages: expected a Messages selector (got 'w1')"),
        (lambda: SlowCore(factor=0.5), "factor: expected a finite number >= 1 (got 0.5)"),
        (lambda: FailCore(core=-1), "core: expected an int >= 0 or None (got -1)"),
        (
            lambda: Partition(sides=((1, 2), (2, 3))),
            "sides: expected two or more disjoint tuples of core numbers, or None for a seeded random split "
            "(got ((1, 2), (2, 3)))",
        ),
        (
            lambda: Drop(schedule=Schedule(every=1)),
            "schedule.duration: expected seconds > 0 for a repeating drop (each firing opens a window that long) (got None)",
        ),
        (lambda: Messages(kinds=("exit",)), "messages.kinds: expected a tuple of cast, send, call, timer, reply (got ('exit',))"),
        (lambda: Messages(kinds=()), "messages.kinds: expected at least one of cast, send, call, timer, reply (got ())"),
        (lambda: Messages(cores=(1,)), "messages.cores: expected (source core, destination core), two ints >= 0 (got (1,))"),
        (lambda: Target(pick=0), "target.pick: expected an int >= 1 or None (got 0)"),
        (lambda: Target(glob=""), "target.glob: expected a non-empty pattern string or None (got '')"),
        (lambda: Target(type="workers"), "target.type: expected one of worker, supervisor (got 'workers')"),
        (lambda: Target(name=["w"]), "target.name: expected a hashable name or None (got ['w'])"),
        (lambda: FaultPlan(["crash"]), "faults[0]: expected a fault (Crash, Kill, FailInit, CrashAfter, Drop, Delay, "
                                      "Duplicate, Reorder, FailCore, FailLink, SlowCore, Partition) (got 'crash')"),
        (lambda: FaultPlan(seed="1"), "seed: expected an int or None (got '1')"),
        (lambda: FailLink((0, 1, 0, "+x")), "link: expected a Link or None (a seeded choice) (got (0, 1, 0, '+x'))"),
        (lambda: Messages(link="a"), "messages.link: expected a Link or None (got 'a')"),
    ],
)
def test_a_bad_fault_is_refused_naming_the_field(build, expected: str) -> None:
    """The error names the field, what was expected and what came."""
    with pytest.raises(FaultPlanError) as caught:
        build()

    assert expected == str(caught.value)


def test_lists_become_tuples_so_a_plan_is_immutable_and_hashable() -> None:
    """A plan built from lists (as YAML gives them) equals one built from tuples."""
    plan = FaultPlan([Drop(Messages(types=["Ping"], kinds=["cast"]))], seed=1)

    assert FaultPlan((Drop(Messages(types=("Ping",), kinds=("cast",))),), seed=1) == plan
    assert hash(plan)


@pytest.mark.asyncio
async def test_a_mesh_fault_on_a_runtime_without_a_mesh_is_refused_at_install(actor_runtime: Runtime) -> None:
    """Failing a core needs a mesh; the error says which fault and what it needs."""
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan([Crash("w"), FailCore()]).install(actor_runtime)

    assert "faults[1]: expected a runtime with a mesh (Runtime(mesh=...)) for this fault (got 'fail_core')" == str(caught.value)
    assert actor_runtime.transport is None


@pytest.mark.asyncio
async def test_a_core_the_mesh_lacks_is_refused_at_install() -> None:
    """A core number past the mesh's last is refused with the valid range."""
    async with Runtime(clock="virtual", mesh="mesh:2x2") as rt:
        with pytest.raises(FaultPlanError) as caught:
            FaultPlan([FailCore(core=4)]).install(rt)

    assert "faults[0].core: expected a core of this mesh, 0..3 (got 4)" == str(caught.value)


@pytest.mark.asyncio
async def test_one_plan_at_a_time(actor_runtime: Runtime) -> None:
    """A second plan is refused until the first is uninstalled; then the runtime is as before."""
    first = FaultPlan().install(actor_runtime)
    with pytest.raises(FaultPlanError) as caught:
        FaultPlan().install(actor_runtime)
    first.uninstall()
    second = FaultPlan().install(actor_runtime)

    assert "plan: expected one plan per runtime: uninstall() the installed plan first" in str(caught.value)
    assert actor_runtime.transport is second.transport
    second.uninstall()
    assert (None, None) == (actor_runtime.transport, actor_runtime.hooks)


def test_install_outside_the_event_loop_says_where_to_install() -> None:
    """A plan is installed from the runtime's loop."""
    with pytest.raises(RuntimeError) as caught:
        FaultPlan().install(Runtime())

    assert "install a fault plan from the runtime's event loop, inside 'async with Runtime() as rt'" == str(caught.value)


@pytest.mark.asyncio
async def test_the_seed_is_install_s_then_the_plan_s_then_the_runtime_s() -> None:
    """One seed drives every choice: install's argument wins, then the plan's, then the runtime's."""
    async with Runtime(clock="virtual", seed=7) as rt:
        seeds = []
        for plan, seed in [(FaultPlan(seed=3), 5), (FaultPlan(seed=3), None), (FaultPlan(), None)]:
            injector = plan.install(rt, seed=seed)
            seeds.append(injector.seed)
            injector.uninstall()

    assert [5, 3, 7] == seeds
