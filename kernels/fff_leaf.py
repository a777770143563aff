"""Fast FeedForward (FFF) hard inference with leaves: node classifiers route a token to one leaf.

``2**D - 1`` single-neuron node classifiers route each token down ``D`` levels to one of
``2**D`` leaves; the leaf is a ReLU feedforward of width ``l``. The paths are those of
``fff.ultrafast_infer``: a per-token walk for small batches, else the level-by-level descent of
``fff_descent`` in parallel over chunks of tokens, from ``LEAF_LEVEL_MIN_BATCH`` tokens (its
leaves' arithmetic gains more from threads than UltraFastBERT's neurons do). After the descent
the batch is sorted by leaf and each thread runs a share of it in leaf order, so a leaf's
weights are read once per call.
"""

from __future__ import annotations

import numba
import numpy as np

from .cache_hints import store_fence
from .checks import check_leaf
from .fff_descent import descend, sort_by_node, tree_depth
from .fff_entry import IN_1D, IN_2D, IN_3D, JIT, OUT_2D, Compiled, NonFinite, Paths
from .fff_output import require_finite, row_finite, row_target, stream_out, stream_scratch
from .threads import thread_count

__all__ = ["LEAF_LEVEL_MIN_BATCH", "fff_leaf_infer"]

#: From this many tokens on, ``fff_leaf_infer``'s level path, on all of numba's threads, beats
#: the serial per-token walk (measured: ``docs/kernels-fff.md``, "Threads").
LEAF_LEVEL_MIN_BATCH = 4

_LEAF_TYPES = (IN_2D, IN_2D, IN_1D, IN_3D, IN_2D, IN_3D, IN_2D)  # x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2


@numba.njit(**JIT, inline="always")
def _leaf_forward(x, w1, b1, w2, b2, out, row, hidden, active, token, leaf):  # pragma: no cover - compiled
    """``out[row] = relu(x[token] @ w1[leaf] + b1[leaf]) @ w2[leaf] + b2[leaf]``.

    Loop order keeps every inner loop contiguous: ``w1[leaf, j, :]`` is a row over the leaf
    width, ``w2[leaf, h, :]`` a row over the output. Four rows per pass over the short
    ``hidden`` vector and over the output row, so each is loaded and stored a quarter as often.
    """
    width = w1.shape[2]
    d_in = x.shape[1]
    d_out = w2.shape[2]
    for h in range(width):
        hidden[h] = b1[leaf, h]
    j = 0
    while j + 4 <= d_in:
        x0 = x[token, j]
        x1 = x[token, j + 1]
        x2 = x[token, j + 2]
        x3 = x[token, j + 3]
        for h in range(width):
            hidden[h] = (((hidden[h] + x0 * w1[leaf, j, h]) + x1 * w1[leaf, j + 1, h])
                         + x2 * w1[leaf, j + 2, h]) + x3 * w1[leaf, j + 3, h]
        j += 4
    while j < d_in:
        xj = x[token, j]
        for h in range(width):
            hidden[h] += xj * w1[leaf, j, h]
        j += 1
    count = 0
    for h in range(width):
        # ReLU, the reference implementation's default leaf activation; NaN is kept, as
        # np.maximum keeps it, so the finite check sees it
        if not hidden[h] <= 0:
            active[count] = h
            count += 1
    for j in range(d_out):
        out[row, j] = b2[leaf, j]
    i = 0
    while i + 4 <= count:
        h0 = active[i]
        h1 = active[i + 1]
        h2 = active[i + 2]
        h3 = active[i + 3]
        a0 = hidden[h0]
        a1 = hidden[h1]
        a2 = hidden[h2]
        a3 = hidden[h3]
        for j in range(d_out):
            out[row, j] = (((out[row, j] + a0 * w2[leaf, h0, j]) + a1 * w2[leaf, h1, j])
                           + a2 * w2[leaf, h2, j]) + a3 * w2[leaf, h3, j]
        i += 4
    while i < count:
        h0 = active[i]
        a0 = hidden[h0]
        for j in range(d_out):
            out[row, j] += a0 * w2[leaf, h0, j]
        i += 1


@numba.njit(**JIT)
def _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, hidden, active, token, depth):  # pragma: no cover
    node = 0
    for _ in range(depth):
        logit = node_b[node]
        for j in range(x.shape[1]):
            logit += node_w[node, j] * x[token, j]
        node = 2 * node + 2 if logit > 0 else 2 * node + 1
    _leaf_forward(x, w1, b1, w2, b2, out, token, hidden, active, token, node - (2**depth - 1))


@numba.njit(**JIT, inline="always")
def _leaf_depth(x, node_w, node_b, w1, b1, w2, b2):  # pragma: no cover - compiled
    """The tree depth; ValueError (which ``checks.check_leaf`` then explains) if the shapes disagree."""
    leaves, d_in, width = w1.shape
    d_out = w2.shape[2]
    depth = tree_depth(2 * leaves - 1) if leaves > 0 else -1  # 2**D leaves: a tree of 2**(D+1) - 1 nodes
    if (depth < 0 or x.shape[1] != d_in or node_w.shape[0] != leaves - 1 or node_w.shape[1] != d_in
            or node_b.shape[0] != leaves - 1 or b1.shape[0] != leaves or b1.shape[1] != width
            or w2.shape[0] != leaves or w2.shape[1] != width or b2.shape[0] != leaves or b2.shape[1] != d_out):
        raise ValueError("inconsistent shapes")
    return depth


@numba.njit(**JIT)
def _leaf_walk_rows(x, node_w, node_b, w1, b1, w2, b2, out):  # pragma: no cover - compiled
    """Small batches: walk token by token into ``out``."""
    depth = _leaf_depth(x, node_w, node_b, w1, b1, w2, b2)
    hidden = np.empty(w1.shape[2], np.float32)
    active = np.empty(w1.shape[2], np.int64)
    for token in range(x.shape[0]):
        _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, hidden, active, token, depth)
        if not row_finite(out, token):
            raise NonFinite()
    return out


@numba.njit(**JIT)
def _leaf_block(x, w1, b1, w2, b2, out, tokens, nodes):  # pragma: no cover - compiled
    """Run each of ``tokens`` through the leaf at its tree node, ``nodes`` (sorted, so a leaf's
    weights are read once and reused by all its tokens). Returns whether the outputs are finite."""
    first_leaf = w1.shape[0] - 1
    hidden = np.empty(w1.shape[2], np.float32)
    active = np.empty(w1.shape[2], np.int64)
    scratch = stream_scratch(out)
    finite = True
    for i in range(tokens.shape[0]):
        target, row = row_target(scratch, out, tokens[i])
        _leaf_forward(x, w1, b1, w2, b2, target, row, hidden, active, tokens[i], nodes[i] - first_leaf)
        finite &= row_finite(target, row)
        stream_out(scratch, out, tokens[i])
    store_fence()
    return finite


def _leaf_level_batch(x, node_w, node_b, w1, b1, w2, b2, out):  # pragma: no cover - compiled by _LEAF_LEVEL
    """Larger batches: one chunk of tokens per thread descends the tree level by level; then
    the batch is sorted by leaf and one chunk of the sorted batch per thread runs its leaves,
    so each leaf's weights are read once per call."""
    depth = _leaf_depth(x, node_w, node_b, w1, b1, w2, b2)
    batch, d_in = x.shape
    chunk = max(1, -(-batch // thread_count()))
    # the shared descent takes (K, N, d) trees: one tree, as views (no copy)
    node_w3 = node_w.reshape(1, node_w.shape[0], d_in)
    node_b2 = node_b.reshape(1, node_b.shape[0])
    path_node = np.empty((batch, max(depth, 1)), np.int64)
    path_pre = np.empty((batch, max(depth, 1)), np.float32)
    tokens = np.empty(batch, np.int64)  # the batch's tokens, sorted by node within each chunk
    nodes = np.empty(batch, np.int64)
    for t in range(batch):
        tokens[t] = t
        nodes[t] = 0
    chunks = -(-batch // chunk)
    finite = np.empty(chunks, np.bool_)
    if depth > 0:
        for i in numba.prange(chunks):  # chunks write disjoint rows of every array
            t0 = i * chunk
            t1 = min(batch, t0 + chunk)
            descend(x, node_w3, node_b2, 0, tokens[t0:t1], nodes[t0:t1], 0, depth, depth, path_node, path_pre)
    first_leaf = 2**depth - 1
    sort_by_node(tokens, nodes, first_leaf, 2**depth)
    for i in numba.prange(chunks):
        t0 = i * chunk
        t1 = min(batch, t0 + chunk)
        finite[i] = _leaf_block(x, w1, b1, w2, b2, out, tokens[t0:t1], nodes[t0:t1])
    require_finite(finite)
    return out


def _leaf_walk_new(x, node_w, node_b, w1, b1, w2, b2):  # pragma: no cover - compiled by _LEAF_WALK
    """The walk into a new output, allocated by numba (see ``Paths``)."""
    return _leaf_walk_rows(x, node_w, node_b, w1, b1, w2, b2, np.empty((x.shape[0], w2.shape[2]), np.float32))


_LEAF_WALK = Compiled(_leaf_walk_new, _LEAF_TYPES)
_LEAF_LEVEL = Compiled(_leaf_level_batch, (*_LEAF_TYPES, OUT_2D), parallel=True)


def fff_leaf_infer(
    x: np.ndarray,
    node_w: np.ndarray,
    node_b: np.ndarray,
    leaf_w1: np.ndarray,
    leaf_b1: np.ndarray,
    leaf_w2: np.ndarray,
    leaf_b2: np.ndarray,
) -> np.ndarray:
    """FFF with leaves, hard inference: descend ``depth`` node classifiers, run one leaf.

    Each leaf is a ReLU feedforward of width ``l``, with its output bias (the reference
    implementation's eval path drops ``leaf_b2``, which its training path adds; we keep it).
    Same paths as ``fff.ultrafast_infer``: a per-token walk under ``LEAF_LEVEL_MIN_BATCH`` tokens,
    else the level-by-level descent (in parallel over token chunks), after which the batch,
    sorted by leaf, runs its leaves in one chunk per thread.

    Args:
        x: ``(B, d_in)`` float32 tokens.
        node_w: ``(2**depth - 1, d_in)`` node classifier weights; ``node_b``: ``(2**depth - 1,)``.
        leaf_w1: ``(2**depth, d_in, l)``; ``leaf_b1``: ``(2**depth, l)``.
        leaf_w2: ``(2**depth, l, d_out)``; ``leaf_b2``: ``(2**depth, d_out)``.

    Returns:
        ``(B, d_out)`` float32, a new array.

    Raises:
        ValueError: a wrong dtype, shape or leaf count (``2**depth``, so at least one), naming
            the argument; a result holding NaN or infinity, traced to ``x`` or to the weights
            on the paths taken. Only the result is checked (scanning the inputs would cost more
            than a small call), so a non-finite value that does not reach it goes unreported,
            as in the reference: an infinite or NaN node logit still picks a child (NaN goes
            left), and a leaf neuron that the ReLU zeroes (an input of ``inf`` times a negative
            weight, say) adds nothing, whatever its output weights hold.
    """
    return _PATHS.run(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)


def _explain(x: object, weights: tuple, out: None) -> None:
    """Explain why the compiled entries refused the arguments (a ``ValueError`` naming the
    argument)."""
    check_leaf(x, *weights)


_PATHS = Paths(
    walk=_LEAF_WALK, walk_into=None, level=_LEAF_LEVEL, level_min_batch=LEAF_LEVEL_MIN_BATCH, explain=_explain
)
