"""Placement quality on the Wormhole preset: traffic x hops and the busiest link's load.

Two traffic patterns, each placed three ways on the 80 Tensix cores:

- an MoE-shaped pattern: one router exchanging with 64 experts (1 unit each way), plus
  expert-to-expert traffic (each expert with the next two, 0.25 units: shared tokens between
  experts that co-fire);
- a pipeline: 64 stages, each handing 1 unit to the next.

Placements: ``round_robin`` (names on cores in order), ``random`` (seeded; the median over 21
seeds is printed) and ``comm_aware`` (greedy construction plus local search). Figures are exact
for a placement (no timing involved), so one run is enough. Run: ``python benchmarks/placement.py``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Hashable, Mapping

from neural_actors.runtime import Mesh, plan_comm_aware, traffic_cost
from neural_actors.runtime.placement import link_loads

Traffic = Mapping[tuple[Hashable, Hashable], float]


def moe_pattern(experts: int = 64) -> tuple[list[str], dict[tuple[str, str], float]]:
    names = ["router", *(f"expert{i}" for i in range(experts))]
    traffic = {("router", f"expert{i}"): 2.0 for i in range(experts)}
    for i in range(experts):
        for step in (1, 2):
            traffic[(f"expert{i}", f"expert{(i + step) % experts}")] = 0.25
    return names, traffic


def pipeline_pattern(stages: int = 64) -> tuple[list[str], dict[tuple[str, str], float]]:
    names = [f"stage{i}" for i in range(stages)]
    return names, {(names[i], names[i + 1]): 1.0 for i in range(stages - 1)}


def moe_lower_bound(mesh: Mesh, experts: int = 64) -> float:
    """No placement of ``moe_pattern`` costs less: the router's traffic at least reaches the
    ``experts`` cores nearest to the best router core, and each expert pair is at least a hop."""
    cores = range(mesh.core_count)
    star = min(2.0 * sum(sorted(mesh.core_hops(r, c) for c in cores if c != r)[:experts]) for r in cores)
    return star + 0.25 * 2 * experts


def measure(mesh: Mesh, placement: Mapping[Hashable, int], traffic: Traffic) -> tuple[float, float]:
    """(sum of traffic x hops, the busiest link's load)."""
    return traffic_cost(mesh, placement, traffic), max(link_loads(mesh, placement, traffic).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=21, help="random placements to take the median of")
    options = parser.parse_args()
    mesh = Mesh.preset("wormhole")
    cores = list(range(mesh.core_count))
    print(f"placement on the wormhole preset ({mesh.core_count} cores, two one-way tori)")
    print(f"{'pattern':<10} {'placement':<12} {'traffic x hops':>15} {'max link load':>14}")
    for label, (names, traffic) in (("moe", moe_pattern()), ("pipeline", pipeline_pattern())):
        in_order = {name: core for name, core in zip(names, cores)}
        randoms = []
        for seed in range(options.seeds):
            shuffled = random.Random(seed).sample(cores, len(names))
            randoms.append(measure(mesh, dict(zip(names, shuffled)), traffic))
        random_cost = statistics.median(r[0] for r in randoms)
        random_load = statistics.median(r[1] for r in randoms)
        started = time.perf_counter()
        planned = plan_comm_aware(mesh, names, traffic)
        seconds = time.perf_counter() - started
        rows = {
            "round_robin": measure(mesh, in_order, traffic),
            "random": (random_cost, random_load),
            "comm_aware": measure(mesh, planned, traffic),
        }
        for name, (cost, load) in rows.items():
            print(f"{label:<10} {name:<12} {cost:>15,.1f} {load:>14,.2f}")
        cost, load = rows["comm_aware"]
        if label == "moe":
            bound = moe_lower_bound(mesh)
            print(
                f"{label:<10} no placement costs less than {bound:,.1f} traffic x hops, so random / best "
                f"is at most {random_cost / bound:.2f}x here: 65 of 80 cores are in use, and any 64 cores "
                "are nearly as far from the router as all of them"
            )
        print(
            f"{label:<10} random / comm_aware: traffic x hops {random_cost / cost:.2f}x, "
            f"max link load {random_load / load:.2f}x (target >= 2x); planned in {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
