"""Plain-Python references for the network-on-chip kernels, and the textbook formulas.

Written from the definitions rather than for speed: routes walk the grid one coordinate at a
time, traffic patterns act on node-id bits where the textbook defines them on bits, and the
formulas are Dally & Towles' (*Principles and Practices of Interconnection Networks*,
ch. 3). The cycle-level simulator itself has no second implementation; it is checked against
what these give (zero-load latency, link counts, throughput bounds).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "channel_loads",
    "mean_hops_formula",
    "permutation_reference",
    "route_reference",
    "route_table_reference",
    "throughput_bound",
    "uniform_bound_formula",
    "zero_load_latency_reference",
]

_DIRECTION = {("x", 1): 0, ("x", -1): 1, ("y", 1): 2, ("y", -1): 3}


def _way(topology: str, noc: int, k: int, here: int, there: int) -> int:
    """Which way to move along one dimension: +1, -1, or 0 when already there."""
    if here == there:
        return 0
    if topology == "mesh":
        return 1 if there > here else -1
    if topology == "one_way_torus":
        return 1 if noc == 0 else -1
    forward = (there - here) % k  # hops going +
    backward = k - forward
    if forward != backward:
        return 1 if forward < backward else -1
    return 1 if here % 2 == 0 else -1  # half way round: + from even coordinates


def route_reference(topology: str, kx: int, ky: int, src: int, dst: int, noc: int = 0) -> list[int]:
    """The link ids of the dimension-order route, found by walking the grid."""
    x, y = src % kx, src // kx
    tx, ty = dst % kx, dst // kx
    order = ("x", "y") if noc == 0 else ("y", "x")
    links = []
    for dim in order:
        k = kx if dim == "x" else ky
        while True:
            here, there = (x, tx) if dim == "x" else (y, ty)
            way = _way(topology, noc, k, here, there)
            if way == 0:
                break
            links.append(4 * (y * kx + x) + _DIRECTION[dim, way])
            if dim == "x":
                x = (x + way) % kx
            else:
                y = (y + way) % ky
    return links


def route_table_reference(
    topology: str, kx: int, ky: int, noc: int = 0
) -> tuple[list[list[list[int]]], np.ndarray]:
    """Every pair's route (``routes[s][d]``) and hop count (``(N, N)`` int64)."""
    nodes = kx * ky
    routes = [
        [route_reference(topology, kx, ky, s, d, noc) for d in range(nodes)] for s in range(nodes)
    ]
    hops = np.array([[len(r) for r in row] for row in routes], dtype=np.int64)
    return routes, hops


def mean_hops_formula(topology: str, kx: int, ky: int) -> float:
    """Average hops under uniform traffic with self-traffic: the sum over both dimensions of
    ``(k^2 - 1) / (3k)`` (mesh), ``k / 4`` for even ``k`` and ``(k^2 - 1) / (4k)`` for odd
    (bidirectional torus), ``(k - 1) / 2`` (one-way torus)."""

    def one(k: int) -> float:
        if topology == "mesh":
            return (k * k - 1) / (3 * k)
        if topology == "torus":
            return k / 4 if k % 2 == 0 else (k * k - 1) / (4 * k)
        return (k - 1) / 2

    return one(kx) + one(ky)


def uniform_bound_formula(topology: str, kx: int, ky: int) -> float:
    """Uniform traffic's throughput bound, flits per cycle per node: the busiest channel's
    load per unit of offered load is ``k / 4`` (mesh, even ``k``: the bisection), ``k / 8``
    (torus, even ``k``, ties split evenly) or ``(k - 1) / 2`` (one-way torus), for the larger
    ``k``; a node also injects and ejects at most one flit per cycle."""
    k = max(kx, ky)
    per_unit = {"mesh": k / 4, "torus": k / 8, "one_way_torus": (k - 1) / 2}[topology]
    return min(1.0, 1 / per_unit)


def zero_load_latency_reference(hops: int, flits: int, hop_cycles: int, inject_cycles: int) -> int:
    """A lone packet, stage by stage: the header crosses the injection channel, each router
    to router hop and the ejection channel; the tail arrives ``flits - 1`` cycles after it."""
    header = inject_cycles
    for _ in range(hops):
        header += hop_cycles
    header += inject_cycles
    return header + (flits - 1)


def channel_loads(topology: str, kx: int, ky: int, traffic: np.ndarray, noc: int = 0) -> np.ndarray:
    """Each link id's load, ``(4N,)``, when node ``s`` sends ``traffic[s, d]`` to ``d``."""
    loads = np.zeros(4 * kx * ky)
    for s in range(kx * ky):
        for d in range(kx * ky):
            if traffic[s, d]:
                for link in route_reference(topology, kx, ky, s, d, noc):
                    loads[link] += traffic[s, d]
    return loads


def throughput_bound(topology: str, kx: int, ky: int, traffic: np.ndarray, noc: int = 0) -> float:
    """The offered load per node at which the busiest channel (a link, or a node's injection
    or ejection channel) is full, for ``traffic`` normalised to one flit per cycle per node."""
    busiest = max(
        channel_loads(topology, kx, ky, traffic, noc).max(),
        traffic.sum(axis=1).max(),
        traffic.sum(axis=0).max(),
    )
    return 1 / busiest


def permutation_reference(pattern: str, kx: int, ky: int) -> np.ndarray:
    """Destinations by the textbook definitions: for ``kx = ky = 2**b``, transpose swaps the
    high and low ``b`` bits of the node id and bit complement inverts every bit; tornado moves
    each coordinate ``ceil(k / 2) - 1`` forward."""
    nodes = kx * ky
    out = np.empty(nodes, dtype=np.int64)
    for s in range(nodes):
        if pattern == "transpose":
            b = kx.bit_length() - 1
            out[s] = ((s & (kx - 1)) << b) | (s >> b)
        elif pattern == "bit_complement":
            out[s] = ~s & (nodes - 1)
        else:
            x, y = s % kx, s // kx
            out[s] = ((y + (ky + 1) // 2 - 1) % ky) * kx + (x + (kx + 1) // 2 - 1) % kx
    return out
