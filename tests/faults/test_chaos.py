"""Chaos runs: a pure function of (tree, load, plan, seed) on the virtual clock, a report that
says what happened, and the replay command when an invariant breaks."""

import pytest
import structlog.testing
from neural_actors.faults import (
    Crash,
    CrashAfter,
    Delay,
    Drop,
    Duplicate,
    FailCore,
    FailInit,
    FailLink,
    FaultPlan,
    Kill,
    Messages,
    Partition,
    Reorder,
    Schedule,
    SlowCore,
    Target,
)
from neural_actors.faults.chaos import ChaosReport, run_chaos, run_chaos_seeds
from neural_actors.faults.load import Load
from neural_actors.runtime import Runtime
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags

from .helpers import Ping, Silent, echo_tree

TREE = echo_tree("a", "b", "c", "d", intensity=20, period=1, group="workers")

#: Every kind of fault, most of them at random targets.
PLAN = FaultPlan(
    [
        Crash(Target(glob="?", pick=1), Schedule(every=0.4)),
        Kill(Target(group="workers", pick=1), Schedule(at=0.2, every=0.5, probability=0.5)),
        FailInit(Target(glob="?", pick=1), schedule=Schedule(every=1.5)),
        CrashAfter(Target(glob="?", pick=1), after=5, schedule=Schedule(every=1.1)),
        Drop(Messages(kinds=("cast", "call")), Schedule(probability=0.05)),
        Delay(0.005, jitter=0.01, schedule=Schedule(probability=0.2)),
        Duplicate(schedule=Schedule(probability=0.05)),
        Reorder(hold=0.01, schedule=Schedule(probability=0.05)),
        FailCore(schedule=Schedule(at=1, every=1.3, duration=0.3)),
        FailLink(schedule=Schedule(at=0.5, every=0.9, duration=0.4)),
        SlowCore(factor=20, schedule=Schedule(every=0.7, duration=0.2)),
        Partition(schedule=Schedule(at=0.3, every=1.2, duration=0.25)),
    ]
)

LOAD = (Load("a", Ping, clients=2, rate=40, timeout=0.05), Load("workers", Ping(0), group=True, clients=2, rate=60, timeout=0.05))

OPTIONS = {"load": LOAD, "duration": 3.0, "settle": 0.5, "runtime": {"mesh": "mesh:4x4", "log_level": "error"}}


def runs(seeds, plan: FaultPlan = PLAN, tree: ChildSpec = TREE, **options) -> list[ChaosReport]:
    with structlog.testing.capture_logs():
        return list(run_chaos_seeds(tree, plan, seeds, **(OPTIONS | options)))


def test_the_same_seed_replays_to_the_same_trace_over_twenty_seeds() -> None:
    """Each of 20 seeds, run twice, gives one digest and one report; every invariant holds."""
    first = runs(range(20))
    second = runs(range(20))

    assert [r.digest for r in first] == [r.digest for r in second]
    assert first == second
    assert [] == [r.render() for r in first if not r.ok]


def test_different_seeds_make_different_runs() -> None:
    """Twenty seeds, twenty digests."""
    assert 20 == len({report.digest for report in runs(range(20, 40))})


def test_every_fault_kind_is_injected_and_reported() -> None:
    """Over a few seeds each kind fires; drops are reported by reason."""
    injected: set[str] = set()
    reasons: set[str] = set()
    for report in runs(range(3)):
        injected.update(kind for kind, _ in report.faults)
        reasons.update(reason for reason, n in report.dropped if n)

    assert {
        "crash", "kill", "fail_init", "crash_after", "drop", "delay", "duplicate", "reorder",
        "fail_core", "fail_link", "slow_core", "partition",
    } == injected
    assert {"drop", "partition"} <= reasons


def test_the_report_reads_as_text() -> None:
    """One topic per line: faults, restarts, escalations, requests, latency, messages, digest."""
    (report,) = runs([5], duration=1.0)
    lines = report.render().splitlines()

    assert "chaos run: seed 5, virtual clock, 1 s of faults and load (1.007 s in all)" == lines[0]
    assert [
        "faults injected:", "restarts:", "escalations:", "requests:", "latency of ok calls:", "messages:",
        "trace digest:", "invariants: all hold",
    ] == [line.split(": ", 1)[0] + ":" if not line.startswith("invariants") else line for line in lines[1:]]
    assert f"trace digest: {report.digest}" == lines[-2]


def test_a_broken_invariant_is_reported_with_the_replay_command() -> None:
    """A tree whose worker swallows calls, loaded without a timeout: a hung call, and the replay
    command the caller gave."""
    tree = ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(), (ChildSpec(id="s", start=(Silent, ()), name="s"),))))
    (report,) = runs([3], plan=FaultPlan(), tree=tree, load=(Load("s", Ping(1), timeout=None),), replay=lambda s: f"replay --seed {s}")

    assert not report.ok
    assert ["pending_calls"] == [v.invariant for v in report.violations]
    assert "1 load call(s) hung: no reply and no error past their timeout" == report.violations[0].detail
    assert 1 == report.requests.hung
    assert report.render().endswith("replay: replay --seed 3")


@pytest.mark.asyncio
async def test_progress_is_reported_every_step(actor_runtime: Runtime) -> None:
    """``progress(seconds_done, load_statistics)`` is called each ``progress_every`` seconds."""
    seen = []
    with structlog.testing.capture_logs():
        await run_chaos(TREE, FaultPlan(), load=LOAD, duration=2.0, settle=0.1, progress=lambda t, s: seen.append((t, s.ok > 0)), progress_every=0.5)

    assert [(0.5, True), (1.0, True), (1.5, True), (2.0, True)] == seen
