"""A fused MoE layer for FFF experts: tokens are read where they are and summed where they go.

``moe_forward`` copies tokens into one block per expert (gather), runs each expert on its block
and adds the weighted outputs back in token order (combine). That pays for dense experts,
whose blocks become GEMMs. An FFF expert has no GEMM: every token reads its own root-to-leaf
rows, so the copies in and out are pure overhead, as are the separate passes of routing (the
router logits, top-k, masking, each over the whole batch) and the parallel region each expert
block starts. With FFF experts they were 25-54% of the layer (``docs/kernels-moe.md``). Here:

1. **Routing, one pass per token block** (``ROUTE_BLOCK`` tokens, on numba's threads): the
   router logits, four tokens by four experts per pass over ``d`` (16 sums in registers, each
   ``x`` and router value loaded once for four of them), then top-k, the float64 softmax over
   all experts, masking and the float32 renormalisation of ``top_k_route`` (dropless,
   ``softmax_all``) and ``mask_experts``, token by token. With ``capacity_factor`` the
   routing needs the whole batch in order (earlier tokens outrank later ones): the logits are
   computed the same way and ``top_k_route`` and ``mask_experts`` route them.
2. **The plan**: per slot, a counting sort of the kept tokens by expert, cut into blocks of up
   to ``LEVEL_BLOCK`` token indices. Indices only: no token is copied.
3. **The walks**: each block descends its expert's trees level by level (``fff_descent``, as
   the FFF level path does, reading ``x[t]`` in place; tokens sorted by node share each row
   read), then adds ``weight * gelu(pre) * w_out[row]`` for every node of each token's path
   straight into ``out[t]``, four path rows per pass over the row. A token's first slot
   writes its row, later slots add to it, so no zeroed output is read back. Slots run one
   after another (a token has one assignment per slot, so blocks of one slot never share an
   output row) and the blocks of a slot in parallel: ``k`` parallel regions in all, where
   ``moe_forward`` has one per expert.

Grouping by expert is kept on purpose: walking each token's trees alone (token-parallel, with
prefetch) measured 1.45-1.7x slower on the expert compute than descending sorted blocks, since
the top levels' rows, read once per block, are read once per token then.

Serial and parallel runs cut the same blocks and compute every token identically, so their
results are bit-identical. The result equals ``moe_forward`` with the same ``FFFExperts`` up to
float summation order (the logits, and the weight folded into each activation rather than
applied to the expert's sum); ``moe_fff_reference`` is the plain-numpy twin the tests trust.

Entries are compiled for one signature on first use and cached on disk by numba;
``compile_seconds`` reports what the first call of each took (compiling, or loading the cache).
"""

from __future__ import annotations

import math
import time
from typing import Literal

import numba
import numpy as np

from .cache_hints import prefetch_row
from .checks import check_arrays, check_finite, check_shape, integer
from .erf import erf
from .fff import LEVEL_BLOCK, SPLIT_MIN_BATCH, SPLIT_SUBTREES
from .fff_descent import descend, sort_by_node, tree_depth
from .fff_entry import IN_2D, IN_3D, JIT, OUT_2D, Compiled
from .fff_output import row_finite
from .moe import top_k_route
from .moe_dispatch import FFFExperts, mask_experts, runs_parallel

__all__ = ["LEVEL_BLOCK", "ROUTE_BLOCK", "compile_seconds", "fff_mixture", "moe_fff_forward"]

#: Tokens routed together: their logits are one small GEMM against the router's rows, which
#: stay in L1 for all of them.
ROUTE_BLOCK = 64

_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))

_IN_4D = numba.types.Array(numba.float32, 4, "C", readonly=True)
_IN_MASK = numba.types.Array(numba.boolean, 1, "C", readonly=True)
_IN_KEPT = numba.types.Array(numba.boolean, 2, "C", readonly=True)
_IN_CHOSEN = numba.types.Array(numba.int32, 2, "C", readonly=True)
_OUT_KEPT = numba.types.Array(numba.boolean, 2, "C")
_OUT_CHOSEN = numba.types.Array(numba.int32, 2, "C")


@numba.njit(**JIT, inline="always")
def _gelu(pre):  # pragma: no cover - compiled
    return np.float32(0.5) * pre * (np.float32(1.0) + erf(pre * _SQRT_HALF))


# --------------------------------------------------------------------------------------------
# routing


@numba.njit(**JIT)
def _logits_block(x, router_t, t0, t1, logits):  # pragma: no cover - compiled
    """``logits[t] = x[t] @ router_t.T`` for tokens ``t0:t1``, four tokens by four experts per
    pass over ``d``; a partial quad repeats its last token or expert (same value, same place)."""
    experts, d = router_t.shape
    for i in range(t0, t1, 4):
        ta = i
        tb = min(i + 1, t1 - 1)
        tc = min(i + 2, t1 - 1)
        td = min(i + 3, t1 - 1)
        for e in range(0, experts, 4):
            ea = e
            eb = min(e + 1, experts - 1)
            ec = min(e + 2, experts - 1)
            ed = min(e + 3, experts - 1)
            a00 = a01 = a02 = a03 = np.float32(0.0)
            a10 = a11 = a12 = a13 = np.float32(0.0)
            a20 = a21 = a22 = a23 = np.float32(0.0)
            a30 = a31 = a32 = a33 = np.float32(0.0)
            for j in range(d):
                x0 = x[ta, j]
                x1 = x[tb, j]
                x2 = x[tc, j]
                x3 = x[td, j]
                w0 = router_t[ea, j]
                w1 = router_t[eb, j]
                w2 = router_t[ec, j]
                w3 = router_t[ed, j]
                a00 += w0 * x0
                a01 += w1 * x0
                a02 += w2 * x0
                a03 += w3 * x0
                a10 += w0 * x1
                a11 += w1 * x1
                a12 += w2 * x1
                a13 += w3 * x1
                a20 += w0 * x2
                a21 += w1 * x2
                a22 += w2 * x2
                a23 += w3 * x2
                a30 += w0 * x3
                a31 += w1 * x3
                a32 += w2 * x3
                a33 += w3 * x3
            logits[ta, ea], logits[ta, eb], logits[ta, ec], logits[ta, ed] = a00, a01, a02, a03
            logits[tb, ea], logits[tb, eb], logits[tb, ec], logits[tb, ed] = a10, a11, a12, a13
            logits[tc, ea], logits[tc, eb], logits[tc, ec], logits[tc, ed] = a20, a21, a22, a23
            logits[td, ea], logits[td, eb], logits[td, ec], logits[td, ed] = a30, a31, a32, a33


@numba.njit(**JIT, inline="always")
def _route_token(logits, t, k, unavailable, renormalize, taken, chosen, weights, kept):  # pragma: no cover
    """Token ``t``'s top ``k`` logits (equal ones to the lower expert), weighted by the float64
    softmax over all experts, then masked and renormalised in float32: what ``top_k_route``
    (dropless, ``softmax_all``) and ``mask_experts`` compute."""
    experts = logits.shape[1]
    for e in range(experts):
        taken[e] = False
    for slot in range(k):
        best = -1
        for e in range(experts):
            if not taken[e] and (best < 0 or logits[t, e] > logits[t, best]):
                best = e
        taken[best] = True
        chosen[t, slot] = best
    top = np.float64(logits[t, chosen[t, 0]])
    total = 0.0
    for e in range(experts):
        total += math.exp(np.float64(logits[t, e]) - top)
    survivors = 0
    kept_total = np.float32(0.0)
    for slot in range(k):
        weight = np.float32(math.exp(np.float64(logits[t, chosen[t, slot]]) - top) / total)
        alive = not unavailable[chosen[t, slot]]
        kept[t, slot] = alive
        weights[t, slot] = weight if alive else np.float32(0.0)
        if alive:
            kept_total += weight
            survivors += 1
    if renormalize and survivors > 0:
        for slot in range(k):
            if kept[t, slot]:
                # survivors whose softmax weights all underflowed to 0 share equally
                weights[t, slot] = weights[t, slot] / kept_total if kept_total > 0 else np.float32(1.0 / survivors)


@numba.njit(**JIT, inline="always")
def _route_block(x, router_t, k, unavailable, renormalize, route, logits, chosen, weights, kept, b):  # pragma: no cover
    t0 = b * ROUTE_BLOCK
    t1 = min(x.shape[0], t0 + ROUTE_BLOCK)
    _logits_block(x, router_t, t0, t1, logits)
    if route:
        taken = np.empty(router_t.shape[0], np.bool_)
        for t in range(t0, t1):
            _route_token(logits, t, k, unavailable, renormalize, taken, chosen, weights, kept)


# Serial and parallel entries are separate functions: numba's on-disk cache keys a function by
# its code and signature, not by its ``parallel`` flag, so one function compiled both ways
# would load the other's machine code.


def _route_serial(x, router_t, k, unavailable, renormalize, route, logits, chosen, weights, kept):  # pragma: no cover
    """Logits of every token into ``logits`` and, with ``route``, its routing."""
    for b in range(-(-x.shape[0] // ROUTE_BLOCK)):
        _route_block(x, router_t, k, unavailable, renormalize, route, logits, chosen, weights, kept, b)


def _route_parallel(x, router_t, k, unavailable, renormalize, route, logits, chosen, weights, kept):  # pragma: no cover
    for b in numba.prange(-(-x.shape[0] // ROUTE_BLOCK)):  # blocks write disjoint rows
        _route_block(x, router_t, k, unavailable, renormalize, route, logits, chosen, weights, kept, b)


# --------------------------------------------------------------------------------------------
# walking


@numba.njit(**JIT)
def _plan(chosen, kept, experts):  # pragma: no cover - compiled
    """Per slot, the kept tokens sorted by expert (stably) into ``order[s]``, and the blocks
    that walk them: ``blocks[i] = (expert, start, stop, group_start, group_stop, split)``, a
    span of ``order[s]`` of at most ``LEVEL_BLOCK`` tokens, the span of its expert's group, and
    how many top levels the group descends before it is sorted by subtree (``_split_level``).
    Slot ``s`` owns blocks ``firsts[s]:firsts[s + 1]``."""
    tokens, k = chosen.shape
    order = np.empty((k, tokens), np.int64)
    starts = np.zeros((k, experts + 1), np.int64)
    for s in range(k):
        for t in range(tokens):
            if kept[t, s]:
                starts[s, chosen[t, s] + 1] += 1
    count = 0
    for s in range(k):
        for e in range(experts):
            count += -(-starts[s, e + 1] // LEVEL_BLOCK)
            starts[s, e + 1] += starts[s, e]
    blocks = np.empty((count, 6), np.int64)
    firsts = np.empty(k + 1, np.int64)
    fill = np.empty(experts, np.int64)
    i = 0
    for s in range(k):
        firsts[s] = i
        for e in range(experts):
            fill[e] = starts[s, e]
        for t in range(tokens):
            if kept[t, s]:
                e = chosen[t, s]
                order[s, fill[e]] = t
                fill[e] += 1
        for e in range(experts):
            g0 = starts[s, e]
            g1 = starts[s, e + 1]
            split = _split_level(g1 - g0)
            a = g0
            while a < g1:
                blocks[i, 0] = e
                blocks[i, 1] = a
                blocks[i, 2] = min(a + LEVEL_BLOCK, g1)
                blocks[i, 3] = g0
                blocks[i, 4] = g1
                blocks[i, 5] = split
                a = blocks[i, 2]
                i += 1
    firsts[k] = i
    return order, blocks, firsts


@numba.njit(**JIT, inline="always")
def _split_level(tokens):  # pragma: no cover - compiled
    """How many top levels a group of ``tokens`` descends before it is sorted by subtree, as the
    FFF level path does (``fff._split_level``): none under ``SPLIT_MIN_BATCH`` tokens, else
    enough for ``SPLIT_SUBTREES`` subtrees per block. The caller caps it below the tree's
    levels."""
    if tokens < SPLIT_MIN_BATCH:
        return 0
    blocks = -(-tokens // LEVEL_BLOCK)
    split = 0
    while 2**split < SPLIT_SUBTREES * blocks:
        split += 1
    return split


@numba.njit(**JIT)
def _emit_block(w_out, weights, s, e, tokens, levels, path_node, path_pre, out, written):  # pragma: no cover
    """Add each token's weighted path into its output row (written, not added, if it is the
    row's first), in leaf order; returns whether those rows are finite."""
    steps = path_node.shape[1]
    d_out = w_out.shape[3]
    n = tokens.shape[0]
    finite = True
    # in leaf order: neighbours share most of their path, so its output rows stay in L1; the
    # rows in which the next token's path differs are fetched into L2 meanwhile
    for i in range(n):
        t = tokens[i]
        if i + 1 < n:
            u = tokens[i + 1]
            for p in range(steps):
                if path_node[u, p] != path_node[t, p]:
                    prefetch_row(w_out[e, p // levels, path_node[u, p]])
        weight = weights[t, s]
        for p in range(steps):
            path_pre[t, p] = weight * _gelu(path_pre[t, p])
        if not written[t]:
            written[t] = True
            for j in range(d_out):
                out[t, j] = 0.0
        p = 0
        while p < steps:
            tree = p // levels
            if p + 4 <= (tree + 1) * levels:
                r0 = w_out[e, tree, path_node[t, p]]
                r1 = w_out[e, tree, path_node[t, p + 1]]
                r2 = w_out[e, tree, path_node[t, p + 2]]
                r3 = w_out[e, tree, path_node[t, p + 3]]
                a0 = path_pre[t, p]
                a1 = path_pre[t, p + 1]
                a2 = path_pre[t, p + 2]
                a3 = path_pre[t, p + 3]
                for j in range(d_out):
                    out[t, j] = (((out[t, j] + a0 * r0[j]) + a1 * r1[j]) + a2 * r2[j]) + a3 * r3[j]
                p += 4
            else:
                r0 = w_out[e, tree, path_node[t, p]]
                a0 = path_pre[t, p]
                for j in range(d_out):
                    out[t, j] += a0 * r0[j]
                p += 1
        # a row that is not finite stays so as more is added: checking each sum checks the last
        finite &= row_finite(out, t)
    return finite


@numba.njit(**JIT)
def _phase(x, w_in, b_in, w_out, weights, s, order, blocks, i, tree, phase, path_node, path_pre, work_tokens,
           work_nodes, out, written):  # pragma: no cover - compiled
    """One phase of block ``i`` of slot ``s`` on tree ``tree``: 0, the block's tokens start at
    the root and, in a split group, descend its top levels; 1, a split group's first block
    sorts the group by subtree; 2, the block descends the rest and, after the last tree, sums
    its tokens' outputs. Returns whether the
    rows it summed (if any) are finite."""
    e, a, b, g0, g1 = blocks[i, 0], blocks[i, 1], blocks[i, 2], blocks[i, 3], blocks[i, 4]
    levels = tree_depth(w_in.shape[2]) + 1
    split = min(blocks[i, 5], levels - 1)
    tokens = work_tokens[a:b]
    nodes = work_nodes[a:b]
    if phase == 0:  # every block starts from the root
        for j in range(b - a):
            tokens[j] = order[s, a + j]
            nodes[j] = 0
        if split > 0:
            descend(x, w_in[e], b_in[e], tree, tokens, nodes, 0, split, levels, path_node, path_pre)
    elif phase == 1:
        if split > 0 and a == g0:
            sort_by_node(work_tokens[g0:g1], work_nodes[g0:g1], 2**split - 1, 2**split)
    else:
        descend(x, w_in[e], b_in[e], tree, tokens, nodes, split, levels, levels, path_node, path_pre)
        if tree == w_in.shape[1] - 1:
            return _emit_block(w_out, weights, s, e, tokens, levels, path_node, path_pre, out, written)
    return True


@numba.njit(**JIT)
def _finish(x, kept, out, written, residual):  # pragma: no cover - compiled
    """Rows no tree wrote: zeros (experts with no trees, or no kept slot), or the token itself
    for a token with no kept slot under ``residual``."""
    for t in range(out.shape[0]):
        if not written[t]:
            dispatched = False
            for s in range(kept.shape[1]):
                dispatched |= kept[t, s]
            for j in range(out.shape[1]):
                out[t, j] = x[t, j] if residual and not dispatched else np.float32(0.0)


@numba.njit(**JIT)
def _scratch(x, w_in):  # pragma: no cover - compiled
    """The walk's scratch: path nodes and pre-activations by token, per-slot token and node
    order, and which output rows are written."""
    tokens = x.shape[0]
    steps = w_in.shape[1] * (tree_depth(w_in.shape[2]) + 1)
    return (np.empty((tokens, steps), np.int64), np.empty((tokens, steps), np.float32), np.empty(tokens, np.int64),
            np.empty(tokens, np.int64), np.zeros(tokens, np.bool_))


def _walk_serial(x, w_in, b_in, w_out, chosen, weights, kept, residual, out):  # pragma: no cover - compiled
    """The layer after routing: plan, walk every slot's blocks tree by tree and phase by phase,
    finish; whether ``out`` is finite."""
    order, blocks, firsts = _plan(chosen, kept, w_in.shape[0])
    path_node, path_pre, work_tokens, work_nodes, written = _scratch(x, w_in)
    finite = True
    for s in range(chosen.shape[1]):
        for tree in range(w_in.shape[1]):
            for phase in range(3):
                for i in range(firsts[s], firsts[s + 1]):
                    finite &= _phase(x, w_in, b_in, w_out, weights, s, order, blocks, i, tree, phase, path_node,
                                     path_pre, work_tokens, work_nodes, out, written)
    _finish(x, kept, out, written, residual)
    return finite


def _walk_parallel(x, w_in, b_in, w_out, chosen, weights, kept, residual, out):  # pragma: no cover - compiled
    order, blocks, firsts = _plan(chosen, kept, w_in.shape[0])
    path_node, path_pre, work_tokens, work_nodes, written = _scratch(x, w_in)
    finite = np.ones(blocks.shape[0], np.bool_)
    # slots one after another: a token has one block per slot, so a slot's blocks never share
    # an output row; phases one after another: a group is sorted between its blocks' descents
    for s in range(chosen.shape[1]):
        for tree in range(w_in.shape[1]):
            for phase in range(3):
                for i in numba.prange(firsts[s], firsts[s + 1]):
                    finite[i] &= _phase(x, w_in, b_in, w_out, weights, s, order, blocks, i, tree, phase, path_node,
                                        path_pre, work_tokens, work_nodes, out, written)
    _finish(x, kept, out, written, residual)
    ok = True
    for f in finite:  # a loop: finite.all() would be one more parallel region
        ok &= f
    return ok


_ROUTE_TYPES = (IN_2D, IN_2D, numba.int64, _IN_MASK, numba.boolean, numba.boolean, OUT_2D, _OUT_CHOSEN, OUT_2D,
                _OUT_KEPT)
_WALK_TYPES = (IN_2D, _IN_4D, IN_3D, _IN_4D, _IN_CHOSEN, IN_2D, _IN_KEPT, numba.boolean, OUT_2D)

_ENTRIES = {
    ("route", False): Compiled(_route_serial, _ROUTE_TYPES),
    ("route", True): Compiled(_route_parallel, _ROUTE_TYPES, parallel=True),
    ("walk", False): Compiled(_walk_serial, _WALK_TYPES),
    ("walk", True): Compiled(_walk_parallel, _WALK_TYPES, parallel=True),
}

_COMPILE_SECONDS: dict[str, float] = {}


def _entry(name: str, parallel: bool):
    """The compiled entry, its compilation (or cache load) timed on first use."""
    key = f"{name}_parallel" if parallel else name
    start = time.perf_counter()
    compiled = _ENTRIES[name, parallel].run  # compiled, or loaded from the cache, on first use
    _COMPILE_SECONDS.setdefault(key, time.perf_counter() - start)
    return compiled


def compile_seconds() -> dict[str, float]:
    """Seconds the first use of each entry took to compile it, or to load it from numba's
    on-disk cache: ``route``, ``walk`` and their ``_parallel`` variants, those used so far."""
    return dict(_COMPILE_SECONDS)


# --------------------------------------------------------------------------------------------
# validation


def _check_experts(experts: object, d: int) -> tuple[int, int]:
    """``experts`` must be ``FFFExperts`` for tokens of width ``d``; returns ``(E, d_out)``."""
    if type(experts) is not FFFExperts:
        raise ValueError(f"experts must be FFFExperts (got {type(experts).__name__})")
    w_in, b_in, w_out = experts
    check_arrays(("w_in", w_in, 4), ("b_in", b_in, 3), ("w_out", w_out, 4))
    count, trees, nodes, _ = w_in.shape
    if nodes < 1 or (nodes + 1) & nodes:
        raise ValueError(f"w_in.shape[2] must be 2**(depth+1) - 1 nodes (got {nodes})")
    check_shape("w_in", w_in, ("E", "K", "N", d))
    check_shape("b_in", b_in, (count, trees, nodes))
    check_shape("w_out", w_out, (count, trees, nodes, "d_out"))
    return count, w_out.shape[3]


def _check_residual(residual: bool, d: int, d_out: int) -> None:
    if residual and d_out != d:
        raise ValueError(f"dropped='residual' needs d_out == d = {d} (got d_out = {d_out})")


def _walk(x: np.ndarray, experts: FFFExperts, chosen: np.ndarray, weights: np.ndarray, kept: np.ndarray,
          residual: bool, threads: bool) -> np.ndarray:
    """Run the walk entry on validated arguments; a non-finite result is traced to ``x`` or
    else to the weights on the paths taken."""
    out = np.empty((x.shape[0], experts.w_out.shape[3]), dtype=np.float32)
    if not _entry("walk", threads)(x, *experts, chosen, weights, kept, residual, out):
        check_finite("x", x)
        raise ValueError("the weights hold NaN or infinite values on the paths taken")
    return out


# --------------------------------------------------------------------------------------------
# public API


def moe_fff_forward(
    x: np.ndarray,
    router_w: np.ndarray,
    k: int,
    experts: FFFExperts,
    *,
    capacity_factor: float | None = None,
    unavailable: np.ndarray | None = None,
    renormalize: bool = True,
    dropped: Literal["zeros", "residual"] = "zeros",
    parallel: bool | None = None,
) -> np.ndarray:
    """One MoE layer of FFF experts, fused: ``moe_forward``'s arguments and result.

    Args:
        x: ``(T, d)`` float32 tokens.
        router_w: ``(d, E)`` float32 router weights.
        k: experts per token, ``1 <= k <= E``.
        experts: ``FFFExperts`` with ``E`` experts (C-contiguous float32).
        capacity_factor: None for dropless routing, else the router's capacity factor.
        unavailable: ``(E,)`` bool experts to mask out, or None.
        renormalize: rescale each token's surviving weights to sum to 1; False keeps the
            router's softmax probabilities.
        dropped: output of a token with no surviving expert, ``"zeros"`` or ``"residual"``
            (the token itself; needs ``d_out == d``).
        parallel: run on numba's threads (True) or serially (False); None: from
            ``PARALLEL_MIN_TOKENS`` tokens on.

    Returns:
        ``(T, d_out)`` float32, a new array; the inputs are not modified.

    Raises:
        ValueError: a wrong dtype, shape, ``k``, ``dropped`` or mask, naming the argument; a
            non-finite result, traced to ``x`` or else to the weights on the paths taken.
    """
    check_arrays(("x", x, 2), ("router_w", router_w, 2), contiguous=False)
    tokens, d = x.shape
    check_shape("router_w", router_w, (d, "E"))
    count = router_w.shape[1]
    expert_count, d_out = _check_experts(experts, d)
    if expert_count != count:
        raise ValueError(f"experts must hold E = {count} experts, router_w's columns (got {expert_count})")
    value = integer(k)
    if value is None or not 1 <= value <= count:
        raise ValueError(f"k must be an int in [1, E = {count}] (got {k!r})")
    k = value
    if dropped not in ("zeros", "residual"):
        raise ValueError(f"dropped must be 'zeros' or 'residual' (got {dropped!r})")
    _check_residual(dropped == "residual", d, d_out)
    if unavailable is None:
        mask = np.zeros(count, dtype=np.bool_)
    elif not isinstance(unavailable, np.ndarray) or unavailable.dtype != np.bool_:
        raise ValueError("unavailable must be an (E,) bool ndarray")
    else:
        check_shape("unavailable", unavailable, (count,))
        mask = np.ascontiguousarray(unavailable)
    x = np.ascontiguousarray(x)
    threads = runs_parallel(tokens, parallel)
    route = capacity_factor is None  # with a capacity, top_k_route ranks the whole batch
    logits = np.empty((tokens, count), dtype=np.float32)
    chosen = np.empty((tokens, k if route else 0), dtype=np.int32)
    weights = np.empty((tokens, k if route else 0), dtype=np.float32)
    kept = np.empty((tokens, k if route else 0), dtype=np.bool_)
    _entry("route", threads)(
        x, np.ascontiguousarray(router_w.T), k, mask, bool(renormalize), route, logits, chosen, weights, kept
    )
    if not route:
        chosen, weights, kept = top_k_route(logits, k, capacity_factor)
        if unavailable is not None or renormalize:
            weights, kept = mask_experts(chosen, weights, kept, mask, renormalize)
    return _walk(x, experts, chosen, weights, kept, dropped == "residual", threads)


def fff_mixture(
    x: np.ndarray,
    chosen: np.ndarray,
    weights: np.ndarray,
    kept: np.ndarray,
    experts: FFFExperts,
    *,
    pass_through: bool = False,
    parallel: bool | None = None,
) -> np.ndarray:
    """The layer after routing, for a routing made elsewhere: each token through its kept
    experts' trees, weighted and summed in place.

    ``out[t] = sum over kept slots s of weights[t, s] * FFF chosen[t, s] (x[t])``.

    Args:
        x: ``(T, d)`` float32 tokens.
        chosen: ``(T, k)`` int32 expert indices; ``weights``: ``(T, k)`` float32;
            ``kept``: ``(T, k)`` bool (False: the slot contributes nothing).
        experts: ``FFFExperts`` with ``E`` experts.
        pass_through: a token with no kept slot outputs itself (needs ``d_out == d``) instead
            of zeros.
        parallel: as ``moe_fff_forward``.

    Returns:
        ``(T, d_out)`` float32, a new array.

    Raises:
        ValueError: as ``moe_fff_forward``, and ``chosen`` outside ``[0, E)``.
    """
    check_arrays(("x", x, 2), ("weights", weights, 2), contiguous=False)
    tokens, d = x.shape
    count, d_out = _check_experts(experts, d)
    if not isinstance(chosen, np.ndarray) or chosen.dtype != np.int32 or chosen.ndim != 2:
        raise ValueError("chosen must be a (T, k) int32 ndarray")
    check_shape("chosen", chosen, (tokens, "k"))
    check_shape("weights", weights, chosen.shape)
    if not isinstance(kept, np.ndarray) or kept.dtype != np.bool_:
        raise ValueError("kept must be a (T, k) bool ndarray")
    check_shape("kept", kept, chosen.shape)
    if chosen.size and (chosen.min() < 0 or chosen.max() >= count):
        raise ValueError(f"chosen must hold expert indices in [0, E = {count})")
    _check_residual(pass_through, d, d_out)
    return _walk(
        np.ascontiguousarray(x), experts, np.ascontiguousarray(chosen), np.ascontiguousarray(weights),
        np.ascontiguousarray(kept), bool(pass_through), runs_parallel(tokens, parallel),
    )
