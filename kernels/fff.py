"""Fast FeedForward (FFF) hard inference, UltraFastBERT's variant: one root-to-leaf path per token.

Every node of a balanced binary tree of depth ``D`` is a GeLU neuron; a token evaluates only
the ``D + 1`` neurons on its path, choosing the right child when the pre-activation is positive
(exactly 0 goes left, child ``2i + 1``), and the output sums those neurons' activations times
their output weights. With ``D = 11`` a token touches 12 of 4,095 neurons, which is where the
speed-up over a dense layer of the same width comes from. ``K`` trees run side by side and are
summed; ``K = 0`` is an empty sum, zeros.

Two paths, chosen by batch size (thresholds measured, see ``docs/kernels-fff.md``):

* **walk** (``B < LEVEL_MIN_BATCH``): each token walks its path alone, serially, recording
  it; its output is then summed as the level path sums it.
* **level** (``B >= LEVEL_MIN_BATCH``): the tree is processed level by level
  (``fff_descent``), over blocks of up to ``LEVEL_BLOCK`` tokens (a block's ``x`` and output
  rows stay in L2) that numba's threads share (a ``prange``, which with one thread runs
  serially). Dot products run four sorted positions at a time (one row load for the four when
  they share a node): at the deep levels most tokens are alone at their node, and four
  independent row streams keep more loads in flight than one. The path (node,
  pre-activation) is recorded and the output is then summed per token, four path rows per
  pass over the output row. From ``SPLIT_MIN_BATCH`` tokens on, the blocks first descend only
  the top levels; the batch is then sorted by the subtree reached, and blocks of the sorted
  batch descend the rest, so a deep row is read by the one block whose tokens need it rather
  than by every block.

Both paths fetch the rows they will read next into L2 (``cache_hints.prefetch_row``): a core
keeps few misses in flight into L1, and random rows arrive faster this way. A big output is
written as ``fff_output`` says. The GeLU's erf is computed (``erf``) rather than called, so a
token's activations are computed in one vectorized loop. Calls enter through ``fff_entry``.

A parallel region ends at a barrier: on an oversubscribed machine (more busy threads than
cores, e.g. several processes each running numba's threads) a descheduled thread holds every
call up for a scheduler time slice. There, give each process or calling thread fewer threads
with ``numba.set_num_threads`` (thread-local) or ``NUMBA_NUM_THREADS``.

All paths compute the same thing as the reference (ties go left; NaN pre-activations, which
compare false, go left too); only the float summation order of the dot products differs, and
erf, which is within 1.1e-7 of the reference's.

The leaf variant lives in ``fff_leaf``; ``fff_leaf_infer``, its threshold
``LEAF_LEVEL_MIN_BATCH`` and the shared ``STREAM_MIN_BYTES`` are importable from here too,
where the package has always offered them.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .cache_hints import prefetch_row, store_fence
from .checks import check_arrays, check_shape
from .erf import erf
from .fff_descent import descend, sort_by_node, tree_depth
from .fff_entry import IN_2D, IN_3D, JIT, OUT_2D, Compiled, NonFinite, Paths, check_out, overlaps
from .fff_leaf import LEAF_LEVEL_MIN_BATCH, fff_leaf_infer
from .fff_output import (
    STREAM_MIN_BYTES,
    require_finite,
    row_finite,
    row_target,
    stream_out,
    stream_scratch,
)
from .threads import thread_count

__all__ = [
    "LEAF_LEVEL_MIN_BATCH", "LEVEL_BLOCK", "LEVEL_MIN_BATCH", "SPLIT_MIN_BATCH", "STREAM_MIN_BYTES",
    "fff_leaf_infer", "ultrafast_infer",
]

#: From this many tokens on, ``ultrafast_infer``'s level-by-level path, on all of numba's
#: threads, beats the serial per-token walk, whose rows are prefetched a level ahead (measured
#: on a 2-core box at BERT-base sizes: ``docs/kernels-fff.md``, "Threads").
LEVEL_MIN_BATCH = 8

#: Tokens per block of the level path: ``x`` and output rows of a block (2 x 64 x 3 KB at
#: width 768) stay in L2, and 1,024 tokens give 16 blocks to share among the threads.
LEVEL_BLOCK = 64

#: From this many tokens on, the level path descends the top levels first and then sorts the
#: batch by subtree (see ``_split_level``).
SPLIT_MIN_BATCH = 256

#: Subtrees per block after the top levels: with more, a block's tokens span fewer subtrees.
SPLIT_SUBTREES = 2

#: The walk prefetches no rows for the top levels (15 nodes, 90 KB at width 768).
_WALK_PREFETCH_LEVEL = 4

_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))

_ULTRAFAST_TYPES = (IN_2D, IN_3D, IN_2D, IN_3D)  # x, w_in, b_in, w_out


@numba.njit(**JIT, inline="always")
def _gelu(pre):  # pragma: no cover - compiled
    return np.float32(0.5) * pre * (np.float32(1.0) + erf(pre * _SQRT_HALF))


@numba.njit(**JIT, inline="always")
def _activate(path, t):  # pragma: no cover - compiled
    """Replace token ``t``'s recorded pre-activations by their GeLU, in one vectorized loop."""
    for p in range(path.shape[1]):
        path[t, p] = _gelu(path[t, p])


@numba.njit(**JIT, inline="always")
def _ultrafast_depth(x, w_in, b_in, w_out):  # pragma: no cover - compiled
    """The tree depth; ValueError (which ``_explain`` then explains) if the shapes disagree."""
    trees, nodes, d_in = w_in.shape
    depth = tree_depth(nodes)
    if (depth < 0 or x.shape[1] != d_in or b_in.shape[0] != trees or b_in.shape[1] != nodes
            or w_out.shape[0] != trees or w_out.shape[1] != nodes):
        raise ValueError("inconsistent shapes")
    return depth


@numba.njit(**JIT, inline="always")
def _check_out_fits(x, w_in, b_in, w_out, out):  # pragma: no cover - compiled
    """ValueError (which ``_explain`` then explains) unless ``out`` is ``(B, d_out)`` and
    shares no memory with the inputs (blocks write their rows of ``out`` while others still
    read ``x``)."""
    if (out.shape[0] != x.shape[0] or out.shape[1] != w_out.shape[2] or overlaps(out, x)
            or overlaps(out, w_in) or overlaps(out, b_in) or overlaps(out, w_out)):
        raise ValueError("out does not fit")


@numba.njit(**JIT, inline="always")
def _emit(w_out, path_node, path_act, out, row, t, levels):  # pragma: no cover - compiled
    """``out[row] = sum_p path_act[t, p] * w_out[k, path_node[t, p]]``, in path order, from the
    activations (``_activate``).

    Four path rows per pass over the output row (read and written once per four rows).
    """
    d_out = w_out.shape[2]
    steps = path_node.shape[1]
    for j in range(d_out):
        out[row, j] = 0.0
    p = 0
    while p < steps:
        k = p // levels
        if p + 4 <= (k + 1) * levels:
            n0 = path_node[t, p]
            n1 = path_node[t, p + 1]
            n2 = path_node[t, p + 2]
            n3 = path_node[t, p + 3]
            a0 = path_act[t, p]
            a1 = path_act[t, p + 1]
            a2 = path_act[t, p + 2]
            a3 = path_act[t, p + 3]
            for j in range(d_out):
                out[row, j] = (((out[row, j] + a0 * w_out[k, n0, j]) + a1 * w_out[k, n1, j])
                               + a2 * w_out[k, n2, j]) + a3 * w_out[k, n3, j]
            p += 4
        else:
            n0 = path_node[t, p]
            a0 = path_act[t, p]
            for j in range(d_out):
                out[row, j] += a0 * w_out[k, n0, j]
            p += 1


# --------------------------------------------------------------------------------------------
# walk: one token at a time (small batches)


@numba.njit(**JIT)
def _walk(x, w_in, b_in, w_out, path_node, path_pre, token, levels):  # pragma: no cover - compiled
    """Walk ``token`` down every tree, recording its path as ``descend`` does; its output is
    summed afterwards (``_emit``), so the chain of dependent dot products is not interleaved
    with output rows.

    While a node's dot product runs, both children's rows and the node's output row are
    fetched into L2, so the next level and the sum find them on their way; not in the top
    ``_WALK_PREFETCH_LEVEL`` levels, whose few rows every call reads and so stay in cache
    (there the prefetches would only cost time).
    """
    for k in range(w_in.shape[0]):
        node = 0
        for level in range(levels):
            if level >= _WALK_PREFETCH_LEVEL:
                prefetch_row(w_out[k, node])
            if _WALK_PREFETCH_LEVEL <= level + 1 < levels:
                prefetch_row(w_in[k, 2 * node + 1])
                prefetch_row(w_in[k, 2 * node + 2])
            pre = b_in[k, node]
            for j in range(x.shape[1]):
                pre += w_in[k, node, j] * x[token, j]
            path_node[token, k * levels + level] = node
            path_pre[token, k * levels + level] = pre
            node = 2 * node + 2 if pre > 0 else 2 * node + 1


@numba.njit(**JIT)
def _walk_rows(x, w_in, b_in, w_out, out):  # pragma: no cover - compiled
    """Small batches: walk token by token into ``out`` (with no trees, every row is an empty
    sum, 0)."""
    levels = _ultrafast_depth(x, w_in, b_in, w_out) + 1
    path_node = np.empty((x.shape[0], w_in.shape[0] * levels), np.int64)
    path_pre = np.empty((x.shape[0], w_in.shape[0] * levels), np.float32)
    for token in range(x.shape[0]):
        _walk(x, w_in, b_in, w_out, path_node, path_pre, token, levels)
        _activate(path_pre, token)
        _emit(w_out, path_node, path_pre, out, token, token, levels)
        if not row_finite(out, token):
            raise NonFinite()
    return out


# --------------------------------------------------------------------------------------------
# level by level: tokens grouped by node (large batches)


@numba.njit(**JIT, inline="always")
def _split_level(batch, blocks, levels):  # pragma: no cover - compiled
    """How many top levels to descend before the tokens are sorted by subtree.

    Enough that the batch has a few subtrees per block (``SPLIT_SUBTREES``), so after the
    sort a block's tokens share their subtrees and each deep weight row is read by one block
    instead of by every block; none under ``SPLIT_MIN_BATCH`` tokens, where it saves nothing
    measurable.
    """
    if batch < SPLIT_MIN_BATCH:
        return 0
    split = 0
    while 2**split < SPLIT_SUBTREES * blocks and split < levels - 1:
        split += 1
    return split


@numba.njit(**JIT)
def _level_block(x, w_in, b_in, w_out, out, k, tokens, nodes, first, last, path_node, path_pre):  # pragma: no cover
    """Descend the block's ``tokens`` from level ``first`` to ``last`` of tree ``k``; after the
    leaves of the last tree, sum their outputs. Returns whether those are finite."""
    levels = path_node.shape[1] // w_in.shape[0]
    descend(x, w_in, b_in, k, tokens, nodes, first, last, levels, path_node, path_pre)
    finite = True
    if last == levels and k == w_in.shape[0] - 1:
        scratch = stream_scratch(out)
        # in leaf order: neighbours share most of their path, so its output rows stay in L1;
        # the rows in which the next token's path differs are fetched into L2 meanwhile
        for i in range(tokens.shape[0]):
            t = tokens[i]
            if i + 1 < tokens.shape[0]:
                u = tokens[i + 1]
                for p in range(path_node.shape[1]):
                    if path_node[u, p] != path_node[t, p]:
                        prefetch_row(w_out[p // levels, path_node[u, p]])
            _activate(path_pre, t)
            target, row = row_target(scratch, out, t)
            _emit(w_out, path_node, path_pre, target, row, t, levels)
            finite &= row_finite(target, row)
            stream_out(scratch, out, t)
        store_fence()
    return finite


def _level_batch(x, w_in, b_in, w_out, out):  # pragma: no cover - compiled by _ULTRAFAST_LEVEL
    """Larger batches, into ``out``, in blocks of ``LEVEL_BLOCK`` tokens, or smaller so that
    each of the calling thread's numba threads gets one (with one, the ``prange`` runs
    serially). The count is read here (``threads.thread_count``), not passed in from Python.

    For each tree: the blocks descend the top ``split`` levels, the batch is sorted by the
    subtree reached, and blocks of the sorted batch descend the rest, so tokens that share
    deep rows share a block. (Both stages run the one ``prange``: numba compiles each
    ``prange`` as a function of its own, and a second doubled the compile time.)
    """
    depth = _ultrafast_depth(x, w_in, b_in, w_out)
    _check_out_fits(x, w_in, b_in, w_out, out)
    batch = x.shape[0]
    levels = depth + 1
    if w_in.shape[0] == 0:  # no trees: every row is an empty sum
        for t in range(batch):
            for j in range(out.shape[1]):
                out[t, j] = 0.0
        return out
    block = max(1, min(LEVEL_BLOCK, -(-batch // thread_count())))
    blocks = -(-batch // block)
    split = _split_level(batch, blocks, levels)
    path_node = np.empty((batch, w_in.shape[0] * levels), np.int64)
    path_pre = np.empty((batch, w_in.shape[0] * levels), np.float32)
    tokens = np.empty(batch, np.int64)  # the batch's tokens, sorted by node within each block
    nodes = np.empty(batch, np.int64)
    finite = np.empty(blocks, np.bool_)
    for k in range(w_in.shape[0]):
        for t in range(batch):
            tokens[t] = t
            nodes[t] = 0
        for first, last in ((0, split), (split, levels)):
            if first == last:
                continue  # no top levels to descend before sorting
            if first > 0:
                sort_by_node(tokens, nodes, 2**first - 1, 2**first)
            for i in numba.prange(blocks):  # blocks write disjoint rows of every array
                t0 = i * block
                t1 = min(batch, t0 + block)
                finite[i] = _level_block(
                    x, w_in, b_in, w_out, out, k, tokens[t0:t1], nodes[t0:t1], first, last, path_node, path_pre
                )
    require_finite(finite)
    return out


# --------------------------------------------------------------------------------------------
# entries


def _walk_new(x, w_in, b_in, w_out):  # pragma: no cover - compiled by _ULTRAFAST_WALK
    """The walk into a new output, allocated by numba (see ``Paths``)."""
    return _walk_rows(x, w_in, b_in, w_out, np.empty((x.shape[0], w_out.shape[2]), np.float32))


def _walk_into(x, w_in, b_in, w_out, out):  # pragma: no cover - compiled by _ULTRAFAST_WALK_INTO
    """The walk into a given ``out``, checked first."""
    _check_out_fits(x, w_in, b_in, w_out, out)
    return _walk_rows(x, w_in, b_in, w_out, out)


_ULTRAFAST_WALK = Compiled(_walk_new, _ULTRAFAST_TYPES)
_ULTRAFAST_WALK_INTO = Compiled(_walk_into, (*_ULTRAFAST_TYPES, OUT_2D))
_ULTRAFAST_LEVEL = Compiled(_level_batch, (*_ULTRAFAST_TYPES, OUT_2D), parallel=True)


def ultrafast_infer(
    x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, w_out: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """UltraFastBERT FFF hard inference, K trees side by side, outputs summed.

    Batches under ``LEVEL_MIN_BATCH`` walk token by token; larger ones go level by level
    (in parallel over token blocks).

    Args:
        x: ``(B, d_in)`` float32 tokens.
        w_in: ``(K, N, d_in)`` float32 node weights, ``N = 2**(depth + 1) - 1``; ``K = 0``
            trees are an empty sum, zeros.
        b_in: ``(K, N)`` float32 node biases.
        w_out: ``(K, N, d_out)`` float32 output weights.
        out: where to write the result, a writable C-contiguous ``(B, d_out)`` float32 array
            sharing no memory with the inputs, which every path writes directly (a caller
            filling one big output block by block, as the MoE experts do, saves an allocation
            and a copy per block). After a ``ValueError`` its contents are unspecified.

    Returns:
        ``(B, d_out)`` float32: ``out``, or a new array; the inputs are not modified.

    Raises:
        ValueError: a wrong dtype, shape or node count, naming the argument; non-finite values
            in ``x`` or in the weights on the paths taken (each reaches the output: the GeLU of
            an infinite or NaN pre-activation is infinite or NaN).
    """
    return _PATHS.run(x, w_in, b_in, w_out, out=out)


def _explain(x: object, weights: tuple, out: object) -> None:
    """Explain why ``ultrafast_infer``'s compiled entries refused the arguments (a ``ValueError``
    naming the argument)."""
    w_in, b_in, w_out = weights
    check_arrays(("x", x, 2), ("w_in", w_in, 3), ("b_in", b_in, 2), ("w_out", w_out, 3))
    trees, nodes, d_in = w_in.shape
    if nodes < 1 or (nodes + 1) & nodes:
        raise ValueError(f"w_in.shape[1] must be 2**(depth+1) - 1 nodes (got {nodes})")
    if x.shape[1] != d_in:
        raise ValueError(f"x.shape[1] must equal w_in.shape[2] = {d_in} (got {x.shape[1]})")
    check_shape("b_in", b_in, (trees, nodes))
    check_shape("w_out", w_out, (trees, nodes, "d_out"))
    if out is not None:
        check_out(out, (x.shape[0], w_out.shape[2]), x, w_in, b_in, w_out)


_PATHS = Paths(
    walk=_ULTRAFAST_WALK, walk_into=_ULTRAFAST_WALK_INTO, level=_ULTRAFAST_LEVEL, level_min_batch=LEVEL_MIN_BATCH,
    explain=_explain,
)
