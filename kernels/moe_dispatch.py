"""Mixture-of-Experts forward pass: gather tokens into expert blocks, run experts, combine.

Routing (:mod:`neural_actors.kernels.moe`) decides which expert sees which token; this module
moves the data. Tokens are gathered into one contiguous block per expert (no padding to
capacity, so no FLOPs are spent on empty slots), each expert runs once on its whole block
(one BLAS matmul pair for dense experts, one batched tree walk for FFF experts), and the
weighted outputs are scattered back to token order.

Why this split: expert compute is the only part that scales with model width, so it goes to
the fastest code available (BLAS, which releases the GIL and brings its own threads); the
bookkeeping around it is memory-bound copying that numba does in one pass, serially for small
batches (a parallel launch costs more than copying a few rows) and with ``prange`` over rows
above :data:`PARALLEL_MIN_TOKENS`. Serial and parallel kernels add in the same order, so they
give bit-identical results. The router matmul is numba too (see :func:`router_logits`): a BLAS
call there leaves OpenBLAS threads spinning on the cores the parallel kernels need next.

Policies:

* Overflow: capacity drops are decided by the router; a dropped assignment contributes nothing.
* Dropped tokens (no surviving assignment): output zeros, or the token itself
  (``dropped="residual"``, Switch Transformer's pass-through; needs ``d_out == d``).
* Masking (:func:`mask_experts`): assignments to unavailable experts are removed; with
  ``renormalize=True`` each token's surviving weights are rescaled to sum to 1 (hivemind's
  DMoE softmax over the experts that answered). A token with no survivor gets zero weights and
  is dropped, never NaN.
* Dense experts use ReLU: exact in every implementation, so the references agree bit-for-bit
  up to BLAS summation order, and cheaper than erf-GeLU in numpy.

All functions are pure: inputs are never modified, results are new float32 arrays.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numba
import numpy as np

from .checks import FASTMATH, check_arrays, check_shape, integer
from .fff import ultrafast_infer
from .moe import dispatch_plan, top_k_route

__all__ = [
    "PARALLEL_MIN_TOKENS",
    "DenseExperts",
    "FFFExperts",
    "combine",
    "dense_experts",
    "fff_experts",
    "gather_tokens",
    "mask_experts",
    "moe_forward",
    "router_logits",
    "runs_parallel",
]

#: Rows from which the router, gather and combine use the ``prange`` kernels (the crossover
#: ``benchmarks/moe.py --threshold`` measures; ``docs/kernels-moe.md``, "Threads").
PARALLEL_MIN_TOKENS = 256


class DenseExperts(NamedTuple):
    """``E`` ReLU feedforward experts: ``relu(x @ w1[e] + b1[e]) @ w2[e] + b2[e]``.

    Shapes: ``w1 (E, d, h)``, ``b1 (E, h)``, ``w2 (E, h, d_out)``, ``b2 (E, d_out)``, float32.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


class FFFExperts(NamedTuple):
    """``E`` UltraFastBERT FFF experts, each ``K`` trees (see :func:`~.fff.ultrafast_infer`).

    Shapes: ``w_in (E, K, N, d)``, ``b_in (E, K, N)``, ``w_out (E, K, N, d_out)``, float32,
    C-contiguous, ``N = 2**(depth + 1) - 1``.
    """

    w_in: np.ndarray
    b_in: np.ndarray
    w_out: np.ndarray


# --- compiled kernels -------------------------------------------------------------------

@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _logits_token(x, router_t, out, t):  # pragma: no cover - compiled
    """Four experts per pass over the token: one load of ``x[t, j]`` feeds four FMAs."""
    experts, d = router_t.shape
    e = 0
    while e + 4 <= experts:
        a0 = a1 = a2 = a3 = np.float32(0.0)
        for j in range(d):
            v = x[t, j]
            a0 += v * router_t[e, j]
            a1 += v * router_t[e + 1, j]
            a2 += v * router_t[e + 2, j]
            a3 += v * router_t[e + 3, j]
        out[t, e], out[t, e + 1], out[t, e + 2], out[t, e + 3] = a0, a1, a2, a3
        e += 4
    for rest in range(e, experts):
        total = np.float32(0.0)
        for j in range(d):
            total += x[t, j] * router_t[rest, j]
        out[t, rest] = total


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH)
def _logits_serial(x, router_t, out):  # pragma: no cover - compiled
    for t in range(x.shape[0]):
        _logits_token(x, router_t, out, t)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
def _logits_parallel(x, router_t, out):  # pragma: no cover - compiled
    for t in numba.prange(x.shape[0]):
        _logits_token(x, router_t, out, t)


@numba.njit(cache=True, nogil=True)
def _gather_serial(x, order, k, out):  # pragma: no cover - compiled
    for i in range(order.shape[0]):
        out[i, :] = x[order[i] // k, :]


@numba.njit(cache=True, nogil=True, parallel=True)
def _gather_parallel(x, order, k, out):  # pragma: no cover - compiled
    for i in numba.prange(order.shape[0]):
        out[i, :] = x[order[i] // k, :]


@numba.njit(cache=True, nogil=True)
def _positions(order, assignments):  # pragma: no cover - compiled
    """Row of each flat assignment in ``order`` (-1: not dispatched), and whether an assignment
    repeats (``order`` is already known to lie in ``[0, assignments)``)."""
    position = np.full(assignments, -1, dtype=np.int64)
    for i in range(order.shape[0]):
        a = order[i]
        if position[a] >= 0:
            return position, True
        position[a] = i
    return position, False


@numba.njit(cache=True, nogil=True, inline="always")
def _combine_token(expert_out, position, weights, pass_through, residual, out, t):  # pragma: no cover
    k = weights.shape[1]
    dispatched = False
    for s in range(k):
        p = position[t * k + s]
        if p >= 0:
            dispatched = True
            w = weights[t, s]
            for j in range(out.shape[1]):
                out[t, j] += w * expert_out[p, j]
    if residual and not dispatched:
        out[t, :] = pass_through[t, :]


@numba.njit(cache=True, nogil=True)
def _combine_serial(expert_out, position, weights, pass_through, residual, out):  # pragma: no cover
    for t in range(out.shape[0]):
        _combine_token(expert_out, position, weights, pass_through, residual, out, t)


@numba.njit(cache=True, nogil=True, parallel=True)
def _combine_parallel(expert_out, position, weights, pass_through, residual, out):  # pragma: no cover
    for t in numba.prange(out.shape[0]):
        _combine_token(expert_out, position, weights, pass_through, residual, out, t)


@numba.njit(cache=True, nogil=True)
def _bias_relu(hidden, bias):  # pragma: no cover - compiled
    """``hidden = maximum(hidden + bias, 0)`` in place, in one pass (numpy needs two); NaN stays
    NaN as in ``np.maximum``."""
    for i in range(hidden.shape[0]):
        for j in range(hidden.shape[1]):
            value = hidden[i, j] + bias[j]
            hidden[i, j] = np.float32(0.0) if value <= 0 else value


@numba.njit(cache=True, nogil=True)
def _mask(chosen, weights, kept, unavailable, renormalize, new_weights, new_kept):  # pragma: no cover
    tokens, k = chosen.shape
    for t in range(tokens):
        total = np.float32(0.0)
        survivors = 0
        for s in range(k):
            alive = kept[t, s] and not unavailable[chosen[t, s]]
            new_kept[t, s] = alive
            new_weights[t, s] = weights[t, s] if alive else np.float32(0.0)
            if alive:
                total += weights[t, s]
                survivors += 1
        if renormalize and survivors > 0:
            for s in range(k):
                if new_kept[t, s]:
                    # Survivors whose softmax weights all underflowed to 0 share equally.
                    new_weights[t, s] = new_weights[t, s] / total if total > 0 else np.float32(1.0 / survivors)


# --- validation -------------------------------------------------------------------------


def _float32(name: str, array: object, ndim: int) -> np.ndarray:
    """``array`` if it is a float32 ndarray of rank ``ndim``, else ValueError naming it."""
    check_arrays((name, array, ndim), contiguous=False)
    return array


def _order(order: object, assignments: int) -> np.ndarray:
    """``order`` as a contiguous int64 vector of flat assignment indices below ``assignments``."""
    if not isinstance(order, np.ndarray) or order.ndim != 1 or not np.issubdtype(order.dtype, np.integer):
        raise ValueError("order must be a 1-D integer ndarray of flat assignment indices")
    if order.size and (order.min() < 0 or order.max() >= assignments):
        raise ValueError(f"order must hold indices in [0, T*k = {assignments})")
    return np.ascontiguousarray(order, dtype=np.int64)


def _k(k: object) -> int:
    count = integer(k)
    if count is None or count < 1:
        raise ValueError(f"k must be a positive int (got {k!r})")
    return count


def _offsets(offsets: object, rows: int) -> np.ndarray:
    """``offsets`` as a non-decreasing int vector from 0 to ``rows``."""
    if not isinstance(offsets, np.ndarray) or offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
        raise ValueError("offsets must be a 1-D integer ndarray of E + 1 block bounds")
    if offsets.size < 1 or offsets[0] != 0 or offsets[-1] != rows or np.any(np.diff(offsets) < 0):
        raise ValueError(f"offsets must rise from 0 to the number of rows {rows}")
    return offsets


# --- public API -------------------------------------------------------------------------


def runs_parallel(rows: int, parallel: bool | None = None) -> bool:
    """Whether ``router_logits``, ``gather_tokens`` and ``combine`` run their ``prange`` kernel
    on ``rows`` rows: ``parallel`` if given (True or False forces one), else from
    ``PARALLEL_MIN_TOKENS`` rows on. Every one of them asks this, once per call, so it is also
    where to learn which kernel a call takes. ``moe_forward`` asks with ``T`` rows for the
    router and the combine and with the dispatched assignments' count for the gather.
    """
    return rows >= PARALLEL_MIN_TOKENS if parallel is None else parallel


def router_logits(x: np.ndarray, router_w: np.ndarray, *, parallel: bool | None = None) -> np.ndarray:
    """Router logits ``x @ router_w``, computed in numba rather than BLAS.

    After a threaded BLAS call OpenBLAS's worker threads keep spinning for a while and take
    the cores that the parallel numba kernels after it need (``docs/kernels-moe.md``,
    "Threads"). A GEMM with only ``E`` columns is small, so numba's slower dot products cost
    less than that stall.

    Args:
        x: ``(T, d)`` float32 tokens; ``router_w``: ``(d, E)`` float32.
        parallel: force the serial or ``prange`` kernel; None picks by ``T``.

    Returns:
        ``(T, E)`` float32.
    """
    _float32("x", x, 2)
    _float32("router_w", router_w, 2)
    check_shape("router_w", router_w, (x.shape[1], "E"))
    out = np.empty((x.shape[0], router_w.shape[1]), dtype=np.float32)
    kernel = _logits_parallel if runs_parallel(x.shape[0], parallel) else _logits_serial
    kernel(np.ascontiguousarray(x), np.ascontiguousarray(router_w.T), out)
    return out


def gather_tokens(x: np.ndarray, order: np.ndarray, k: int, *, parallel: bool | None = None) -> np.ndarray:
    """Copy the token of each dispatched assignment into expert-contiguous rows.

    Args:
        x: ``(T, d)`` float32 tokens.
        order: ``(S,)`` flat assignment indices ``token * k + slot`` grouped by expert
            (from :func:`~.moe.dispatch_plan`).
        k: experts per token.
        parallel: force the serial (False) or ``prange`` (True) kernel; None picks by size.

    Returns:
        ``(S, d)`` float32, row ``i`` = ``x[order[i] // k]``.
    """
    _float32("x", x, 2)
    k = _k(k)
    order = _order(order, x.shape[0] * k)
    out = np.empty((order.shape[0], x.shape[1]), dtype=np.float32)
    kernel = _gather_parallel if runs_parallel(order.shape[0], parallel) else _gather_serial
    kernel(np.ascontiguousarray(x), order, k, out)
    return out


def combine(
    expert_out: np.ndarray,
    order: np.ndarray,
    weights: np.ndarray,
    tokens: int,
    k: int,
    *,
    pass_through: np.ndarray | None = None,
    parallel: bool | None = None,
) -> np.ndarray:
    """Weighted scatter of expert outputs back to token order.

    ``out[t] = sum over slots s dispatched of weights[t, s] * expert_out[row of (t, s)]``,
    adding slots in order. A token with no dispatched assignment gets zeros, or
    ``pass_through[t]`` when given (the residual policy).

    Args:
        expert_out: ``(S, d_out)`` float32, rows in ``order``.
        order: ``(S,)`` distinct flat assignment indices ``token * k + slot``.
        weights: ``(T, k)`` float32 combine weights.
        tokens, k: ``T`` and experts per token.
        pass_through: ``(T, d_out)`` float32 output for dropped tokens, or None for zeros.
        parallel: force the serial or ``prange`` kernel; None picks by ``T``.

    Returns:
        ``(T, d_out)`` float32.
    """
    _float32("expert_out", expert_out, 2)
    _float32("weights", weights, 2)
    count = integer(tokens)
    if count is None or count < 0:
        raise ValueError(f"tokens must be a non-negative int (got {tokens!r})")
    tokens = count
    k = _k(k)
    check_shape("weights", weights, (tokens, k))
    order = _order(order, tokens * k)
    check_shape("order", order, (expert_out.shape[0],))
    d_out = expert_out.shape[1]
    if pass_through is None:
        residual, pass_through = False, np.empty((0, d_out), dtype=np.float32)
    else:
        residual = True
        check_shape("pass_through", _float32("pass_through", pass_through, 2), (tokens, d_out))
    position, repeats = _positions(order, tokens * k)
    if repeats:
        raise ValueError("order must not repeat an assignment")
    out = np.zeros((tokens, d_out), dtype=np.float32)
    kernel = _combine_parallel if runs_parallel(tokens, parallel) else _combine_serial
    kernel(
        np.ascontiguousarray(expert_out), position, np.ascontiguousarray(weights),
        np.ascontiguousarray(pass_through), residual, out,
    )
    return out


def mask_experts(
    chosen: np.ndarray,
    weights: np.ndarray,
    kept: np.ndarray,
    unavailable: np.ndarray,
    renormalize: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove assignments to unavailable experts, optionally renormalising the rest.

    Args:
        chosen: ``(T, k)`` int32 expert indices; ``weights``: ``(T, k)`` float32;
            ``kept``: ``(T, k)`` bool (False: already dropped for capacity).
        unavailable: ``(E,)`` bool, True for experts that cannot serve.
        renormalize: rescale each token's surviving weights to sum to 1 (survivors whose
            weights are all 0 share equally).

    Returns:
        New ``(weights, kept)``: removed and previously dropped assignments have weight 0 and
        ``kept`` False; a token with no survivor has all-zero weights (it is dropped).
    """
    if not isinstance(chosen, np.ndarray) or chosen.dtype != np.int32 or chosen.ndim != 2:
        raise ValueError("chosen must be a (T, k) int32 ndarray")
    check_shape("weights", _float32("weights", weights, 2), chosen.shape)
    if not isinstance(kept, np.ndarray) or kept.dtype != np.bool_:
        raise ValueError("kept must be a bool ndarray")
    check_shape("kept", kept, chosen.shape)
    if not isinstance(unavailable, np.ndarray) or unavailable.dtype != np.bool_ or unavailable.ndim != 1:
        raise ValueError("unavailable must be an (E,) bool ndarray")
    if chosen.size and (chosen.min() < 0 or chosen.max() >= unavailable.shape[0]):
        raise ValueError(f"chosen must hold expert indices in [0, E = {unavailable.shape[0]})")
    new_weights = np.empty(chosen.shape, dtype=np.float32)
    new_kept = np.empty(chosen.shape, dtype=np.bool_)
    _mask(
        np.ascontiguousarray(chosen), np.ascontiguousarray(weights), np.ascontiguousarray(kept),
        np.ascontiguousarray(unavailable), bool(renormalize), new_weights, new_kept,
    )
    return new_weights, new_kept


def _check_dense(experts: DenseExperts, d: int) -> tuple[int, int]:
    """Validate dense expert weights for tokens of width ``d``; returns ``(E, d_out)``."""
    w1, b1, w2, b2 = (_float32(n, a, r) for n, a, r in zip(("w1", "b1", "w2", "b2"), experts, (3, 2, 3, 2)))
    count, _, hidden = w1.shape
    check_shape("w1", w1, ("E", d, "h"))
    check_shape("b1", b1, (count, hidden))
    check_shape("w2", w2, (count, hidden, "d_out"))
    check_shape("b2", b2, (count, w2.shape[2]))
    return count, w2.shape[2]


def _check_fff(experts: FFFExperts, d: int) -> tuple[int, int]:
    """Validate FFF expert weights for tokens of width ``d`` (C-contiguous, so that each
    expert's trees are views the kernel takes as they are); returns ``(E, d_out)``."""
    w_in, b_in, w_out = experts
    check_arrays(("w_in", w_in, 4), ("b_in", b_in, 3), ("w_out", w_out, 4))
    count, trees, nodes, _ = w_in.shape
    check_shape("w_in", w_in, ("E", "K", "N", d))
    check_shape("b_in", b_in, (count, trees, nodes))
    check_shape("w_out", w_out, (count, trees, nodes, "d_out"))
    return count, w_out.shape[3]


def _dense_blocks(tokens: np.ndarray, offsets: np.ndarray, experts: DenseExperts, d_out: int) -> np.ndarray:
    """``dense_experts`` on validated arguments."""
    w1, b1, w2, b2 = experts
    out = np.empty((tokens.shape[0], d_out), dtype=np.float32)
    largest = int(np.diff(offsets).max()) if len(offsets) > 1 else 0
    buffer = np.empty((largest, w1.shape[2]), dtype=np.float32)
    for e in range(len(offsets) - 1):
        start, stop = int(offsets[e]), int(offsets[e + 1])
        if start == stop:
            continue
        hidden = np.matmul(tokens[start:stop], w1[e], out=buffer[: stop - start])
        _bias_relu(hidden, np.ascontiguousarray(b1[e]))
        block = out[start:stop]
        np.matmul(hidden, w2[e], out=block)
        block += b2[e]
    return out


def _fff_blocks(tokens: np.ndarray, offsets: np.ndarray, experts: FFFExperts, d_out: int) -> np.ndarray:
    """``fff_experts`` on validated arguments: the kernel checks each block in compiled code."""
    w_in, b_in, w_out = experts
    out = np.empty((tokens.shape[0], d_out), dtype=np.float32)
    for e in range(len(offsets) - 1):
        start, stop = int(offsets[e]), int(offsets[e + 1])
        if start < stop:
            ultrafast_infer(tokens[start:stop], w_in[e], b_in[e], w_out[e], out=out[start:stop])
    return out


#: Each kind of experts: how its weights are validated, and how its blocks are run once they are.
_KINDS = {DenseExperts: (_check_dense, _dense_blocks), FFFExperts: (_check_fff, _fff_blocks)}


def _run_experts(
    tokens: object, offsets: object, experts: DenseExperts | FFFExperts, kind: type
) -> np.ndarray:
    """Validate the arguments of ``dense_experts`` or ``fff_experts`` (``kind``), then run the
    blocks."""
    _float32("tokens", tokens, 2)
    check, run = _KINDS[kind]
    count, d_out = check(experts, tokens.shape[1])
    offsets = _offsets(offsets, tokens.shape[0])
    check_shape("offsets", offsets, (count + 1,))
    return run(np.ascontiguousarray(tokens), offsets, experts, d_out)


def dense_experts(tokens: np.ndarray, offsets: np.ndarray, experts: DenseExperts) -> np.ndarray:
    """Run expert ``e`` on rows ``offsets[e]:offsets[e + 1]`` of ``tokens``, one matmul pair each.

    BLAS releases the GIL and threads each matmul; bias and ReLU are one fused numba pass over
    a hidden buffer reused across experts (no page faults on a fresh buffer per block); empty
    blocks are skipped.

    Returns:
        ``(S, d_out)`` float32.
    """
    return _run_experts(tokens, offsets, experts, DenseExperts)


def fff_experts(tokens: np.ndarray, offsets: np.ndarray, experts: FFFExperts) -> np.ndarray:
    """Run FFF expert ``e`` (:func:`~.fff.ultrafast_infer`) on its block of ``tokens``.

    Returns:
        ``(S, d_out)`` float32.
    """
    return _run_experts(tokens, offsets, experts, FFFExperts)


def moe_forward(
    x: np.ndarray,
    router_w: np.ndarray,
    k: int,
    experts: DenseExperts | FFFExperts,
    *,
    capacity_factor: float | None = None,
    unavailable: np.ndarray | None = None,
    renormalize: bool = True,
    dropped: Literal["zeros", "residual"] = "zeros",
    parallel: bool | None = None,
) -> np.ndarray:
    """One MoE layer: route (``x @ router_w``, top-k, capacity), mask, gather, experts, combine.

    Args:
        x: ``(T, d)`` float32 tokens.
        router_w: ``(d, E)`` float32 router weights.
        k: experts per token, ``1 <= k <= E``.
        experts: :class:`DenseExperts` or :class:`FFFExperts` with ``E`` experts.
        capacity_factor: None for dropless routing, else the router's capacity factor.
        unavailable: ``(E,)`` bool experts to mask out, or None.
        renormalize: rescale each token's surviving weights to sum to 1 (hivemind's DMoE);
            False keeps the router's softmax probabilities.
        dropped: output for tokens with no surviving assignment, ``"zeros"`` or
            ``"residual"`` (the token itself; needs ``d_out == d``).
        parallel: force the router, gather and combine kernels serial or parallel; None
            picks by size (see :func:`runs_parallel`).

    Returns:
        ``(T, d_out)`` float32.
    """
    _float32("x", x, 2)
    tokens, d = x.shape
    _float32("router_w", router_w, 2)
    check_shape("router_w", router_w, (d, "E"))
    count = router_w.shape[1]
    if type(experts) not in _KINDS:
        # ValueError, not TypeError: every bad argument of this module raises ValueError.
        raise ValueError(f"experts must be DenseExperts or FFFExperts (got {type(experts).__name__})")
    check, run = _KINDS[type(experts)]
    expert_count, d_out = check(experts, d)
    if expert_count != count:
        raise ValueError(f"experts must hold E = {count} experts, router_w's columns (got {expert_count})")
    if dropped not in ("zeros", "residual"):
        raise ValueError(f"dropped must be 'zeros' or 'residual' (got {dropped!r})")
    if dropped == "residual" and d_out != d:
        raise ValueError(f"dropped='residual' needs d_out == d = {d} (got d_out = {d_out})")
    if unavailable is not None:
        if not isinstance(unavailable, np.ndarray) or unavailable.dtype != np.bool_:
            raise ValueError("unavailable must be an (E,) bool ndarray")
        check_shape("unavailable", unavailable, (count,))

    chosen, weights, kept = top_k_route(router_logits(x, router_w, parallel=parallel), k, capacity_factor)
    if unavailable is not None or renormalize:
        mask = np.zeros(count, dtype=np.bool_) if unavailable is None else unavailable
        weights, kept = mask_experts(chosen, weights, kept, mask, renormalize)
    order, offsets = dispatch_plan(chosen, kept, count)
    rows = gather_tokens(x, order, k, parallel=parallel)
    expert_out = run(rows, offsets, experts, d_out)  # validated once, above
    pass_through = x if dropped == "residual" else None
    return combine(expert_out, order, weights, tokens, k, pass_through=pass_through, parallel=parallel)
