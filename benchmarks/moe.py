"""MoE layer benchmark: numba/numpy dispatch + experts against a PyTorch index_select/index_add MoE.

T = 4096 tokens of d = 768, E = 8 and 64 experts, k = 1 and 2, dropless routing with
renormalised top-k weights. Dense experts are 768 -> 3072 -> 768 ReLU feedforwards (BLAS
matmuls per expert block); FFF experts are one UltraFastBERT tree of depth 11 per expert. Every
expert has its own weights (E = 64 dense is 1.2 GB, FFF 1.6 GB); the torch reference shares
the same arrays through ``torch.from_numpy``.

Reported per configuration: tokens/s of the whole layer, the share of routing + dispatch +
combine relative to expert compute (stages timed one by one), and the speed-up over torch.
Each figure is a median; numba/numpy and torch run in separate groups (alternating by round)
so their thread pools do not compete, torch with 2 threads. The bare matmul pair of one dense
expert layer is timed too: the floor that both sides' dense experts sit on.

    python benchmarks/moe.py              # all configurations, 3 rounds x 5 calls
    python benchmarks/moe.py --quick      # E = 8 only, 2 rounds x 3 calls
    python benchmarks/moe.py --threshold  # serial vs parallel gather + combine by T
"""

from __future__ import annotations

import os

# GNU OpenMP spin-waits by default; when the cores are shared with other processes, a spinning
# thread holds a core its partner needs and every parallel region (numba's and torch's) can
# stall for a scheduler time slice (measured: 8-30 ms instead of 0.1-2 ms). Passive waiting
# does not. Must be set before numba or torch start their thread pools; both groups get it.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from neural_actors.kernels.moe import dispatch_plan, top_k_route
from neural_actors.kernels.moe_dispatch import (
    DenseExperts,
    FFFExperts,
    combine,
    dense_experts,
    fff_experts,
    gather_tokens,
    mask_experts,
    moe_forward,
    router_logits,
)

TOKENS, D_MODEL, WIDTH, DEPTH = 4096, 768, 3072, 11


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (compilation or cache load, BLAS/OpenMP thread start)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_experts(kind: str, count: int, rng: np.random.Generator) -> DenseExperts | FFFExperts:
    if kind == "dense":
        return DenseExperts(
            rng.standard_normal((count, D_MODEL, WIDTH), dtype=np.float32) / np.float32(28.0),
            rng.standard_normal((count, WIDTH), dtype=np.float32) * np.float32(0.1),
            rng.standard_normal((count, WIDTH, D_MODEL), dtype=np.float32) / np.float32(55.0),
            rng.standard_normal((count, D_MODEL), dtype=np.float32) * np.float32(0.1),
        )
    nodes = 2 ** (DEPTH + 1) - 1
    return FFFExperts(
        rng.standard_normal((count, 1, nodes, D_MODEL), dtype=np.float32) / np.float32(28.0),
        rng.standard_normal((count, 1, nodes), dtype=np.float32) * np.float32(0.1),
        rng.standard_normal((count, 1, nodes, D_MODEL), dtype=np.float32) / np.float32(8.0),
    )


def numba_stages(x: np.ndarray, router_w: np.ndarray, k: int, experts, repeats: int) -> dict[str, float]:
    """Median seconds of the whole layer and of each stage, run as moe_forward runs them."""
    count = router_w.shape[1]
    run = dense_experts if isinstance(experts, DenseExperts) else fff_experts

    def route():
        chosen, weights, kept = top_k_route(router_logits(x, router_w), k)
        weights, kept = mask_experts(chosen, weights, kept, np.zeros(count, dtype=np.bool_))
        return chosen, weights, kept

    chosen, weights, kept = route()

    def dispatch():
        order, offsets = dispatch_plan(chosen, kept, count)
        return order, offsets, gather_tokens(x, order, k)

    order, offsets, rows = dispatch()
    expert_out = run(rows, offsets, experts)
    return {
        "total": median_seconds(lambda: moe_forward(x, router_w, k, experts), repeats),
        "route": median_seconds(route, repeats),
        "dispatch": median_seconds(dispatch, repeats),
        "experts": median_seconds(lambda: run(rows, offsets, experts), repeats),
        "combine": median_seconds(lambda: combine(expert_out, order, weights, TOKENS, k), repeats),
    }


def torch_moe(x: torch.Tensor, router_w: torch.Tensor, k: int, experts: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The usual PyTorch MoE: softmax top-k, then per expert index_select, FF, index_add."""
    weights, chosen = torch.softmax(x @ router_w, dim=-1).topk(k, dim=-1)
    weights = (weights / weights.sum(dim=-1, keepdim=True)).reshape(-1)
    flat = chosen.reshape(-1)
    dense = len(experts) == 4
    out = torch.zeros(x.shape[0], experts[2].shape[-1])
    for e in range(router_w.shape[1]):
        assignment = (flat == e).nonzero().squeeze(1)
        if assignment.numel() == 0:
            continue
        token = assignment // k
        rows = x.index_select(0, token)
        if dense:
            w1, b1, w2, b2 = experts
            y = torch.addmm(b2[e], torch.relu(torch.addmm(b1[e], rows, w1[e])), w2[e])
        else:
            y = torch_fff(rows, experts[0][e], experts[1][e], experts[2][e])
        out.index_add_(0, token, y * weights[assignment, None])
    return out


def torch_fff(x: torch.Tensor, w_in: torch.Tensor, b_in: torch.Tensor, w_out: torch.Tensor) -> torch.Tensor:
    """UltraFastBERT hard inference with torch ops: one gathered row per token per level."""
    y = torch.zeros(x.shape[0], w_out.shape[-1])
    for tree in range(w_in.shape[0]):
        node = torch.zeros(x.shape[0], dtype=torch.long)
        for _ in range(DEPTH + 1):
            pre = (x * w_in[tree].index_select(0, node)).sum(dim=1) + b_in[tree].index_select(0, node)
            y += torch.nn.functional.gelu(pre)[:, None] * w_out[tree].index_select(0, node)
            node = 2 * node + 1 + (pre > 0).long()
    return y


def threshold_table(repeats: int) -> None:
    """Serial vs parallel gather + combine (k = 2, d = 768) by token count."""
    rng = np.random.default_rng(1)
    print(f"T       gather+combine serial   parallel   (k = 2, d = 768, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']})")
    for tokens in (16, 64, 128, 256, 512, 1024, 4096):
        x = rng.standard_normal((tokens, D_MODEL), dtype=np.float32)
        order = rng.permutation(tokens * 2)
        weights = rng.random((tokens, 2), dtype=np.float32)
        times = {}
        for parallel in (False, True):
            def step(x=x, order=order, weights=weights, tokens=tokens, parallel=parallel):
                rows = gather_tokens(x, order, 2, parallel=parallel)
                combine(rows, order, weights, tokens, 2, parallel=parallel)
            times[parallel] = median_seconds(step, repeats * 5)
        print(f"{tokens:<7} {times[False] * 1e6:12.1f} us      {times[True] * 1e6:9.1f} us")


def gemm_floor(repeats: int, rounds: int) -> tuple[float, float]:
    """Median seconds of the bare 4096x768 @ 768x3072 @ 3072x768 matmul pair, numpy and torch:
    the floor of dense expert compute at k = 1."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((TOKENS, D_MODEL), dtype=np.float32)
    w1 = rng.standard_normal((D_MODEL, WIDTH), dtype=np.float32)
    w2 = rng.standard_normal((WIDTH, D_MODEL), dtype=np.float32)
    tx, tw1, tw2 = torch.from_numpy(x), torch.from_numpy(w1), torch.from_numpy(w2)
    numpy_times, torch_times = [], []
    for _ in range(rounds):
        numpy_times.append(median_seconds(lambda: (x @ w1) @ w2, repeats))
        torch_times.append(median_seconds(lambda: (tx @ tw1) @ tw2, repeats))
    return statistics.median(numpy_times), statistics.median(torch_times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="E = 8 only, fewer repeats")
    parser.add_argument("--threshold", action="store_true", help="measure the serial/parallel threshold")
    args = parser.parse_args()
    repeats, rounds = (3, 2) if args.quick else (5, 3)
    torch.set_num_threads(2)
    if args.threshold:
        threshold_table(repeats)
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((TOKENS, D_MODEL), dtype=np.float32)
    results = {}
    for kind in ("dense", "fff"):
        for count in (8,) if args.quick else (8, 64):
            experts = make_experts(kind, count, rng)
            router_w = rng.standard_normal((D_MODEL, count), dtype=np.float32) / np.float32(28.0)
            torch_experts = tuple(torch.from_numpy(a) for a in experts)
            tx, trouter = torch.from_numpy(x), torch.from_numpy(router_w)
            for k in (1, 2):
                # Groups alternate round by round, so drifting load from other processes on the
                # shared machine hits both sides alike; each side's figure is the median of its
                # round medians.
                mine, reference = [], []
                for _ in range(rounds):
                    mine.append(numba_stages(x, router_w, k, experts, repeats))
                    with torch.inference_mode():
                        reference.append(median_seconds(
                            lambda tx=tx, trouter=trouter, k=k, ex=torch_experts: torch_moe(tx, trouter, k, ex),
                            repeats,
                        ))
                ours = moe_forward(x, router_w, k, experts)
                with torch.inference_mode():
                    theirs = torch_moe(tx, trouter, k, torch_experts).numpy()
                error = float(np.abs(ours - theirs).max() / np.abs(theirs).max())
                stages = {name: statistics.median(m[name] for m in mine) for name in mine[0]}
                results[kind, count, k] = (stages, statistics.median(reference), error)
    floor_numpy, floor_torch = gemm_floor(repeats, rounds)

    print(f"MoE layer, T = {TOKENS}, d = {D_MODEL}; dense {D_MODEL}->{WIDTH}->{D_MODEL} ReLU, "
          f"FFF depth {DEPTH} x 1 tree; every expert has its own weights; medians of {rounds} rounds "
          f"x {repeats} calls; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, torch threads {torch.get_num_threads()}")
    print("| experts | E | k | tokens/s | route+dispatch+combine / experts | torch tokens/s | speed-up | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    for (kind, count, k), (stages, reference, error) in results.items():
        around = stages["route"] + stages["dispatch"] + stages["combine"]
        print(
            f"| {kind} | {count} | {k} | {TOKENS / stages['total']:,.0f} | {around / stages['experts']:.1%} "
            f"({around * 1e3:.1f} / {stages['experts'] * 1e3:.1f} ms) "
            f"| {TOKENS / reference:,.0f} | {reference / stages['total']:.2f}x | {error:.1e} |"
        )
    print(f"GEMM floor (bare {TOKENS}x{D_MODEL} @ {D_MODEL}x{WIDTH} @ {WIDTH}x{D_MODEL}): "
          f"numpy/OpenBLAS {floor_numpy * 1e3:.1f} ms, torch/MKL {floor_torch * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
