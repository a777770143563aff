"""Random inputs for the FFF kernels' tests: trees, leaves, small integers, batch sizes around
every threshold."""

import numpy as np
from neural_actors.kernels.fff import LEVEL_BLOCK, LEVEL_MIN_BATCH, SPLIT_MIN_BATCH
from neural_actors.kernels.fff_leaf import LEAF_LEVEL_MIN_BATCH
from neural_actors.kernels.fff_output import STREAM_MIN_BYTES


def random_tree(rng: np.random.Generator, batch: int, depth: int, trees: int, d_in: int, d_out: int) -> tuple:
    nodes = 2 ** (depth + 1) - 1
    return (
        rng.standard_normal((batch, d_in), dtype=np.float32),
        rng.standard_normal((trees, nodes, d_in), dtype=np.float32),
        rng.standard_normal((trees, nodes), dtype=np.float32),
        rng.standard_normal((trees, nodes, d_out), dtype=np.float32),
    )


def random_leaves(
    rng: np.random.Generator, batch: int, depth: int, width: int, d_in: int = 10, d_out: int = 4
) -> tuple:
    leaves = 2**depth
    return (
        rng.standard_normal((batch, d_in), dtype=np.float32),
        rng.standard_normal((leaves - 1, d_in), dtype=np.float32),
        rng.standard_normal((leaves - 1,), dtype=np.float32),
        rng.standard_normal((leaves, d_in, width), dtype=np.float32),
        rng.standard_normal((leaves, width), dtype=np.float32),
        rng.standard_normal((leaves, width, d_out), dtype=np.float32),
        rng.standard_normal((leaves, d_out), dtype=np.float32),
    )


THRESHOLD_BATCHES = sorted({
    1, LEVEL_MIN_BATCH - 1, LEVEL_MIN_BATCH, LEVEL_MIN_BATCH + 1, 2 * LEVEL_MIN_BATCH + 1,
    LEAF_LEVEL_MIN_BATCH - 1, LEAF_LEVEL_MIN_BATCH, LEAF_LEVEL_MIN_BATCH + 1,
    LEVEL_BLOCK - 1, LEVEL_BLOCK, LEVEL_BLOCK + 1, 2 * LEVEL_BLOCK + 5,
    SPLIT_MIN_BATCH - 1, SPLIT_MIN_BATCH, 4 * SPLIT_MIN_BATCH + 3,
} - {0})


def small_ints(rng: np.random.Generator, shape: tuple, low: int = -1, high: int = 1) -> np.ndarray:
    """Small integers as float32: every dot product is exact in any order, and many are 0."""
    return rng.integers(low, high + 1, size=shape).astype(np.float32)


#: A batch whose output, at width 768, is just over ``STREAM_MIN_BYTES``: written streaming.
STREAMED_BATCH = STREAM_MIN_BYTES // (4 * 768) + 3
