"""Synthetic traffic for the network-on-chip simulator: who sends, when, and to whom.

Injection is Bernoulli: in every cycle each node creates a packet with probability ``p``,
independently (inter-arrival gaps are geometric, drawn per node). Destinations follow a
pattern (Dally & Towles, *Principles and Practices of Interconnection Networks*, table 9.1),
written on the grid coordinates ``(x, y)`` of node ``y * kx + x``:

* ``"uniform"``: uniformly random over all ``N`` nodes, the source included (the textbook's
  average hop counts assume self-traffic).
* ``"transpose"``: ``(x, y) -> (y, x)``; needs ``kx == ky`` (for a power-of-two side it is the
  bit-string transpose). Nodes on the diagonal send to themselves.
* ``"bit_complement"``: ``(x, y) -> (kx - 1 - x, ky - 1 - y)`` (the bitwise complement of the
  node id when ``kx`` and ``ky`` are powers of two).
* ``"tornado"``: ``x -> (x + ceil(kx / 2) - 1) mod kx``, the same in ``y``.
* ``"hotspot"``: with probability ``hotspot_fraction`` the hotspot node, else uniform.

Every draw comes from one ``numpy.random.Generator`` seeded by the caller, in a fixed order,
so a seed fixes the whole packet list.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

__all__ = ["PATTERNS", "Pattern", "bernoulli_packets", "permutation"]

Pattern = Literal["uniform", "transpose", "bit_complement", "tornado", "hotspot"]
PATTERNS: tuple[str, ...] = ("uniform", "transpose", "bit_complement", "tornado", "hotspot")


def permutation(pattern: str, kx: int, ky: int) -> np.ndarray:
    """The destination of every source under a deterministic pattern, as ``(N,)`` int64.

    Args:
        pattern: ``"transpose"``, ``"bit_complement"`` or ``"tornado"``.
        kx, ky: grid size.
    """
    node = np.arange(kx * ky, dtype=np.int64)
    x, y = node % kx, node // kx
    if pattern == "transpose":
        if kx != ky:
            raise ValueError(f"pattern 'transpose' needs a square grid (got kx={kx}, ky={ky})")
        return x * kx + y
    if pattern == "bit_complement":
        return (ky - 1 - y) * kx + (kx - 1 - x)
    if pattern == "tornado":
        return ((y + math.ceil(ky / 2) - 1) % ky) * kx + (x + math.ceil(kx / 2) - 1) % kx
    raise ValueError(
        "pattern must be 'transpose', 'bit_complement' or 'tornado' for a permutation "
        f"(got {pattern!r})"
    )


def _arrival_times(rng: np.random.Generator, nodes: int, p: float, cycles: int) -> np.ndarray:
    """``(nodes, n)`` creation cycles, each row increasing; entries ``>= cycles`` are unused."""
    if p == 0.0 or cycles == 0:
        return np.full((nodes, 1), cycles, dtype=np.int64)
    expected = p * cycles
    n = int(expected + 6 * math.sqrt(expected) + 16)
    # a Bernoulli process's gaps are geometric on {1, 2, ...}; the first packet may come at 0
    times = np.cumsum(rng.geometric(p, size=(nodes, n)), axis=1) - 1
    while (times[:, -1] < cycles).any():
        more = np.cumsum(rng.geometric(p, size=(nodes, n)), axis=1) + times[:, -1:]
        times = np.concatenate([times, more], axis=1)
    return times


def bernoulli_packets(
    rng: np.random.Generator,
    pattern: Pattern,
    kx: int,
    ky: int,
    p: float,
    cycles: int,
    hotspot: int,
    hotspot_fraction: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packets created in cycles ``[0, cycles)``, grouped by source and in creation order.

    Args:
        rng: the run's generator; arrival times are drawn first, destinations second.
        pattern: one of ``PATTERNS``.
        kx, ky: grid size.
        p: packets per cycle per node, in ``[0, 1]``.
        cycles: how many cycles to cover.
        hotspot, hotspot_fraction: the hotspot pattern's node and share of the traffic.

    Returns:
        ``(src, dst, time)``, int64 arrays of equal length.
    """
    nodes = kx * ky
    times = _arrival_times(rng, nodes, p, cycles)
    keep = times < cycles
    src = np.repeat(np.arange(nodes, dtype=np.int64), keep.sum(axis=1))
    time = times[keep]
    if pattern == "uniform":
        dst = rng.integers(0, nodes, size=src.size, dtype=np.int64)
    elif pattern == "hotspot":
        uniform = rng.integers(0, nodes, size=src.size, dtype=np.int64)
        dst = np.where(rng.random(src.size) < hotspot_fraction, hotspot, uniform)
    else:
        dst = permutation(pattern, kx, ky)[src]
    return src, dst, time
