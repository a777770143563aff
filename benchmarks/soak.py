"""Soak test: the richest example config on the real clock, under continuous faults and load,
for as long as asked, with memory sampled over time and every invariant checked.

The tree is the config's (default ``configs/every_strategy.yaml``: every strategy, a dynamic
supervisor, backoff, a chaos monkey of its own), less its significant children: those end
the job (its driver finishes after 300 requests and the root shuts down), and a soak must run
for its whole duration. If the root gives up anyway, the tree is started again and the soak
counts it. Faults never stop (see ``PLAN``); clients call the inference workers as fast as
replies come. Every ``--duration / --samples`` seconds the soak collects garbage, samples the
process's RSS, and checks the invariants that hold at any moment (no dead registry entry,
restarts within each supervisor's intensity). At the end the faults heal, the load stops, the
tree settles, and every invariant is checked: no call pending, every message accounted for,
nothing running after shutdown.

Calls per CPU second tell a slower soak from a busier machine: on a shared machine the wall
clock rate falls when neighbours take the CPU, the rate per CPU second does not. Memory is flat
when the RSS after warm-up (the first tenth of the run) grows by no more than
its noise: the line fitted through the samples is printed in MiB per minute, with the first
and last samples.

    python benchmarks/soak.py --duration 600            # ten minutes
    python benchmarks/soak.py --duration 20 --samples 5 # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import sys
import time
from pathlib import Path

import attrs
import numpy as np
import psutil
import structlog

from neural_actors.demo import FEATURES, WORKERS_GROUP, Infer
from neural_actors.faults import (
    Crash,
    CrashAfter,
    Delay,
    Drop,
    Duplicate,
    FailCore,
    FailInit,
    FaultPlan,
    Kill,
    Load,
    LoadGenerator,
    Messages,
    Partition,
    Reorder,
    Schedule,
    SlowCore,
    Target,
    check_invariants,
    check_registry,
    check_restarts,
    check_stopped,
)
from neural_actors.faults.chaos import wait_settled
from neural_actors.runtime import ActorExited, Pid, Runtime, StartFailed, freeze, run
from neural_actors.supervisors import ChildSpec, Supervisor, load_config, start_tree, walk_tree

ROOT = Path(__file__).resolve().parents[1]

#: Faults that never stop: a worker crashes five times a second, one is killed twice a second,
#: one crashes after fifty messages every second, a restart fails every two seconds; one call
#: or cast in a thousand is lost, one message in twenty arrives up to 1.5 ms late, one in a
#: hundred swaps places, one call or cast in a thousand is handled twice.
PLAN = (
    Crash(Target(type="worker", pick=1), Schedule(every=0.2)),
    Kill(Target(type="worker", pick=1), Schedule(at=0.1, every=0.5)),
    CrashAfter(Target(type="worker", pick=1), after=50, schedule=Schedule(every=1.0)),
    FailInit(Target(type="worker", pick=1), schedule=Schedule(every=2.0)),
    Drop(Messages(kinds=("cast", "call")), Schedule(probability=0.001)),
    Delay(0.0005, jitter=0.001, schedule=Schedule(probability=0.05)),
    Reorder(hold=0.002, schedule=Schedule(probability=0.01)),
    Duplicate(Messages(kinds=("cast", "call")), Schedule(probability=0.001)),
)

#: With ``--mesh``: a core fails for a second every five, one is slowed, the mesh is cut.
MESH_PLAN = (
    FailCore(schedule=Schedule(at=2.5, every=5.0, duration=1.0)),
    SlowCore(factor=20, schedule=Schedule(every=3.0, duration=1.0)),
    Partition(schedule=Schedule(at=4.0, every=7.0, duration=0.5)),
)

BATCH = freeze(np.ones((8, FEATURES), np.float32))


def infer(_: int) -> Infer:
    return Infer(BATCH)


LOAD = (Load(WORKERS_GROUP, infer, group=True, clients=8, rate=1e6, timeout=0.1),)


def without_significant(tree: ChildSpec) -> ChildSpec:
    """``tree`` with every significant child removed, at every level."""
    if tree.actor is not Supervisor or len(tree.args) != 2:
        return tree
    flags, children = tree.args
    kept = tuple(without_significant(child) for child in children if not child.significant)
    return attrs.evolve(tree, start=(Supervisor, (attrs.evolve(flags, auto_shutdown="never"), kept), *tree.start[2:]))


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


async def soak(tree: ChildSpec, plan: FaultPlan, duration: float, samples: int, seed: int, mesh: str | None) -> int:
    """Run the soak; print the report; return the number of violations."""
    loop = asyncio.get_running_loop()
    violations: list[str] = []
    series: list[tuple[float, float]] = []
    tree_starts = 0
    async with Runtime(clock="real", seed=seed, log_level="error", mesh=mesh) as rt:

        async def keep_tree() -> None:
            nonlocal tree_starts
            while True:
                try:
                    root = await start_tree(rt, tree)
                except StartFailed:
                    await asyncio.sleep(0.1)
                    continue
                tree_starts += 1
                await rt.wait_exit(root)

        keeper = loop.create_task(keep_tree())
        await asyncio.sleep(0.1)
        injector = plan.install(rt, seed=seed)
        clients = LoadGenerator(rt, LOAD, seed=seed, samples=10_000)
        clients.start()
        began = loop.time()
        step = duration / samples
        print(f"{'t (s)':>8} {'RSS MiB':>8} {'calls ok/s':>11} {'per CPU s':>10} {'messages/s':>11} {'restarts/s':>11}",
              flush=True)
        last = (began, 0, 0, 0, time.process_time())
        for _ in range(samples):
            await asyncio.sleep(step)
            gc.collect()
            now = loop.time()
            ok = clients.statistics().ok
            sent = injector.accounting().sent
            restarts = sum(n for _, n in injector.ledger.restarts().items())
            dt = now - last[0]
            cpu = time.process_time()
            series.append((now - began, rss_mib()))
            calls = ok - last[1]
            print(
                f"{now - began:8.1f} {series[-1][1]:8.1f} {calls / dt:11.0f} {calls / (cpu - last[4]):10.0f}"
                f" {(sent - last[2]) / dt:11.0f} {(restarts - last[3]) / dt:11.1f}",
                flush=True,
            )
            last = (now, ok, sent, restarts, cpu)
            violations += [str(v) for v in (*check_registry(rt), *check_restarts(injector))]
        elapsed = loop.time() - began
        statistics_ = injector.statistics()
        injector.heal()
        requests = await clients.stop()
        keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)
        await wait_settled(rt, 5.0)
        violations += [str(v) for v in check_invariants(rt, injector)]
        accounting = injector.accounting()
    violations += [str(v) for v in check_stopped(rt)]
    if requests.hung:
        violations.append(f"pending_calls: {requests.hung} load call(s) hung")
    restarts = sum(n for _, n in statistics_.restarts)
    print()
    on_mesh = f", mesh {mesh}" if mesh else ""
    print(f"ran {elapsed:.1f} s on the real clock, seed {seed}{on_mesh}; the tree was started {tree_starts} time(s)")
    print(f"throughput: {requests.ok / elapsed:,.0f} calls ok/s ({requests.ok:,} ok, {requests.failed_total:,} failed"
          f" with a clear error {dict(requests.failed)}, {requests.hung} hung);"
          f" {accounting.sent / elapsed:,.0f} messages/s")
    latency = ", ".join(f"{name} {seconds * 1e3:.2f} ms" for name, seconds in requests.latency)
    print(f"latency of ok calls: {latency}")
    print(f"restarts: {restarts / elapsed:.1f}/s ({restarts:,}), escalations {injector.ledger.escalation_count}")
    print("faults injected: " + ", ".join(f"{kind} {n:,}" for kind, n in statistics_.injected))
    print(f"messages: {accounting.sent:,} sent, {accounting.delivered:,} delivered, dropped {dict(accounting.dropped)},"
          f" by mailboxes {accounting.dropped_by_mailbox}, dead letters {accounting.dead_letters:,},"
          f" unaccounted {accounting.unaccounted}")
    warm = [sample for sample in series if sample[0] >= elapsed / 10] or series
    if len(warm) >= 2:
        slope = statistics.linear_regression([t for t, _ in warm], [m for _, m in warm]).slope * 60
        low, high = min(m for _, m in warm), max(m for _, m in warm)
        print(f"RSS: {warm[0][1]:.1f} MiB after warm-up, {warm[-1][1]:.1f} MiB at the end, "
              f"fitted slope {slope:+.3f} MiB/min (min {low:.1f}, max {high:.1f})")
    print("invariants: " + ("all hold" if not violations else f"{len(violations)} violated"))
    for violation in dict.fromkeys(violations):
        print(f"  {violation}")
    return len(violations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "every_strategy.yaml"))
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of faults and load")
    parser.add_argument("--samples", type=int, default=20, help="RSS samples and invariant checks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mesh", default=None, help="a mesh preset (mesh:4x4, wormhole) to add mesh faults")
    options = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    tree = without_significant(load_config(options.config).tree)
    for cls in {spec.actor for spec in walk_tree(tree)}:
        warm_up = getattr(cls, "warm_up", None)
        if callable(warm_up):
            warm_up()
    plan = FaultPlan(PLAN + (MESH_PLAN if options.mesh else ()))
    print(f"soak: {options.config}, {options.duration:g} s, {len(plan.faults)} faults, load {LOAD[0].clients} clients"
          f" on {WORKERS_GROUP!r}", flush=True)
    started = time.perf_counter()
    broken = run(soak(tree, plan, options.duration, options.samples, options.seed, options.mesh))
    print(f"took {time.perf_counter() - started:.1f} s")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
