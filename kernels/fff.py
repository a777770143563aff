"""Fast FeedForward (FFF) hard inference: one root-to-leaf path per token.

UltraFastBERT's variant: every node of a balanced binary tree of depth ``D`` is a GeLU neuron;
a token evaluates only the ``D + 1`` neurons on its path, choosing the right child when the
pre-activation is positive (exactly 0 goes left, child ``2i + 1``), and the output sums those
neurons' activations times their output weights. With ``D = 11`` a token touches 12 of 4,095
neurons, which is where the speed-up over a dense layer of the same width comes from.

Two paths, chosen by batch size (thresholds measured, see ``docs/kernels-fff.md``):

* **walk** (``B < LEVEL_MIN_BATCH``): each token walks its path alone, serially, recording
  it; its output is then summed as the level path sums it.
* **level** (``B >= LEVEL_MIN_BATCH``): the tree is processed level by level, over blocks of
  up to ``LEVEL_BLOCK`` tokens (a block's ``x`` and output rows stay in L2) that numba's
  threads share (a ``prange``, which with one thread runs serially). Within a block the
  tokens are kept sorted by their current node (a stable partition of each node's run into
  left- and right-goers per level, i.e. a counting sort by node that never needs a table of
  ``2**level`` counters), so the tokens at one node are adjacent and its weight row, read
  once, stays in L1 for all of them; at the top levels every token shares the root. Dot
  products run four sorted positions at a time (one row load for the four when they share a
  node): at the deep levels most tokens are alone at their node, and four independent row
  streams keep more loads in flight than one. The path (node, pre-activation) is recorded
  and the output is then summed per token, four path rows per pass over the output row.
  From ``SPLIT_MIN_BATCH`` tokens on, the blocks first descend only the top levels; the batch
  is then sorted by the subtree reached, and blocks of the sorted batch descend the rest, so
  a deep row is read by the one block whose tokens need it rather than by every block.

Both paths fetch the rows they will read next into L2 (``cache_hints.prefetch_row``): a core
keeps few misses in flight into L1, and random rows arrive up to twice as fast this way. An
output of ``STREAM_MIN_BYTES`` or more, too big to still be cached from the last call, is
summed row by row in a scratch row and written with streaming stores, so its lines are not
read from memory first. The GeLU's erf is three float32 polynomials rather than a libm call,
so a token's activations are computed in one vectorized loop.

Each path is entered through a function compiled for float32 C-contiguous arrays only, which
checks the shapes itself: numba's dispatcher refuses any other argument, and only then do the
Python-side checks run, to say which argument is wrong. A batch-1 call thus costs one dispatch
instead of a microsecond or more of Python checks.

A parallel region ends at a barrier: on an oversubscribed machine (more busy threads than
cores, e.g. several processes each running numba's threads) a descheduled thread holds every
call up for a scheduler time slice (measured: 7 ms medians at 128 tokens with both cores taken
by other processes). There, give each process or calling thread fewer threads with
``numba.set_num_threads`` (thread-local) or ``NUMBA_NUM_THREADS``.

``fff_leaf_infer`` uses the same walk / level-descent split (from ``LEAF_LEVEL_MIN_BATCH``
tokens: its leaves' arithmetic gains more from threads); after the descent the batch is
sorted by leaf and each thread runs a share of it in leaf order, so a leaf's weights are read
once per call.

All paths compute the same thing as the reference (ties go left; NaN pre-activations, which
compare false, go left too); only the float summation order of the dot products differs, and
erf, which is within 1.1e-7 of the reference's.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NoReturn

import numba
import numpy as np

from .cache_hints import prefetch_row, store_fence, stream_row
from .checks import check_arrays
from .threads import thread_count

__all__ = [
    "LEAF_LEVEL_MIN_BATCH", "LEVEL_BLOCK", "LEVEL_MIN_BATCH", "SPLIT_MIN_BATCH", "STREAM_MIN_BYTES",
    "fff_leaf_infer", "ultrafast_infer",
]

#: From this many tokens on, ``ultrafast_infer``'s level-by-level path, on all of numba's
#: threads, beats the serial per-token walk, whose rows are prefetched a level ahead (BERT-base
#: sizes on a 2-core box, calls in random order, medians over two runs: the walk is ahead to 5
#: tokens, 17.8-26.3 against 18.4-31.7 us at 5; even at 6-8; behind from 10).
LEVEL_MIN_BATCH = 8

#: The same for ``fff_leaf_infer``, whose leaves' arithmetic gains more from two threads (the
#: level path is ahead from 3-4 tokens: 39.4 against 44.0 us at 4, 51.0 against 60.0 at 6).
LEAF_LEVEL_MIN_BATCH = 4


#: Tokens per block of the level path: ``x`` and output rows of a block (2 x 64 x 3 KB at
#: width 768) stay in L2, and 1,024 tokens give 16 blocks to share among the threads.
LEVEL_BLOCK = 64

#: From this many tokens on, the level path descends the top levels first and then sorts the
#: batch by subtree (see ``_split_level``).
SPLIT_MIN_BATCH = 256

#: Subtrees per block after the top levels: with more, a block's tokens span fewer subtrees.
SPLIT_SUBTREES = 2

#: From this output size on, the level paths write output rows with streaming stores (1.03-1.10x
#: at 1,024 tokens of width 768, 3 MB; 0.94-1.00x at 128 tokens, whose 384 KB stay cached).
STREAM_MIN_BYTES = 2**20

#: The walk prefetches no rows for the top levels (15 nodes, 90 KB at width 768).
_WALK_PREFETCH_LEVEL = 4

_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))

#: Let LLVM reorder the dot products into SIMD lanes, but not assume values are finite: the
#: NaN checks after the kernel must still see NaNs.
_FASTMATH = {"reassoc", "contract", "nsz"}

_JIT = {"cache": True, "nogil": True, "fastmath": _FASTMATH}

# The entries (``_Compiled``) take these array types only: float32, C-contiguous, read-only so
# that writable and read-only arrays both match; the level entries also take the output.
_C1, _C2, _C3 = (numba.types.Array(numba.float32, ndim, "C", readonly=True) for ndim in (1, 2, 3))
_ULTRAFAST_TYPES = (_C2, _C3, _C2, _C3)  # x, w_in, b_in, w_out
_OUT = numba.types.Array(numba.float32, 2, "C")
_LEAF_TYPES = (_C2, _C2, _C1, _C3, _C2, _C3, _C2)  # x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2


class _NonFinite(Exception):
    """Raised by a compiled entry whose result holds NaN or infinity; traced by ``_raise_non_finite``."""


class _Compiled:
    """A kernel entry compiled for exactly one signature, on its first use.

    An explicit signature makes numba's dispatcher refuse every other argument type with a
    TypeError, raised in C at no cost to good calls; but numba compiles explicit signatures
    when it decorates, and here that waits for the first call instead of every import.
    """

    def __init__(self, py_func: Callable[..., np.ndarray], signature: tuple, *, parallel: bool = False) -> None:
        self._py_func = py_func
        self._signature = signature
        self._parallel = parallel

    @functools.cached_property
    def run(self) -> Callable[..., np.ndarray]:
        """The compiled function (compiled, or loaded from numba's cache, on first access)."""
        return numba.njit([self._signature], **_JIT, parallel=self._parallel)(self._py_func)


@numba.njit(**_JIT, inline="always")
def _depth(nodes):  # pragma: no cover - compiled
    """``D`` for a tree of ``nodes = 2**(D + 1) - 1`` nodes; -1 for any other count."""
    depth = 0
    while 2 ** (depth + 1) - 1 < nodes:
        depth += 1
    return depth if 2 ** (depth + 1) - 1 == nodes else -1


# erf in float32 arithmetic, with no call into libm, so that a loop of GeLUs vectorizes (a
# call to ``math.erf`` cost 10 ns, 4-6% of a call at 128 and 1,024 tokens). Three polynomials,
# least-squares fits on Chebyshev nodes in float64 (fit error under 5e-9); evaluated in
# float32, within 1.1e-7 of the exact erf (one unit in the last place at 1), against 3e-8 for
# the exact value rounded to float32. Beyond 3.92, erf rounds to 1 in float32.
_ERF_SMALL = tuple(np.float32(c) for c in (  # erf(a) / a, as a polynomial in a * a; a < 0.8
    1.128379225730896, -0.37612637877464294, 0.11283770948648453, -0.02686411328613758,
    0.005214286502450705, -0.0008314434089697897, 9.205203969031572e-05,
))
_ERFC_MID = tuple(np.float32(c) for c in (  # erfc(a), in a - 1.5; 0.8 <= a < 2.2
    0.0338948555290699, -0.11893022060394287, 0.1783953756093979, -0.13875484466552734,
    0.04460024833679199, 0.014898931607604027, -0.01933850161731243, 0.004589015152305365,
    0.002412730362266302, -0.0013882998609915376, -3.552771204340388e-06,
))
_ERFC_TAIL = tuple(np.float32(c) for c in (  # erfc(a), in a - 3.06; 2.2 <= a < 3.92
    1.5081755009305198e-05, -9.678395872469991e-05, 0.0002962042926810682, -0.0005725782830268145,
    0.0007767321658320725, -0.0007745707407593727, 0.0005856681964360178, -0.00034105833037756383,
    0.00012949258962180465, -3.657616161945043e-06, -1.483879896113649e-05,
))
_ERF_BOUNDS = tuple(np.float32(c) for c in (0.8, 2.2, 3.92, 1.5, 3.06))  # pieces, then centres
_ONE = np.float32(1.0)


@numba.njit(**_JIT, inline="always")
def _polynomial(coefficients, v):  # pragma: no cover - compiled
    """``sum_i coefficients[i] * v**i`` (Horner)."""
    r = coefficients[-1]
    for i in range(len(coefficients) - 2, -1, -1):
        r = r * v + coefficients[i]
    return r


@numba.njit(**_JIT, inline="always")
def _erf(x):  # pragma: no cover - compiled
    """erf for float32, every piece computed and one selected, so loops over it vectorize;
    NaN gives 1 (its sign), which the GeLU's factor ``pre`` turns back into NaN."""
    a = abs(x)
    small_end, mid_end, tail_end, mid_centre, tail_centre = _ERF_BOUNDS
    small = a * _polynomial(_ERF_SMALL, a * a)
    mid = _ONE - _polynomial(_ERFC_MID, a - mid_centre)
    tail = _ONE - _polynomial(_ERFC_TAIL, a - tail_centre)
    r = small if a < small_end else (mid if a < mid_end else (tail if a < tail_end else _ONE))
    return math.copysign(r, x)


@numba.njit(**_JIT, inline="always")
def _gelu(pre):  # pragma: no cover - compiled
    return np.float32(0.5) * pre * (_ONE + _erf(pre * _SQRT_HALF))


@numba.njit(**_JIT, inline="always")
def _activate(path, t):  # pragma: no cover - compiled
    """Replace token ``t``'s recorded pre-activations by their GeLU, in one vectorized loop."""
    for p in range(path.shape[1]):
        path[t, p] = _gelu(path[t, p])


# --------------------------------------------------------------------------------------------
# walk: one token at a time (small batches)


@numba.njit(**_JIT)
def _walk(x, w_in, b_in, w_out, path_node, path_pre, token, levels):  # pragma: no cover - compiled
    """Walk ``token`` down every tree, recording its path as ``_descend`` does; its output is
    summed afterwards (``_emit``), so the chain of dependent dot products is not interleaved
    with output rows (3-4% faster at batch 1).

    While a node's dot product runs, both children's rows and the node's output row are
    fetched into L2, so the next level and the sum find them on their way; not in the top
    ``_WALK_PREFETCH_LEVEL`` levels, whose few rows every call reads and so stay in cache
    (there, the 144 prefetches per level only cost time: 2-3% at batch 1).
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


@numba.njit(**_JIT, inline="always")
def _ultrafast_depth(x, w_in, b_in, w_out):  # pragma: no cover - compiled
    """The tree depth; ValueError (which ``_check`` then explains) if the shapes disagree."""
    trees, nodes, d_in = w_in.shape
    depth = _depth(nodes)
    if (depth < 0 or x.shape[1] != d_in or b_in.shape[0] != trees or b_in.shape[1] != nodes
            or w_out.shape[0] != trees or w_out.shape[1] != nodes):
        raise ValueError("inconsistent shapes")
    return depth


@numba.njit(**_JIT)
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
        if not _row_finite(out, token):
            raise _NonFinite()
    return out


# --------------------------------------------------------------------------------------------
# level by level: tokens grouped by node (large batches)


@numba.njit(**_JIT)
def _descend(x, w, b, k, tokens, nodes, first, last, levels, path_node, path_pre):  # pragma: no cover - compiled
    """Walk ``tokens`` from level ``first`` down to level ``last`` of tree ``k`` of ``w``.

    ``w``: ``(K, N, d_in)`` node weights, ``b``: ``(K, N)``. ``tokens`` are sorted by their
    current node, ``nodes`` (ascending), so the tokens at one node are adjacent and its weight
    row, read once, stays in L1 for all of them. Records, for token ``t`` and path step
    ``p = k * levels + level``, the node in ``path_node[t, p]`` and its pre-activation in
    ``path_pre[t, p]``. Leaves ``tokens`` and ``nodes`` sorted, stably, by the node reached:
    after each level every run of one node is split stably into its left-goers and
    right-goers, which keeps the order sorted for the next level (a counting sort by node that
    never needs a table of ``2**level`` counters).
    """
    n = tokens.shape[0]
    d_in = x.shape[1]
    pre_at = np.empty(n, np.float32)  # pre-activation by sorted position
    tokens_next = np.empty(n, np.int64)
    nodes_next = np.empty(n, np.int64)
    for level in range(first, last):
        p = k * levels + level
        # four sorted positions at a time, whether or not they share a node: four independent
        # row streams keep more loads in flight (at the deep levels almost every token is alone
        # at its node); a last, partial quad repeats its final position. LLVM vectorizes the
        # shared-row loop with more partial sums than the other, so a pre-activation can differ
        # in its last bit with the tokens that share its quad (as a BLAS result can with the
        # rest of the batch)
        for i in range(0, n, 4):
            for r in range(i + 4, min(i + 8, n)):  # the next quad's rows, into L2 meanwhile
                if nodes[r] != nodes[r - 1]:
                    prefetch_row(w[k, nodes[r]])
            ia = i
            ib = min(i + 1, n - 1)
            ic = min(i + 2, n - 1)
            id_ = min(i + 3, n - 1)
            ta = tokens[ia]
            tb = tokens[ib]
            tc = tokens[ic]
            td = tokens[id_]
            na = nodes[ia]
            nb = nodes[ib]
            nc = nodes[ic]
            nd = nodes[id_]
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            if na == nd:  # sorted, so one node for all four: load its row once
                for j in range(d_in):
                    wj = w[k, na, j]
                    a0 += wj * x[ta, j]
                    a1 += wj * x[tb, j]
                    a2 += wj * x[tc, j]
                    a3 += wj * x[td, j]
            else:
                for j in range(d_in):
                    a0 += w[k, na, j] * x[ta, j]
                    a1 += w[k, nb, j] * x[tb, j]
                    a2 += w[k, nc, j] * x[tc, j]
                    a3 += w[k, nd, j] * x[td, j]
            pre_at[ia] = b[k, na] + a0
            pre_at[ib] = b[k, nb] + a1
            pre_at[ic] = b[k, nc] + a2
            pre_at[id_] = b[k, nd] + a3
        for i in range(n):
            path_node[tokens[i], p] = nodes[i]
            path_pre[tokens[i], p] = pre_at[i]
        # split every run of one node stably: left-goers (not > 0: ties and NaN) first, then right
        pos = 0
        s = 0
        while s < n:
            node = nodes[s]
            e = s + 1
            while e < n and nodes[e] == node:
                e += 1
            for i in range(s, e):
                if not pre_at[i] > 0:
                    tokens_next[pos] = tokens[i]
                    nodes_next[pos] = 2 * node + 1
                    pos += 1
            for i in range(s, e):
                if pre_at[i] > 0:
                    tokens_next[pos] = tokens[i]
                    nodes_next[pos] = 2 * node + 2
                    pos += 1
            s = e
        for i in range(n):  # a loop: slice assignment compiles to far more code
            tokens[i] = tokens_next[i]
            nodes[i] = nodes_next[i]


@numba.njit(**_JIT)
def _sort_by_node(tokens, nodes, first_node, count):  # pragma: no cover - compiled
    """Sort ``tokens`` and their ``nodes`` (all in ``first_node : first_node + count``) stably
    by node, in place: a counting sort."""
    starts = np.zeros(count + 1, np.int64)
    for node in nodes:
        starts[node - first_node + 1] += 1
    for i in range(count):
        starts[i + 1] += starts[i]
    n = tokens.shape[0]
    tokens_sorted = np.empty(n, np.int64)
    nodes_sorted = np.empty(n, np.int64)
    for i in range(n):
        slot = starts[nodes[i] - first_node]
        starts[nodes[i] - first_node] = slot + 1
        tokens_sorted[slot] = tokens[i]
        nodes_sorted[slot] = nodes[i]
    for i in range(n):
        tokens[i] = tokens_sorted[i]
        nodes[i] = nodes_sorted[i]


@numba.njit(**_JIT, inline="always")
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


@numba.njit(**_JIT, inline="always")
def _row_finite(out, t):  # pragma: no cover - compiled
    """Whether row ``t`` of ``out`` is all finite (0 * x is NaN exactly for x non-finite)."""
    acc = np.float32(0.0)
    for j in range(out.shape[1]):
        acc += np.float32(0.0) * out[t, j]
    return acc == 0


@numba.njit(**_JIT, inline="always")
def _stream_scratch(out):  # pragma: no cover - compiled
    """A row to sum each output row in before streaming it out, if ``out`` is big enough for
    that (``STREAM_MIN_BYTES``); else no row, and rows are summed in ``out`` itself."""
    return np.empty((1 if out.nbytes >= STREAM_MIN_BYTES else 0, out.shape[1]), np.float32)


@numba.njit(**_JIT, inline="always")
def _row_target(scratch, out, t):  # pragma: no cover - compiled
    """Where output row ``t`` is summed: the scratch row, or ``out[t]``."""
    return (scratch, 0) if scratch.shape[0] else (out, t)


@numba.njit(**_JIT, inline="always")
def _stream_out(scratch, out, t):  # pragma: no cover - compiled
    """Output row ``t``, if summed in the scratch row, streamed to ``out[t]`` (blocks end with
    ``store_fence``)."""
    if scratch.shape[0]:
        stream_row(scratch[0], out[t])


@numba.njit(**_JIT, inline="always")
def _require_finite(finite):  # pragma: no cover - compiled
    """Raise ``_NonFinite`` unless every block found its output rows finite (a loop: in a
    parallel function, ``finite.all()`` would be one more parallel region)."""
    for ok in finite:
        if not ok:
            raise _NonFinite()


@numba.njit(**_JIT, inline="always")
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


@numba.njit(**_JIT)
def _level_block(x, w_in, b_in, w_out, out, k, tokens, nodes, first, last, path_node, path_pre):  # pragma: no cover
    """Descend the block's ``tokens`` from level ``first`` to ``last`` of tree ``k``; after the
    leaves of the last tree, sum their outputs. Returns whether those are finite."""
    levels = path_node.shape[1] // w_in.shape[0]
    _descend(x, w_in, b_in, k, tokens, nodes, first, last, levels, path_node, path_pre)
    finite = True
    if last == levels and k == w_in.shape[0] - 1:
        scratch = _stream_scratch(out)
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
            target, row = _row_target(scratch, out, t)
            _emit(w_out, path_node, path_pre, target, row, t, levels)
            finite &= _row_finite(target, row)
            _stream_out(scratch, out, t)
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
                _sort_by_node(tokens, nodes, 2**first - 1, 2**first)
            for i in numba.prange(blocks):  # blocks write disjoint rows of every array
                t0 = i * block
                t1 = min(batch, t0 + block)
                finite[i] = _level_block(
                    x, w_in, b_in, w_out, out, k, tokens[t0:t1], nodes[t0:t1], first, last, path_node, path_pre
                )
    _require_finite(finite)
    return out


def _walk_new(x, w_in, b_in, w_out):  # pragma: no cover - compiled by _ULTRAFAST_WALK
    """The walk into a new output, allocated by numba: for a few rows, cheaper than numpy's
    allocation from Python."""
    return _walk_rows(x, w_in, b_in, w_out, np.empty((x.shape[0], w_out.shape[2]), np.float32))


def _walk_into(x, w_in, b_in, w_out, out):  # pragma: no cover - compiled by _ULTRAFAST_WALK_INTO
    return _walk_rows(x, w_in, b_in, w_out, out)


_ULTRAFAST_WALK = _Compiled(_walk_new, _ULTRAFAST_TYPES)
_ULTRAFAST_WALK_INTO = _Compiled(_walk_into, (*_ULTRAFAST_TYPES, _OUT))
_ULTRAFAST_LEVEL = _Compiled(_level_batch, (*_ULTRAFAST_TYPES, _OUT), parallel=True)


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
    if out is not None:
        _check(x, w_in, b_in, w_out)
        _check_out(out, (x.shape[0], w_out.shape[2]), x, w_in, b_in, w_out)
    return _run(
        (_ULTRAFAST_WALK, _ULTRAFAST_WALK_INTO, _ULTRAFAST_LEVEL), LEVEL_MIN_BATCH, _check, x, w_in, b_in, w_out, out=out
    )


def _run(
    entries: tuple[_Compiled, _Compiled | None, _Compiled], level_min_batch: int, check: Callable[..., object],
    x: np.ndarray, *weights: np.ndarray, out: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``x`` through the walk (under ``level_min_batch`` tokens) or the level entry (on the
    calling thread's numba threads), into ``out`` (already checked) if given, else into a new
    array. ``entries``: the walk into a new output, the walk into ``out`` (for a variant that
    takes one), the level path into ``out``. Every entry writes the output rows itself: the
    walk allocates a few rows in numba, cheaper than numpy from Python, and the level path
    gets numpy's allocation, reused from the heap, where numba's would fault its pages in
    afresh on every call (see docs/kernels-fff.md).

    All take only float32 C-contiguous arrays of the right ranks and check the shapes
    themselves, so a call pays one dispatch and no Python-side checks; when they refuse the
    arguments, ``check`` says which one is wrong and why.
    """
    walk_new, walk_into, level = entries
    try:
        if len(x) < level_min_batch:
            return walk_new.run(x, *weights) if out is None else walk_into.run(x, *weights, out)
        if out is None:
            # the output width is the last axis of the last weight in both variants
            # (``w_out``, ``leaf_b2``)
            out = np.empty((len(x), weights[-1].shape[-1]), np.float32)
        return level.run(x, *weights, out)
    except (TypeError, ValueError, AttributeError, IndexError):
        check(x, *weights)
        raise
    except _NonFinite:
        _raise_non_finite(x)


# --------------------------------------------------------------------------------------------
# FFF with leaves


@numba.njit(**_JIT, inline="always")
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


@numba.njit(**_JIT)
def _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, hidden, active, token, depth):  # pragma: no cover
    node = 0
    for _ in range(depth):
        logit = node_b[node]
        for j in range(x.shape[1]):
            logit += node_w[node, j] * x[token, j]
        node = 2 * node + 2 if logit > 0 else 2 * node + 1
    _leaf_forward(x, w1, b1, w2, b2, out, token, hidden, active, token, node - (2**depth - 1))


@numba.njit(**_JIT, inline="always")
def _leaf_depth(x, node_w, node_b, w1, b1, w2, b2):  # pragma: no cover - compiled
    """The tree depth; ValueError (which ``_check_leaf`` then explains) if the shapes disagree."""
    leaves, d_in, width = w1.shape
    d_out = w2.shape[2]
    depth = _depth(2 * leaves - 1) if leaves > 0 else -1  # 2**D leaves: a tree of 2**(D+1) - 1 nodes
    if (depth < 0 or x.shape[1] != d_in or node_w.shape[0] != leaves - 1 or node_w.shape[1] != d_in
            or node_b.shape[0] != leaves - 1 or b1.shape[0] != leaves or b1.shape[1] != width
            or w2.shape[0] != leaves or w2.shape[1] != width or b2.shape[0] != leaves or b2.shape[1] != d_out):
        raise ValueError("inconsistent shapes")
    return depth


@numba.njit(**_JIT)
def _leaf_walk_rows(x, node_w, node_b, w1, b1, w2, b2, out):  # pragma: no cover - compiled
    """Small batches: walk token by token into ``out``."""
    depth = _leaf_depth(x, node_w, node_b, w1, b1, w2, b2)
    hidden = np.empty(w1.shape[2], np.float32)
    active = np.empty(w1.shape[2], np.int64)
    for token in range(x.shape[0]):
        _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, hidden, active, token, depth)
        if not _row_finite(out, token):
            raise _NonFinite()
    return out


@numba.njit(**_JIT)
def _leaf_block(x, w1, b1, w2, b2, out, tokens, nodes):  # pragma: no cover - compiled
    """Run each of ``tokens`` through the leaf at its tree node, ``nodes`` (sorted, so a leaf's
    weights are read once and reused by all its tokens). Returns whether the outputs are finite."""
    first_leaf = w1.shape[0] - 1
    hidden = np.empty(w1.shape[2], np.float32)
    active = np.empty(w1.shape[2], np.int64)
    scratch = _stream_scratch(out)
    finite = True
    for i in range(tokens.shape[0]):
        target, row = _row_target(scratch, out, tokens[i])
        _leaf_forward(x, w1, b1, w2, b2, target, row, hidden, active, tokens[i], nodes[i] - first_leaf)
        finite &= _row_finite(target, row)
        _stream_out(scratch, out, tokens[i])
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
            _descend(x, node_w3, node_b2, 0, tokens[t0:t1], nodes[t0:t1], 0, depth, depth, path_node, path_pre)
    first_leaf = 2**depth - 1
    _sort_by_node(tokens, nodes, first_leaf, 2**depth)
    for i in numba.prange(chunks):
        t0 = i * chunk
        t1 = min(batch, t0 + chunk)
        finite[i] = _leaf_block(x, w1, b1, w2, b2, out, tokens[t0:t1], nodes[t0:t1])
    _require_finite(finite)
    return out


def _leaf_walk_new(x, node_w, node_b, w1, b1, w2, b2):  # pragma: no cover - compiled by _LEAF_WALK
    """As ``_walk_new``."""
    return _leaf_walk_rows(x, node_w, node_b, w1, b1, w2, b2, np.empty((x.shape[0], w2.shape[2]), np.float32))


_LEAF_WALK = _Compiled(_leaf_walk_new, _LEAF_TYPES)
_LEAF_LEVEL = _Compiled(_leaf_level_batch, (*_LEAF_TYPES, _OUT), parallel=True)


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
    Same paths as :func:`ultrafast_infer`: a per-token walk under ``LEAF_LEVEL_MIN_BATCH`` tokens,
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
    weights = (node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)
    return _run((_LEAF_WALK, None, _LEAF_LEVEL), LEAF_LEVEL_MIN_BATCH, _check_leaf, x, *weights)


def _check_leaf(
    x: np.ndarray, node_w: np.ndarray, node_b: np.ndarray, leaf_w1: np.ndarray, leaf_b1: np.ndarray,
    leaf_w2: np.ndarray, leaf_b2: np.ndarray,
) -> None:
    """Explain why ``fff_leaf_infer``'s compiled entries refused the arguments (a ``ValueError``
    naming the argument)."""
    check_arrays(
        ("x", x, 2), ("node_w", node_w, 2), ("node_b", node_b, 1), ("leaf_w1", leaf_w1, 3),
        ("leaf_b1", leaf_b1, 2), ("leaf_w2", leaf_w2, 3), ("leaf_b2", leaf_b2, 2),
    )
    leaves, d_in, width = leaf_w1.shape
    depth = leaves.bit_length() - 1
    if leaves < 1 or 2**depth != leaves:
        raise ValueError(f"leaf_w1.shape[0] must be a power of two, 2**depth leaves (got {leaves})")
    expected = {
        "x": (x.shape[0], d_in), "node_w": (leaves - 1, d_in), "node_b": (leaves - 1,),
        "leaf_b1": (leaves, width), "leaf_w2": (leaves, width, leaf_w2.shape[2]),
        "leaf_b2": (leaves, leaf_w2.shape[2]),
    }
    for name, array in (("x", x), ("node_w", node_w), ("node_b", node_b), ("leaf_b1", leaf_b1),
                        ("leaf_w2", leaf_w2), ("leaf_b2", leaf_b2)):
        if array.shape != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for depth {depth} (got {array.shape})")


def _check_out(out: np.ndarray, shape: tuple[int, int], *inputs: np.ndarray) -> None:
    """``out`` must be a writable C-contiguous float32 array of ``shape``, apart from ``inputs``
    (blocks write their rows of ``out`` while others still read ``x``)."""
    check_arrays(("out", out, 2))
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape} (got {out.shape})")
    if not out.flags.writeable:
        raise ValueError("out must be writable")
    if any(np.may_share_memory(out, array) for array in inputs):
        raise ValueError("out must not share memory with x or the weights")


def _raise_non_finite(x: np.ndarray) -> NoReturn:
    """Trace a non-finite result back to its cause.

    Checking every weight on every call would cost more than the inference itself (6M floats
    at BERT-base sizes), so the kernels only report whether their result is finite (a pass
    over the output rows while they are still in cache), and then ``x`` is scanned.
    """
    if not np.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    raise ValueError("the weights hold NaN or infinite values on the paths taken")


def _check(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, w_out: np.ndarray) -> None:
    """Explain why ``ultrafast_infer``'s compiled entries refused the arguments (a ``ValueError``
    naming the argument)."""
    check_arrays(("x", x, 2), ("w_in", w_in, 3), ("b_in", b_in, 2), ("w_out", w_out, 3))
    trees, nodes, d_in = w_in.shape
    if nodes < 1 or (nodes + 1) & nodes:
        raise ValueError(f"w_in.shape[1] must be 2**(depth+1) - 1 nodes (got {nodes})")
    if x.shape[1] != d_in:
        raise ValueError(f"x.shape[1] must equal w_in.shape[2] = {d_in} (got {x.shape[1]})")
    if b_in.shape != (trees, nodes):
        raise ValueError(f"b_in must have shape {(trees, nodes)} (got {b_in.shape})")
    if w_out.shape[:2] != (trees, nodes):
        raise ValueError(f"w_out must have shape ({trees}, {nodes}, d_out) (got {w_out.shape})")
