"""FFF benchmark: our numba kernels against dense feedforwards and a PyTorch FFF, at BERT-base sizes.

* UltraFastBERT variant: 768 in, 768 out, one tree of depth 11 (4,095 GeLU neurons, 12
  evaluated per token); theoretical ratio against the dense layer 4096 / 12 = 341x.
* Leaf variant of about the same parameter count: depth 6, 64 leaves of width 64 (4,096 leaf
  neurons, 6.39M parameters against the dense layer's 6.30M); a token evaluates 6 node
  classifiers and one leaf, theoretical ratio 2 * 4096 / (6 + 2 * 64) = 61x.
* Dense baseline: 768 -> 4096 -> 768 with GeLU, in numpy (BLAS; tanh-form GeLU, numpy has no
  erf) and in PyTorch (two ``nn.Linear`` and ``nn.GELU``); "best dense" is the faster of the two.
* PyTorch FFF: UltraFastBERT inference written the way its PyTorch benchmark does it: per
  level, gather each token's node row with ``index_select`` and take the dot products with
  ``bmm``; then gather the path's output rows and contract them with the activations (``bmm``).

All numpy weights (ours and the dense numpy layer's) start on a cache line, as torch allocates
its tensors, and those of 4 MB or more on a 2 MB huge page, as the package's weight loaders
return arrays (``kernels.aligned``); torch's tensors are left as torch allocates them. Each time
is the median of several calls, each on fresh random inputs. PyTorch, numpy and
numba are timed in separate groups (one after the other), so their thread pools do not slow
each other on a small machine; PyTorch runs with ``torch.set_num_threads(2)``. The groups run
in several rounds; a ratio is taken within each round and its median over the rounds is
reported with its range, so load from other processes that drifts during the run moves both
sides of a ratio alike. PyTorch is optional: without it, its columns are skipped.

    python benchmarks/fff.py            # batch 1, 16, 128, 1024; 3 rounds
    python benchmarks/fff.py --quick    # batch 1 and 128, fewer repeats, 2 rounds
    python benchmarks/fff.py --memory   # how much of a numba FFF call waits on memory
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numba
import numpy as np
from neural_actors.kernels.aligned import aligned
from neural_actors.kernels.cache_hints import prefetch_row
from neural_actors.kernels.fff import (
    LEVEL_MIN_BATCH,
    fff_leaf_infer,
    ultrafast_infer,
)
from neural_actors.kernels.threads import thread_count

try:
    import torch
except ImportError:  # torch is an optional dependency
    torch = None

D_MODEL, WIDTH, DEPTH = 768, 4096, 11
LEAF_DEPTH, LEAF_WIDTH = 6, 64
THEORY = WIDTH / (DEPTH + 1)
LEAF_THEORY = 2 * WIDTH / (LEAF_DEPTH + 2 * LEAF_WIDTH)

#: The issue's targets for the UltraFastBERT kernel: speed-up over dense PyTorch per batch, and
#: over the PyTorch FFF at every batch.
DENSE_TORCH_TARGET = {1: 300.0, 16: 100.0, 128: 80.0, 1024: 60.0}
TORCH_FFF_TARGET = 10.0


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.float32(0.7978845608) * (x + np.float32(0.044715) * x**3)))


def median_seconds(fn: Callable[[np.ndarray], object], batch: int, repeats: int, seed: int) -> float:
    """Median wall time of ``fn(x)`` over ``repeats`` calls, each with a fresh ``x`` (not timed)."""
    rng = np.random.default_rng(seed)
    fn(rng.standard_normal((batch, D_MODEL), dtype=np.float32))  # warm-up
    times = []
    for _ in range(repeats):
        x = rng.standard_normal((batch, D_MODEL), dtype=np.float32)
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def memory_report(batches: tuple[int, ...], weights: tuple[np.ndarray, ...], quick: bool) -> None:
    """Time the numba FFF three ways: on a fresh input (its deep rows come from memory), on the
    same input again (its rows in cache, as far as they fit), and with every token on one path
    (12 rows in all: about the arithmetic alone); and the time to read a fresh input's rows
    alone, on the same threads with the same prefetching but no arithmetic: the memory part of
    a fresh call. Calls alternate, so drift moves all four."""
    rng = np.random.default_rng(2)
    w_in, b_in, w_out = weights
    print("numba FFF, median time per call: fresh input / same input again / every token on one path"
          " / a fresh input's rows alone")
    for batch in batches:
        times: dict[str, list[float]] = {"fresh": [], "again": [], "one path": [], "rows": []}
        for _ in range(repeats_for(batch, quick)):
            x = rng.standard_normal((batch, D_MODEL), dtype=np.float32)
            same = np.repeat(rng.standard_normal((1, D_MODEL), dtype=np.float32), batch, axis=0)
            paths = leaf_ordered_paths(rng.standard_normal((batch, D_MODEL), dtype=np.float32), w_in[0], b_in[0])
            ultrafast_infer(same, *weights)  # its 12 rows into cache (not those of x)
            for name, xs in (("fresh", x), ("again", x), ("one path", same)):
                start = time.perf_counter()
                ultrafast_infer(xs, *weights)
                times[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            read_path_rows(w_in[0], w_out[0], paths)
            times["rows"].append(time.perf_counter() - start)
        print(f"  batch {batch:>5}  " + " / ".join(_fmt(statistics.median(t)) for t in times.values()))


def leaf_ordered_paths(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray) -> np.ndarray:
    """``(batch, levels)`` nodes of each token's path (ties go left), sorted by leaf."""
    levels = (w_in.shape[0] + 1).bit_length() - 1
    paths = np.empty((len(x), levels), np.int64)
    node = np.zeros(len(x), np.int64)
    for level in range(levels):
        paths[:, level] = node
        node = 2 * node + 1 + (np.einsum("bd,bd->b", x, w_in[node]) + b_in[node] > 0)
    return paths[np.argsort(paths[:, -1], kind="stable")]


@numba.njit(parallel=True, fastmath={"reassoc", "nsz"})
def read_path_rows(w_in: np.ndarray, w_out: np.ndarray, paths: np.ndarray) -> float:
    """Read every input and output row of every path, one share of the tokens per thread,
    prefetching the next token's rows as the kernel does; return their sum so no read is
    dropped. The thread count is read in compiled code, as the kernel reads it."""
    batch = paths.shape[0]
    threads = thread_count()
    share = -(-batch // threads)
    sums = np.zeros(threads, np.float32)
    for i in numba.prange(threads):
        total = np.float32(0.0)
        stop = min(batch, (i + 1) * share)
        for t in range(i * share, stop):
            if t + 1 < stop:
                for level in range(paths.shape[1]):
                    if paths[t + 1, level] != paths[t, level]:
                        prefetch_row(w_in[paths[t + 1, level]])
                        prefetch_row(w_out[paths[t + 1, level]])
            for level in range(paths.shape[1]):
                row_in = w_in[paths[t, level]]
                row_out = w_out[paths[t, level]]
                for j in range(row_in.shape[0]):
                    total += row_in[j] + row_out[j]
        sums[i] = total
    return sums.sum()


def repeats_for(batch: int, quick: bool, slow: bool = False) -> int:
    """More calls for the cheap cases; dense layers at large batches take 0.1-0.4 s per call."""
    if quick:
        return 5 if slow and batch >= 128 else 11
    if slow:
        return {1: 51, 16: 31, 128: 11}.get(batch, 7)
    return {1: 301, 16: 101, 128: 51}.get(batch, 21)


def make_weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    nodes = 2 ** (DEPTH + 1) - 1
    leaves = 2**LEAF_DEPTH

    def normal(*shape: int, scale: float) -> np.ndarray:
        return aligned(rng.standard_normal(shape, dtype=np.float32) * np.float32(scale))

    return {
        "w_in": normal(1, nodes, D_MODEL, scale=1 / 28), "b_in": normal(1, nodes, scale=0.1),
        "w_out": normal(1, nodes, D_MODEL, scale=1 / 64),
        "node_w": normal(leaves - 1, D_MODEL, scale=1 / 28), "node_b": normal(leaves - 1, scale=0.1),
        "leaf_w1": normal(leaves, D_MODEL, LEAF_WIDTH, scale=1 / 28), "leaf_b1": normal(leaves, LEAF_WIDTH, scale=0.1),
        "leaf_w2": normal(leaves, LEAF_WIDTH, D_MODEL, scale=1 / 64), "leaf_b2": normal(leaves, D_MODEL, scale=0.1),
        "w1": normal(D_MODEL, WIDTH, scale=1 / 28), "b1": normal(WIDTH, scale=0.1),
        "w2": normal(WIDTH, D_MODEL, scale=1 / 64), "b2": normal(D_MODEL, scale=0.1),
    }


def torch_functions(w: dict[str, np.ndarray]) -> dict[str, Callable[[np.ndarray], object]]:
    """Dense feedforward and UltraFastBERT-style FFF in PyTorch, on the same weights."""
    torch.set_num_threads(2)
    dense = torch.nn.Sequential(torch.nn.Linear(D_MODEL, WIDTH), torch.nn.GELU(), torch.nn.Linear(WIDTH, D_MODEL)).eval()
    with torch.no_grad():
        dense[0].weight.copy_(torch.from_numpy(w["w1"].T.copy()))
        dense[0].bias.copy_(torch.from_numpy(w["b1"]))
        dense[2].weight.copy_(torch.from_numpy(w["w2"].T.copy()))
        dense[2].bias.copy_(torch.from_numpy(w["b2"]))
    w_in, b_in, w_out = (torch.from_numpy(w[name][0]) for name in ("w_in", "b_in", "w_out"))

    def torch_fff(x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        node = torch.zeros(batch, dtype=torch.long)
        path = torch.empty((batch, DEPTH + 1), dtype=torch.long)
        pre = torch.empty((batch, DEPTH + 1), dtype=torch.float32)
        for level in range(DEPTH + 1):
            path[:, level] = node
            rows = w_in.index_select(0, node)  # (B, d_in)
            logit = torch.bmm(x.unsqueeze(1), rows.unsqueeze(-1)).view(batch) + b_in.index_select(0, node)
            pre[:, level] = logit
            node = 2 * node + 1 + (logit > 0).long()  # exactly 0 goes left
        rows_out = w_out.index_select(0, path.view(-1)).view(batch, DEPTH + 1, -1)  # (B, D+1, d_out)
        return torch.bmm(torch.nn.functional.gelu(pre).unsqueeze(1), rows_out).view(batch, -1)

    def run_dense(x: np.ndarray) -> object:
        with torch.inference_mode():
            return dense(torch.from_numpy(x))

    def run_fff(x: np.ndarray) -> object:
        with torch.inference_mode():
            return torch_fff(torch.from_numpy(x))

    return {"dense torch": run_dense, "torch FFF": run_fff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 1 and 128, fewer repeats, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of all groups (default 3, --quick 2)")
    parser.add_argument("--memory", action="store_true", help="only time the numba FFF on fresh, cached and one-path inputs, and a fresh input's rows alone")
    args = parser.parse_args()
    if args.rounds is None:
        args.rounds = 2 if args.quick else 3
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    batches = (1, 128) if args.quick else (1, 16, 128, 1024)
    w = make_weights(np.random.default_rng(0))
    ufb = (w["w_in"], w["b_in"], w["w_out"])
    if args.memory:
        memory_report(batches, ufb, args.quick)
        return
    leaf = tuple(w[name] for name in ("node_w", "node_b", "leaf_w1", "leaf_b1", "leaf_w2", "leaf_b2"))

    def numba_fff(x: np.ndarray) -> object:
        return ultrafast_infer(x, *ufb)

    def numba_leaf(x: np.ndarray) -> object:
        return fff_leaf_infer(x, *leaf)

    def numpy_dense(x: np.ndarray) -> object:
        return gelu_tanh(x @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"]

    # the first call of each path compiles it, or loads it from numba's on-disk cache
    start = time.perf_counter()
    for batch in sorted({1, LEVEL_MIN_BATCH}):
        x = np.zeros((batch, D_MODEL), np.float32)
        ultrafast_infer(x, *ufb)
        fff_leaf_infer(x, *leaf)
    first_call = time.perf_counter() - start
    print(
        f"FFF depth {DEPTH} ({2 ** (DEPTH + 1) - 1} nodes, {D_MODEL} -> {D_MODEL}) and leaf FFF depth {LEAF_DEPTH} "
        f"x width {LEAF_WIDTH} vs dense {D_MODEL} -> {WIDTH} -> {D_MODEL} GeLU"
    )
    print(
        f"numba {numba.__version__}, threading layer {numba.threading_layer()}, {numba.get_num_threads()} threads; "
        f"first calls of all kernel paths (compile or cache load): {first_call:.2f} s"
    )
    params = {
        "UltraFastBERT FFF": sum(w[n].size for n in ("w_in", "b_in", "w_out")),
        "leaf FFF": sum(a.size for a in leaf),
        "dense": sum(w[n].size for n in ("w1", "b1", "w2", "b2")),
    }
    print("parameters: " + ", ".join(f"{name} {count / 1e6:.2f}M" for name, count in params.items()))
    print(f"theoretical ratio vs dense: FFF {THEORY:.0f}x, leaf FFF {LEAF_THEORY:.0f}x")
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs (other processes skew the figures)")

    # every round times each group once (torch, then numpy, then numba); figures are medians
    # over the rounds of per-round medians, and each ratio is taken within a round before its
    # median, so drifting load from other processes moves both sides of a ratio alike
    rounds: list[dict[str, dict[int, float]]] = []
    if torch is None:
        print("torch is not installed: the dense torch, torch FFF and best-dense-over-torch columns are skipped")
    else:
        functions = torch_functions(w)
        x = np.random.default_rng(1).standard_normal((64, D_MODEL), dtype=np.float32)
        error = np.abs(functions["torch FFF"](x).numpy() - numba_fff(x)).max()
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; torch FFF vs numba FFF max |diff| {error:.1e}")
    for round_ in range(args.rounds):
        times: dict[str, dict[int, float]] = {}
        if torch is not None:
            for name, fn in functions.items():  # torch group
                slow = name == "dense torch"
                times[name] = {b: median_seconds(fn, b, repeats_for(b, args.quick, slow), seed=round_ * 7919 + b) for b in batches}
        times["dense numpy"] = {
            b: median_seconds(numpy_dense, b, repeats_for(b, args.quick, True), seed=round_ * 7919 + b) for b in batches
        }
        for name, fn in (("numba FFF", numba_fff), ("numba leaf", numba_leaf)):
            times[name] = {b: median_seconds(fn, b, repeats_for(b, args.quick), seed=round_ * 7919 + b) for b in batches}
        rounds.append(times)
    times = {name: {b: statistics.median(r[name][b] for r in rounds) for b in batches} for name in rounds[0]}

    def ratio(numerator: Callable[[dict[str, dict[int, float]], int], float], name: str, batch: int) -> tuple[float, float, float]:
        """Median, lowest and highest over the rounds of ``numerator / times[name]``."""
        values = [numerator(r, batch) / r[name][batch] for r in rounds]
        return statistics.median(values), min(values), max(values)

    dense_names = [name for name in ("dense numpy", "dense torch") if name in times]

    def best_dense(r: dict[str, dict[int, float]], batch: int) -> float:
        return min(r[name][batch] for name in dense_names)

    def column(name: str) -> Callable[[dict[str, dict[int, float]], int], float]:
        return lambda r, batch: r[name][batch]

    print()
    columns = [name for name in ("numba FFF", "numba leaf", "torch FFF", "dense torch", "dense numpy") if name in times]
    print(f"median time per call, over {args.rounds} rounds" + "".join(f"{name:>14}" for name in columns))
    for batch in batches:
        print(f"  batch {batch:>5}                  " + "".join(f"{_fmt(times[name][batch]):>14}" for name in columns))
    print()
    print(f"speed-up of numba FFF (theory {THEORY:.0f}x vs dense): median over the rounds [lowest-highest], "
          "target in brackets, * = met by the median")
    header = "  batch        vs dense torch            vs torch FFF     vs best dense   vs dense numpy   leaf vs best dense"
    print(header)
    met = []
    for batch in batches:
        cells = []
        if torch is not None:
            for name, target in (("dense torch", DENSE_TORCH_TARGET[batch]), ("torch FFF", TORCH_FFF_TARGET)):
                mid, low, high = ratio(column(name), "numba FFF", batch)
                met.append(mid >= target)
                cells.append(f"{_times(mid):>5}x [{_times(low)}-{_times(high)}] ({target:.0f}){'*' if mid >= target else ' '}")
        else:
            cells += ["             skipped", "           skipped"]
        cells.append(f"{ratio(best_dense, 'numba FFF', batch)[0]:12.0f}x")
        cells.append(f"{ratio(column('dense numpy'), 'numba FFF', batch)[0]:14.0f}x")
        cells.append(f"{ratio(best_dense, 'numba leaf', batch)[0]:16.0f}x (theory {LEAF_THEORY:.0f}x)")
        print(f"  {batch:>5}  " + "   ".join(cells))
    if met:
        print(f"\ntargets met: {sum(met)} of {len(met)}")


def _times(ratio: float) -> str:
    """A speed-up, with a decimal below 20x, so that 9.96x against a target of 10x does not
    print as 10x."""
    return f"{ratio:.1f}" if ratio < 20 else f"{ratio:.0f}"


def _fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


if __name__ == "__main__":
    main()
