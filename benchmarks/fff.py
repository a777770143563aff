"""FFF benchmark: UltraFastBERT hard inference against the dense feedforward of the same width.

BERT-base sizes: 768 in, 768 out, one tree of depth 11 (4,095 nodes, 12 evaluated per token)
against a dense 768 -> 4096 -> 768 GeLU layer in numpy (BLAS), at several batch sizes. Each
figure is the median of several calls with fresh random inputs; numpy and numba are timed in
separate groups so their thread pools do not slow each other. The theoretical ratio is
4096 / 12 = 341x.

    python benchmarks/fff.py            # batch 1, 16, 128, 1024
    python benchmarks/fff.py --quick    # batch 1 and 128, fewer repeats
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from neural_actors.kernels.fff import ultrafast_infer

D_MODEL, WIDTH, DEPTH = 768, 4096, 11


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3)))


def median_seconds(fn: Callable[[np.ndarray], object], batch: int, repeats: int, rng: np.random.Generator) -> float:
    inputs = [rng.standard_normal((batch, D_MODEL), dtype=np.float32) for _ in range(repeats + 1)]
    fn(inputs[0])  # warm-up (and compilation for numba)
    times = []
    for x in inputs[1:]:
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    batches = (1, 128) if args.quick else (1, 16, 128, 1024)
    repeats = 5 if args.quick else 21
    rng = np.random.default_rng(0)
    nodes = 2 ** (DEPTH + 1) - 1
    w_in = rng.standard_normal((1, nodes, D_MODEL), dtype=np.float32) / np.float32(28.0)
    b_in = np.zeros((1, nodes), dtype=np.float32)
    w_out = rng.standard_normal((1, nodes, D_MODEL), dtype=np.float32) / np.float32(64.0)
    w1 = rng.standard_normal((D_MODEL, WIDTH), dtype=np.float32) / np.float32(28.0)
    w2 = rng.standard_normal((WIDTH, D_MODEL), dtype=np.float32) / np.float32(64.0)

    start = time.perf_counter()
    ultrafast_infer(np.zeros((1, D_MODEL), np.float32), w_in, b_in, w_out)
    ultrafast_infer(np.zeros((128, D_MODEL), np.float32), w_in, b_in, w_out)
    print(f"FFF depth {DEPTH} vs dense {D_MODEL}->{WIDTH}->{D_MODEL} (numpy); first calls incl. compile/cache load {time.perf_counter() - start:.2f} s")
    dense = {b: median_seconds(lambda x: gelu_tanh(x @ w1) @ w2, b, repeats, rng) for b in batches}
    fff = {b: median_seconds(lambda x: ultrafast_infer(x, w_in, b_in, w_out), b, repeats, rng) for b in batches}
    for batch in batches:
        print(
            f"batch {batch:>5}: FFF {fff[batch] * 1e6:10.1f} us   dense numpy {dense[batch] * 1e6:10.1f} us   "
            f"speed-up {dense[batch] / fff[batch]:7.1f}x   (theory 341x)"
        )


if __name__ == "__main__":
    main()
