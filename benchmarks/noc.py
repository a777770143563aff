"""Network-on-chip simulator benchmark: compile time, simulation speed, and the validation figures.

1. Compile time: the first call in a fresh interpreter with an empty numba cache (every NoC
   kernel compiles), then in another with that cache filled (kernels load from disk).
2. Speed: simulated flit-hops per second on one core (a flit crossing one router-to-router
   link is one flit-hop), for whole ``simulate`` calls at loads below saturation, best of
   ``--repeats``, on CPU time of the calling thread (a busy machine inflates wall time, not
   CPU time) and wall time. There is no external baseline to divide by: the figure is
   absolute. Packet generation and route tables are inside the time (the ``rate 0`` line
   shows their share).
3. The 8x8 mesh under uniform traffic: latency and accepted throughput against offered load,
   each as a ratio to its textbook baseline (zero-load latency at the mean hop count; the
   channel-load bound 4/k).
4. Validation: mean hops, saturation against the bound for each topology, hotspot, transpose.
5. Wormhole B0 preset (9-cycle hops, 5-cycle injection): one 2 KiB tile (64 data flits and a
   header) per packet.

    python benchmarks/noc.py            # everything
    python benchmarks/noc.py --quick    # fewer repeats, smaller validation grids
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numba
import numpy as np
from neural_actors.kernels.noc import (
    WORMHOLE_B0,
    Network,
    chip_network,
    permutation,
    route_table,
    saturation_rate,
    simulate,
    zero_load_latency,
)
from neural_actors.kernels.noc_reference import (
    mean_hops_formula,
    throughput_bound,
    uniform_bound_formula,
)

FIRST_CALL = (
    "import time; t = time.perf_counter(); "
    "from neural_actors.kernels.noc import Network, simulate; "
    "simulate(Network('torus', 4, 4), 'uniform', 0.1, warmup=10, measure=10); "
    "print(time.perf_counter() - t)"
)


def first_call_seconds(cache_dir: str) -> float:
    """Seconds to import and run a tiny simulation in a fresh interpreter using ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def speed(
    net: Network, rate: float, cycles: int, repeats: int, packet_flits: int = 4
) -> tuple[float, float, int, float]:
    """Best CPU and wall seconds of ``simulate`` over ``repeats``, its flit-hops, and accepted load."""
    cpu = wall = float("inf")
    for _ in range(repeats):
        c0, w0 = time.thread_time(), time.perf_counter()
        stats = simulate(
            net, "uniform", rate, warmup=0, measure=cycles, drain=0, packet_flits=packet_flits
        )
        cpu, wall = min(cpu, time.thread_time() - c0), min(wall, time.perf_counter() - w0)
    return cpu, wall, stats.flit_hops, stats.accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats and cycles, smaller validation grids"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per speed figure (default 5, --quick 2)"
    )
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    cycles = 10_000 if args.quick else 30_000

    print(
        f"numba {numba.__version__}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
        "(other processes slow the wall-clock figures)"
    )
    with tempfile.TemporaryDirectory() as cache:
        cold = first_call_seconds(cache)
        warm = first_call_seconds(cache)
    print(
        f"first call in a fresh interpreter: {cold:.2f} s with an empty numba cache (compiling), "
        f"{warm:.2f} s with it filled (loading); both include importing numpy and numba"
    )

    print(
        f"\nsimulated flit-hops per second, one core, {cycles} cycles, best of {repeats} "
        "(absolute: no external baseline)"
    )
    print(
        f"  {'network':38s} {'load':>6s} {'accepted':>9s} {'flit-hops':>10s} {'M/s cpu':>8s} {'M/s wall':>9s}"
    )
    wormhole = chip_network(WORMHOLE_B0)
    cases = [
        ("8x8 mesh, 4-flit packets", Network("mesh", 8, 8), 0.0, 4),
        ("8x8 mesh, 4-flit packets", Network("mesh", 8, 8), 0.35, 4),
        ("8x8 torus, 4-flit packets", Network("torus", 8, 8), 0.55, 4),
        ("8x8 one-way torus, 4-flit packets", Network("one_way_torus", 8, 8), 0.2, 4),
        ("Wormhole 10x12 NoC 0, 65-flit packets", wormhole, 0.1, 65),
    ]
    for name, net, rate, flits in cases:
        cpu, wall, hops, accepted = speed(net, rate, cycles, repeats, flits)
        rates = (
            f"{hops / cpu / 1e6:8.1f} {hops / wall / 1e6:9.1f}" if hops else f"{'-':>8s} {'-':>9s}"
        )
        print(
            f"  {name:38s} {rate:6.2f} {accepted:9.3f} {hops:10d} {rates}   ({cpu * 1e3:.0f} ms cpu)"
        )

    k = 8
    net = Network("mesh", k, k)
    bound = uniform_bound_formula("mesh", k, k)
    hops = route_table("mesh", k, k).hops.mean()
    zero_load = 2 + hops + 4 - 1  # one-cycle channels, 4-flit packets, at the mean hop count
    print(
        f"\n8x8 mesh, uniform, 4-flit packets, 8 VCs x 8 flits: bound 4/k = {bound}, "
        f"zero-load latency at {hops} mean hops = {zero_load:.2f} cycles"
    )
    print(
        f"  {'offered':>8s} {'accepted':>9s} {'/ bound':>8s} {'latency':>8s} {'p99':>6s} {'/ zero-load':>12s} {'late':>6s}"
    )
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.8, 0.85, 0.9, 1.0):
        s = simulate(net, "uniform", fraction * bound, measure=8000, drain=2000)
        print(
            f"  {s.offered:8.3f} {s.accepted:9.3f} {s.accepted / bound:8.2f} {s.latency_mean:8.1f} "
            f"{s.latency_p99:6.0f} {s.latency_mean / zero_load:11.2f}x {s.undelivered:6d}"
        )
    print(
        "  (late: measured packets not arrived 2000 cycles after the window; past saturation "
        "latency covers only the packets that arrived)"
    )

    print("\nvalidation: uniform traffic with self-traffic")
    print(
        f"  {'network':22s} {'mean hops':>10s} {'textbook':>9s} {'bound':>7s} {'saturation':>11s} {'/ bound':>8s}"
    )
    grids = [("mesh", 8, 8), ("torus", 16, 4), ("one_way_torus", 8, 8)]
    if not args.quick:
        grids += [("mesh", 10, 12), ("torus", 12, 12), ("one_way_torus", 10, 12)]
    for topology, kx, ky in grids:
        b = uniform_bound_formula(topology, kx, ky)
        sat = saturation_rate(Network(topology, kx, ky), "uniform", high=b, steps=7)
        print(
            f"  {topology + f' {kx}x{ky}':22s} {route_table(topology, kx, ky).hops.mean():10.4f} "
            f"{mean_hops_formula(topology, kx, ky):9.4f} {b:7.3f} {sat:11.3f} {sat / b:8.2f}"
        )
    for k in (4, 8):
        hot = simulate(Network("mesh", k, k), "hotspot", 0.5, drain=0)
        print(
            f"  hotspot, {k}x{k} mesh: accepted {hot.accepted:.5f} flits/cycle/node, 1/N = {1 / k**2:.5f}"
        )
    for k in (6, 8):
        traffic = np.zeros((k * k, k * k))
        traffic[np.arange(k * k), permutation("transpose", k, k)] = 1
        b = throughput_bound("mesh", k, k, traffic)
        sat = saturation_rate(Network("mesh", k, k), "transpose", high=2 / (k - 1), steps=7)
        print(
            f"  transpose, {k}x{k} mesh: saturation {sat:.4f}, 1/(k-1) = {1 / (k - 1):.4f} "
            f"(channel-load bound {b:.4f}), ratio {sat * (k - 1):.3f}"
        )

    print(
        f"\nWormhole B0 NoC 0 model ({wormhole.kx}x{wormhole.ky}, {wormhole.hop_cycles}-cycle hops, "
        f"{wormhole.inject_cycles}-cycle injection, {wormhole.vcs} VCs x {wormhole.buffer_depth} flits), "
        "uniform, 65-flit packets (2 KiB tiles)"
    )
    mean_hops = route_table("one_way_torus", wormhole.kx, wormhole.ky).hops.mean()
    print(
        f"  zero-load latency of a tile at the mean {mean_hops:.1f} hops: "
        f"{2 * wormhole.inject_cycles + mean_hops * wormhole.hop_cycles + 64:.0f} cycles; "
        f"one hop: {zero_load_latency(1, 65, 9, 5)} cycles"
    )
    for rate in (0.02, 0.08, 0.14):
        s = simulate(wormhole, "uniform", rate, packet_flits=65, measure=20_000, drain=5000)
        print(
            f"  offered {s.offered:.3f} accepted {s.accepted:.3f} flits/cycle/node, "
            f"latency {s.latency_mean:.0f} cycles (p99 {s.latency_p99:.0f}), late {s.undelivered}"
        )


if __name__ == "__main__":
    main()
