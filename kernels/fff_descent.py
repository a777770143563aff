"""Descending FFF trees level by level, with a batch's tokens kept sorted by node.

Both FFF variants' level paths descend this way (``fff`` for UltraFastBERT trees, ``fff_leaf``
for the node classifiers above its leaves). Tokens are kept sorted by their current node, so
the tokens at one node are adjacent and its weight row, read once, stays in L1 for all of them;
at the top levels every token shares the root. After each level every run of one node is split
stably into its left- and right-goers, which keeps the order sorted for the next level: a
counting sort by node that never needs a table of ``2**level`` counters. Ties go left, and so do
NaN pre-activations, which compare false.
"""

from __future__ import annotations

import numba
import numpy as np

from .cache_hints import prefetch_row
from .fff_entry import JIT

__all__ = ["descend", "sort_by_node", "tree_depth"]


@numba.njit(**JIT, inline="always")
def tree_depth(nodes):  # pragma: no cover - compiled
    """``D`` for a tree of ``nodes = 2**(D + 1) - 1`` nodes; -1 for any other count."""
    depth = 0
    while 2 ** (depth + 1) - 1 < nodes:
        depth += 1
    return depth if 2 ** (depth + 1) - 1 == nodes else -1


@numba.njit(**JIT)
def descend(x, w, b, k, tokens, nodes, first, last, levels, path_node, path_pre):  # pragma: no cover - compiled
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


@numba.njit(**JIT)
def sort_by_node(tokens, nodes, first_node, count):  # pragma: no cover - compiled
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
