"""The fused FFF MoE layer (``moe_fff_forward``) against ``moe_forward`` with the same FFF experts.

Sizes as ``benchmarks/moe.py``: T = 4096 tokens of d = 768, E = 8 and 64 experts, k = 1 and 2,
one UltraFastBERT tree of depth 11 per expert, dropless routing with renormalised weights.
The two layers take turns call by call (ABAB, the order rotating by round) and each figure is
a median. Reported per configuration:

* both layers' time and the speed-up (``moe_forward`` / fused);
* ``moe_forward``'s share outside expert compute, ``(route + dispatch + combine) / layer``,
  its stages timed one by one as ``benchmarks/moe.py`` times them;
* the fused layer's share outside expert compute, ``route / layer``: its only other stage,
  since dispatch and combine are gone (the walk reads tokens in place and sums each weighted
  output straight into its row); the router GEMM's part of that is shown too;
* seconds of CPU time as well as wall time (all threads; on a shared machine CPU time is the
  steadier figure);
* what the first call of each fused entry took (compiling, or loading numba's cache).

    python benchmarks/moe_fff.py            # E = 8 and 64, 5 rounds
    python benchmarks/moe_fff.py --quick    # E = 8 only, 3 rounds
    python benchmarks/moe_fff.py --threads 1
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # see benchmarks/moe.py

import argparse
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np
from neural_actors.kernels import moe_fff
from neural_actors.kernels.moe import dispatch_plan, top_k_route
from neural_actors.kernels.moe_dispatch import (
    FFFExperts,
    combine,
    fff_experts,
    gather_tokens,
    mask_experts,
    moe_forward,
    router_logits,
)

TOKENS, D_MODEL, DEPTH = 4096, 768, 11


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def medians(sides: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, float]]:
    """Each side once per round, the order rotating by round; median wall and CPU seconds."""
    names = list(sides)
    for fn in sides.values():
        fn()  # warm: compiled or loaded, caches and pages touched
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(timed(sides[name]))
    return {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for name, r in results.items()}


def experts_of(count: int, rng: np.random.Generator) -> FFFExperts:
    nodes = 2 ** (DEPTH + 1) - 1
    return FFFExperts(
        rng.standard_normal((count, 1, nodes, D_MODEL), dtype=np.float32) / np.float32(28.0),
        rng.standard_normal((count, 1, nodes), dtype=np.float32) * np.float32(0.1),
        rng.standard_normal((count, 1, nodes, D_MODEL), dtype=np.float32) / np.float32(8.0),
    )


def configuration(x: np.ndarray, count: int, k: int, rounds: int, rng: np.random.Generator) -> dict[str, float]:
    experts = experts_of(count, rng)
    router_w = rng.standard_normal((D_MODEL, count), dtype=np.float32) / np.float32(28.0)
    nobody = np.zeros(count, dtype=np.bool_)
    chosen, weights, kept = top_k_route(router_logits(x, router_w), k)
    weights, kept = mask_experts(chosen, weights, kept, nobody)
    order, offsets = dispatch_plan(chosen, kept, count)
    rows = gather_tokens(x, order, k)
    expert_out = fff_experts(rows, offsets, experts)
    router_t = np.ascontiguousarray(router_w.T)
    scratch = (np.empty((TOKENS, count), np.float32), np.empty((TOKENS, k), np.int32),
               np.empty((TOKENS, k), np.float32), np.empty((TOKENS, k), np.bool_))
    threads = TOKENS >= 256

    def fused_route(route: bool = True) -> None:
        moe_fff._entry("route", threads)(x, router_t, k, nobody, True, route, *scratch)

    sides = {
        "moe_forward": lambda: moe_forward(x, router_w, k, experts),
        "fused": lambda: moe_fff.moe_fff_forward(x, router_w, k, experts),
        "old route": lambda: mask_experts(*top_k_route(router_logits(x, router_w), k), nobody),
        "old dispatch": lambda: gather_tokens(x, dispatch_plan(chosen, kept, count)[0], k),
        "old experts": lambda: fff_experts(rows, offsets, experts),
        "old combine": lambda: combine(expert_out, order, weights, TOKENS, k),
        "fused route": fused_route,
        "fused logits": lambda: fused_route(False),
        "fused walk": lambda: moe_fff.fff_mixture(x, chosen, weights, kept, experts),
    }
    times = medians(sides, rounds)
    figures: dict[str, float] = {}
    for clock, index in (("wall", 0), ("cpu", 1)):
        t = {name: value[index] for name, value in times.items()}
        outside = t["old route"] + t["old dispatch"] + t["old combine"]
        figures[f"{clock} old"] = t["moe_forward"]
        figures[f"{clock} fused"] = t["fused"]
        figures[f"{clock} speedup"] = t["moe_forward"] / t["fused"]
        figures[f"{clock} old share"] = outside / (outside + t["old experts"])
        figures[f"{clock} fused share"] = t["fused route"] / (t["fused route"] + t["fused walk"])
        figures[f"{clock} gemm share"] = t["fused logits"] / (t["fused route"] + t["fused walk"])
    ours, theirs = moe_fff.moe_fff_forward(x, router_w, k, experts), moe_forward(x, router_w, k, experts)
    figures["error"] = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="E = 8 only, 3 rounds")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    args = parser.parse_args()
    if args.threads is not None:
        numba.set_num_threads(args.threads)
    rounds = 3 if args.quick else 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((TOKENS, D_MODEL), dtype=np.float32)
    rows = {}
    for count in (8,) if args.quick else (8, 64):
        for k in (1, 2):
            rows[count, k] = configuration(x, count, k, rounds, rng)
    print(f"FFF MoE layer, T = {TOKENS}, d = {D_MODEL}, one depth-{DEPTH} tree per expert, dropless; "
          f"numba threads {numba.get_num_threads()}; medians of {rounds} rounds, ABAB")
    print("| E | k | clock | moe_forward ms | fused ms | speed-up | outside experts: moe_forward | fused "
          "(router GEMM) | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (count, k), f in rows.items():
        for clock in ("wall", "cpu"):
            print(f"| {count} | {k} | {clock} | {f[f'{clock} old'] * 1e3:.1f} | {f[f'{clock} fused'] * 1e3:.1f} "
                  f"| {f[f'{clock} speedup']:.2f}x | {f[f'{clock} old share']:.1%} | {f[f'{clock} fused share']:.1%} "
                  f"({f[f'{clock} gemm share']:.1%}) | {f['error']:.1e} |")
    compiled = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in sorted(moe_fff.compile_seconds().items()))
    print(f"first call of each fused entry (compile, or load from numba's cache): {compiled}")


if __name__ == "__main__":
    main()
