"""Placement: which core of the mesh each new process goes to.

Every spawn on a runtime with a mesh gets a core. ``spawn(..., core=n)`` asks for core ``n``;
otherwise the runtime's strategy decides:

- ``round_robin``: the next live core in core order;
- ``spread``: the live core with the fewest processes;
- ``pack``: the first live core whose SRAM still holds the process's declared memory (its
  weight bytes), filling cores one after another; a process that fits nowhere is a
  ``PlacementError`` naming its size and the largest free core;
- ``comm_aware``: the live core that minimises traffic x hops to the processes already placed,
  given a declared traffic matrix between names (``plan_comm_aware`` places a whole group at
  once, greedy construction then local search).

A requested core that has failed is not used: the process goes where the strategy puts it, so
a restarted child keeps its core unless that core failed. Memory is reserved while the process
lives and released when it exits.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal, final

from .errors import PlacementError
from .mesh import Mesh

__all__ = ["STRATEGIES", "Placement", "Strategy", "link_loads", "plan_comm_aware", "traffic_cost"]

Strategy = Literal["round_robin", "spread", "pack", "comm_aware"]
STRATEGIES: tuple[Strategy, ...] = ("round_robin", "spread", "pack", "comm_aware")

Traffic = Mapping[tuple[Hashable, Hashable], float]


@final
class Placement:
    """The core choices of one runtime on one mesh."""

    def __init__(self, mesh: Mesh, strategy: Strategy = "round_robin", traffic: Traffic | None = None) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"placement strategy must be one of {', '.join(STRATEGIES)} (got {strategy!r})")
        self.mesh = mesh
        self.strategy = strategy
        self.traffic: dict[tuple[Hashable, Hashable], float] = dict(traffic or {})
        self._next = 0
        self._free = [mesh.sram_bytes] * mesh.core_count
        self._count = [0] * mesh.core_count
        self._failed: set[int] = set()
        self._where: dict[Hashable, int] = {}  # name -> core, for comm_aware

    def fail(self, core: int) -> None:
        """Stop placing on ``core``."""
        self._failed.add(core)

    def restore(self, core: int) -> None:
        self._failed.discard(core)

    def place(self, memory: int = 0, requested: int | None = None, name: Hashable | None = None) -> int:
        """Choose a live core for a process declaring ``memory`` bytes, and reserve them.

        Raises:
            PlacementError: no live core has ``memory`` bytes free.
            ValueError: ``requested`` is not a core of this mesh.
        """
        if requested is not None:
            self.mesh.locate(requested)
            if requested not in self._failed and self._free[requested] >= memory:
                return self._take(requested, memory, name)
        live = [c for c in range(self.mesh.core_count) if c not in self._failed and self._free[c] >= memory]
        if not live:
            largest = max((self._free[c] for c in range(self.mesh.core_count) if c not in self._failed), default=0)
            raise PlacementError(
                f"no live core has {memory:,} bytes free for {name!r} (largest free: {largest:,} bytes of "
                f"{self.mesh.sram_bytes:,} per core)"
            )
        if self.strategy == "round_robin":
            core = min(live, key=lambda c: (c - self._next) % self.mesh.core_count)
            self._next = core + 1
        elif self.strategy == "spread":
            core = min(live, key=lambda c: (self._count[c], c))
        elif self.strategy == "pack":
            core = live[0]
        else:
            core = min(live, key=lambda c: (self._cost(name, c), self._count[c], c))
        return self._take(core, memory, name)

    def release(self, core: int, memory: int, name: Hashable | None = None) -> None:
        """Give back what a process that exited had reserved."""
        self._free[core] += memory
        self._count[core] -= 1
        if name is not None and self._where.get(name) == core:
            del self._where[name]

    def free_bytes(self, core: int) -> int:
        return self._free[core]

    def _take(self, core: int, memory: int, name: Hashable | None) -> int:
        self._free[core] -= memory
        self._count[core] += 1
        if name is not None:
            self._where[name] = core
        return core

    def _cost(self, name: Hashable | None, core: int) -> float:
        if name is None:
            return 0.0
        cost = 0.0
        for (a, b), weight in self.traffic.items():
            other = b if a == name else a if b == name else None
            if other is not None and other in self._where:
                cost += weight * self.mesh.core_hops(core, self._where[other])
        return cost


def traffic_cost(mesh: Mesh, assignment: Mapping[Hashable, int], traffic: Traffic) -> float:
    """Sum of traffic x hops of an assignment of names to cores."""
    return sum(weight * mesh.core_hops(assignment[a], assignment[b]) for (a, b), weight in traffic.items())


def link_loads(mesh: Mesh, assignment: Mapping[Hashable, int], traffic: Traffic) -> dict[tuple[int, int, str, int], float]:
    """Traffic carried by each link ``(x, y, direction, noc)`` when every pair's traffic takes
    its route (on the NoC with fewer hops), both ways for a pair listed once."""
    loads: dict[tuple[int, int, str, int], float] = {}
    nocs = (0, 1) if mesh.topology == "noc" else (0,)
    for (a, b), weight in traffic.items():
        for src, dst in ((assignment[a], assignment[b]), (assignment[b], assignment[a])):
            _, sx, sy = mesh.locate(src)
            _, dx, dy = mesh.locate(dst)
            noc = min(nocs, key=lambda n: (mesh.hops((sx, sy), (dx, dy), n), n))
            for x, y, direction in mesh.route((sx, sy), (dx, dy), noc):
                key = (x, y, direction, noc)
                loads[key] = loads.get(key, 0.0) + weight / 2
    return loads


def plan_comm_aware(
    mesh: Mesh,
    names: Sequence[Hashable],
    traffic: Traffic,
    *,
    cores: Sequence[int] | None = None,
    seed: int = 0,
    rounds: int = 4,
) -> dict[Hashable, int]:
    """Place ``names`` on distinct cores minimising sum(traffic x hops).

    Greedy construction (the heaviest talker first, each next name on the free core cheapest
    against those placed), then local search: pairwise swaps and moves to free cores that lower
    the cost, in seeded random order, for ``rounds`` passes or until none helps.

    Raises:
        PlacementError: more names than cores.
    """
    pool = list(cores if cores is not None else range(mesh.core_count))
    if len(names) > len(pool):
        raise PlacementError(f"{len(names)} processes do not fit on {len(pool)} cores, one per core")
    hops = {(a, b): mesh.core_hops(a, b) for a in pool for b in pool}
    weight: dict[Hashable, dict[Hashable, float]] = {n: {} for n in names}
    for (a, b), w in traffic.items():
        weight[a][b] = weight[a].get(b, 0.0) + w
        weight[b][a] = weight[b].get(a, 0.0) + w
    order = sorted(names, key=lambda n: (-sum(weight[n].values()), str(n)))
    where: dict[Hashable, int] = {}
    free = set(pool)

    def cost_at(name: Hashable, core: int) -> float:
        return sum(w * hops[core, where[other]] for other, w in weight[name].items() if other in where and other != name)

    for name in order:
        if not where:
            centre = min(free, key=lambda c: (sum(hops[c, d] for d in pool), c))
            where[name] = centre
        else:
            where[name] = min(free, key=lambda c: (cost_at(name, c), c))
        free.discard(where[name])
    rng = random.Random(seed)
    for _ in range(rounds):
        improved = False
        placed = list(order)
        rng.shuffle(placed)
        for a in placed:
            here = cost_at(a, where[a])
            best = min(free, key=lambda c: (cost_at(a, c), c), default=None)
            if best is not None and cost_at(a, best) < here:
                free.add(where[a])
                where[a] = best
                free.discard(best)
                improved = True
                continue
            for b in placed:
                if a == b:
                    continue
                ca, cb = where[a], where[b]
                before = cost_at(a, ca) + cost_at(b, cb)
                where[a], where[b] = cb, ca
                after = cost_at(a, cb) + cost_at(b, ca)
                if after < before:
                    improved = True
                    break
                where[a], where[b] = ca, cb
        if not improved:
            break
    return where
