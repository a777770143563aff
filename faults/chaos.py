"""Chaos runs: a supervision tree under a fault plan and a load, then every invariant checked.

One run has three phases, as deterministic simulation testers separate safety from liveness
(TigerBeetle's VOPR checks that a cluster recovers once faults stop):

1. **faults**: the tree starts, the plan is installed, the load runs, for ``duration``;
2. **heal and settle**: the plan heals, the load stops (a call still waiting past its timeout
   and a grace is hung), the runtime settles (until it is idle with no call pending, for
   ``settle`` seconds at most); then the invariants of a running runtime are checked: no
   pending call, no dead registry entry, every message accounted for, restarts within each
   supervisor's intensity;
3. **shutdown**: the runtime stops, and nothing may be left running.

On the virtual clock a run is a pure function of (tree, load, plan, seed): the runtime's
scheduler, the plan and the load are all seeded from ``seed``, and the report's trace digest
says so (run it twice: same digest). A report with a violation carries the command that
replays it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, final

import attrs

from neural_actors.runtime import ActorExited, Pid, Runtime, run
from neural_actors.supervisors import ChildHealth, ChildSpec, start_tree, tree_health

from .accounting import MessageAccounting
from .invariants import Violation, check_invariants, check_stopped
from .load import Load, LoadGenerator, LoadStatistics
from .plan import Crash, Delay, Drop, FaultPlan, Kill, Reorder
from .schedule import Schedule
from .targets import Messages, Target

__all__ = ["DEFAULT_PLAN", "ChaosReport", "run_chaos", "run_chaos_seeds", "wait_settled"]

#: Seconds the runtime settles after the faults heal: the runtime's default call timeout, so a
#: call made in the tree with it has ended by the time pending calls are checked.
DEFAULT_SETTLE = 5.0
#: How often settling looks again for calls still pending.
SETTLE_STEP = 0.01

Progress = Callable[[float, LoadStatistics], None]

#: The plan a tree without one of its own is tried under: workers crash and are killed at
#: random, a tenth of the messages arrive a little late, a few swap places or are lost. No
#: mesh fault, so any tree can take it.
DEFAULT_PLAN = FaultPlan(
    (
        Crash(Target(type="worker", pick=1), Schedule(every=0.5)),
        Kill(Target(type="worker", pick=1), Schedule(at=0.25, every=1.0, probability=0.5)),
        Delay(0.001, jitter=0.002, schedule=Schedule(probability=0.1)),
        Reorder(hold=0.005, schedule=Schedule(probability=0.01)),
        Drop(Messages(kinds=("cast", "call")), Schedule(probability=0.005)),
    )
)


@final
@attrs.frozen
class ChaosReport:
    """What one chaos run did and whether every invariant held."""

    seed: int
    clock: str
    duration: float  # seconds of faults and load
    elapsed: float  # loop seconds the whole run took, settling and shutdown included
    digest: str | None  # the trace digest (virtual clock only: a real-clock run does not replay)
    faults: tuple[tuple[str, int], ...]
    restarts: tuple[tuple[str, int], ...]
    escalations: tuple[tuple[str, float], ...]
    requests: LoadStatistics
    accounting: MessageAccounting
    violations: tuple[Violation, ...]
    replay: str

    @property
    def ok(self) -> bool:
        """True if every invariant held (no hung call included)."""
        return not self.violations

    @property
    def dropped(self) -> tuple[tuple[str, int], ...]:
        """Messages dropped, by reason: each fault's, then ``mailbox`` and ``dead_letter``."""
        counts = self.accounting
        return (*counts.dropped, ("mailbox", counts.dropped_by_mailbox), ("dead_letter", counts.dead_letters))

    def render(self) -> str:
        """The report as text, one topic per line."""
        requests = self.requests
        lines = [
            f"chaos run: seed {self.seed}, {self.clock} clock, {self.duration:g} s of faults and load "
            f"({self.elapsed:.3f} s in all)",
            f"faults injected: {_pairs(self.faults)}",
            f"restarts: {_pairs(self.restarts)}",
            "escalations: " + (", ".join(f"{name} gave up at t={t:.3f}" for name, t in self.escalations) or "none"),
            f"requests: {requests.ok} ok, {requests.failed_total} failed with a clear error"
            + (f" ({_pairs(requests.failed)})" if requests.failed else "")
            + f", {requests.hung} hung"
            + (
                f", {requests.unexpected_total} unexpected errors ({_pairs(requests.unexpected)})"
                if requests.unexpected
                else ""
            ),
            "latency of ok calls: " + ", ".join(f"{name} {seconds * 1e3:.3f} ms" for name, seconds in requests.latency),
            f"messages: {self.accounting.sent} sent, {self.accounting.delivered} delivered; "
            f"dropped by reason: {_pairs(self.dropped)}",
        ]
        if self.digest is not None:
            lines.append(f"trace digest: {self.digest}")
        if self.violations:
            lines.append(f"invariants: {len(self.violations)} violated")
            lines.extend(f"  {violation}" for violation in self.violations)
            lines.append(f"replay: {self.replay}")
        else:
            lines.append("invariants: all hold")
        return "\n".join(lines)


def _pairs(pairs: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{key} {value}" for key, value in pairs) or "none"


async def run_chaos(
    tree: ChildSpec,
    plan: FaultPlan,
    *,
    load: Sequence[Load] = (),
    seed: int = 0,
    duration: float = 60.0,
    settle: float = DEFAULT_SETTLE,
    runtime: Mapping[str, Any] | None = None,
    replay: str | None = None,
    progress: Progress | None = None,
    progress_every: float = 1.0,
) -> ChaosReport:
    """Run ``tree`` under ``plan`` and ``load`` for ``duration`` seconds, then check every
    invariant (see the module docstring). Runs on the running loop's clock.

    Args:
        tree: the root's child spec.
        plan: the faults.
        load: the clients.
        seed: seeds the runtime's scheduler, the plan and the load.
        duration: seconds of faults and load.
        settle: seconds to let the tree settle after the faults heal.
        runtime: more ``Runtime`` arguments (``mesh``, ``placement``, ``log_level``...).
        replay: the command that replays this run, for the report.
        progress: called as ``progress(seconds_done, load_statistics)`` every
            ``progress_every`` seconds of the run.

    Returns:
        The report; ``report.ok`` says whether every invariant held.

    Raises:
        StartFailed: the tree failed to start (before any fault).
    """
    loop = asyncio.get_running_loop()
    clock: Literal["real", "virtual"] = "virtual" if type(loop).__name__ == "VirtualEventLoop" else "real"
    options = {**(runtime or {}), "clock": clock, "seed": seed, "trace": True}
    began = loop.time()
    async with Runtime(**options) as rt:
        root = await start_tree(rt, tree)
        paths = await _supervisor_paths(rt, root, tree)
        injector = plan.install(rt, seed=seed)
        clients = LoadGenerator(rt, load, seed=seed)
        clients.start()
        done = 0.0
        while done < duration:
            step = min(progress_every, duration - done)
            await asyncio.sleep(step)
            done += step
            if progress is not None:
                progress(done, clients.statistics())
        injector.heal()
        requests = await clients.stop()
        await wait_settled(rt, settle)
        violations = check_invariants(rt, injector)
        statistics = injector.statistics()
        paths.update(await _supervisor_paths(rt, root, tree))
    violations.extend(check_stopped(rt))
    if requests.hung:
        hung = f"{requests.hung} load call(s) hung: no reply and no error past their timeout"
        violations.append(Violation("pending_calls", hung))
    if requests.unexpected:
        unexpected = f"calls failed with errors that are not the runtime's: {_pairs(requests.unexpected)}"
        violations.append(Violation("load", unexpected))
    return ChaosReport(
        seed=seed,
        clock=clock,
        duration=duration,
        elapsed=loop.time() - began,
        digest=rt.trace_digest() if clock == "virtual" else None,
        faults=statistics.injected,
        restarts=tuple((paths.get(name, name), n) for name, n in statistics.restarts),
        escalations=tuple((paths.get(name, name), t) for name, t in statistics.escalations),
        requests=requests,
        accounting=statistics.accounting,
        violations=tuple(violations),
        replay=replay if replay is not None else f"run_chaos(tree, plan, seed={seed}, duration={duration:g})",
    )


async def _supervisor_paths(rt: Runtime, root: Pid, tree: ChildSpec) -> dict[str, str]:
    """Each live supervisor's path of child ids (``root/pool/shard-0``), keyed as the restart
    ledger names it (its name, else its pid): reports read better with the ids the config gave.
    Taken at the start and at the end of a run, so first incarnations and last ones are named."""
    try:
        health = await tree_health(rt, root)
    except ActorExited:
        return {}
    paths: dict[str, str] = {}

    def walk(node: ChildHealth, path: str) -> None:
        if node.type == "supervisor" and node.pid is not None:
            info = rt.process_info(node.pid)
            paths[repr(node.pid) if info is None or info.name is None else repr(info.name)] = path
        for child in node.children:
            walk(child, f"{path}/{child.id}")

    walk(health.root, str(tree.id))
    return paths


async def wait_settled(rt: Runtime, seconds: float) -> None:
    """Wait until the runtime is idle with no call pending, or ``seconds`` have passed.

    A call still pending then is a hang: the longest timeout a correct tree uses is shorter.
    Returning early changes no verdict, and spares a tree that keeps working (a driver with a
    job to finish) from running on for nothing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await rt.wait_idle()
        if not rt.pending_calls() or loop.time() >= deadline:
            return
        await asyncio.sleep(min(SETTLE_STEP, deadline - loop.time()))


def run_chaos_seeds(
    tree: ChildSpec,
    plan: FaultPlan,
    seeds: Sequence[int],
    *,
    clock: Literal["real", "virtual"] = "virtual",
    replay: Callable[[int], str] | None = None,
    **options: Any,
) -> Iterator[ChaosReport]:
    """``run_chaos`` once per seed, each on a fresh event loop with ``clock``; yields each
    report as its run ends. ``replay(seed)`` gives each run's replay command; ``options`` go to
    ``run_chaos``."""
    for seed in seeds:
        command = replay(seed) if replay is not None else None
        yield run(run_chaos(tree, plan, seed=seed, replay=command, **options), clock=clock)
