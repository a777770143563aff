"""Mixture-of-Experts routing and dispatch: which expert gets which token, and in what order.

Token-choice routing: a softmax over expert logits, the top ``k`` experts per token (ties go
to the lower expert index), and, with a capacity factor, at most
``capacity = ceil(capacity_factor * k * T / E)`` assignments per expert. Overflow policy: the
lowest-priority assignments are dropped, where every token's first choice outranks any second
choice and, within a rank, earlier tokens outrank later ones (GShard's order). Without a
capacity factor routing is dropless.

Dispatch: a stable counting sort of the kept (token, slot) assignments by expert gives one
permutation and per-expert offsets, so experts see contiguous blocks with no padding.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["dispatch_plan", "top_k_route"]


@numba.njit(cache=True, nogil=True)
def _route(logits, k, capacity, chosen, weights, kept):  # pragma: no cover - compiled
    tokens, experts = logits.shape
    probs = np.empty(experts, dtype=np.float32)
    for t in range(tokens):
        top = logits[t, 0]
        for e in range(1, experts):
            top = max(top, logits[t, e])
        total = np.float32(0.0)
        for e in range(experts):
            probs[e] = math.exp(logits[t, e] - top)
            total += probs[e]
        for e in range(experts):
            probs[e] /= total
        for slot in range(k):
            best = -1
            for e in range(experts):
                taken = False
                for s in range(slot):
                    if chosen[t, s] == e:
                        taken = True
                if not taken and (best < 0 or probs[e] > probs[best]):
                    best = e
            chosen[t, slot] = best
            weights[t, slot] = probs[best]
    if capacity >= 0:
        load = np.zeros(experts, dtype=np.int64)
        for slot in range(k):
            for t in range(tokens):
                e = chosen[t, slot]
                if load[e] < capacity:
                    load[e] += 1
                else:
                    kept[t, slot] = False


@numba.njit(cache=True, nogil=True)
def _plan(chosen, kept, experts):  # pragma: no cover - compiled
    flat_experts = chosen.reshape(-1)
    flat_kept = kept.reshape(-1)
    offsets = np.zeros(experts + 1, dtype=np.int64)
    for i in range(flat_experts.shape[0]):
        if flat_kept[i]:
            offsets[flat_experts[i] + 1] += 1
    for e in range(experts):
        offsets[e + 1] += offsets[e]
    cursor = offsets[:-1].copy()
    order = np.empty(offsets[experts], dtype=np.int64)
    for i in range(flat_experts.shape[0]):
        if flat_kept[i]:
            e = flat_experts[i]
            order[cursor[e]] = i
            cursor[e] += 1
    return order, offsets


def top_k_route(
    logits: np.ndarray, k: int, capacity_factor: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Route each token to its top ``k`` experts, within capacity.

    Args:
        logits: ``(T, E)`` float32 router logits.
        k: experts per token, ``1 <= k <= E``.
        capacity_factor: ``None`` for dropless routing, else capacity per expert is
            ``ceil(capacity_factor * k * T / E)``.

    Returns:
        ``chosen`` ``(T, k)`` int32 expert indices, ``weights`` ``(T, k)`` float32 softmax
        probabilities, ``kept`` ``(T, k)`` bool (False where capacity dropped the assignment).

    Raises:
        ValueError: bad dtype, shape, ``k`` or capacity factor.
    """
    if not isinstance(logits, np.ndarray) or logits.dtype != np.float32 or logits.ndim != 2:
        raise ValueError("logits must be a (T, E) float32 ndarray")
    tokens, experts = logits.shape
    if type(k) is not int or not 1 <= k <= experts:
        raise ValueError(f"k must be an int from 1 to E={experts} (got {k!r})")
    if capacity_factor is not None and not capacity_factor > 0:
        raise ValueError(f"capacity_factor must be > 0 or None (got {capacity_factor!r})")
    capacity = -1 if capacity_factor is None else math.ceil(capacity_factor * k * tokens / experts)
    chosen = np.empty((tokens, k), dtype=np.int32)
    weights = np.empty((tokens, k), dtype=np.float32)
    kept = np.ones((tokens, k), dtype=np.bool_)
    _route(np.ascontiguousarray(logits), k, capacity, chosen, weights, kept)
    return chosen, weights, kept


def dispatch_plan(chosen: np.ndarray, kept: np.ndarray, experts: int) -> tuple[np.ndarray, np.ndarray]:
    """The stable counting sort of kept assignments by expert.

    Returns:
        ``order``: flat assignment indices (``token * k + slot``) grouped by expert, in token
        order within each expert; ``offsets``: ``(E + 1,)``, expert ``e`` owns
        ``order[offsets[e]:offsets[e + 1]]``.
    """
    if chosen.shape != kept.shape:
        raise ValueError(f"kept must have the shape of chosen {chosen.shape} (got {kept.shape})")
    return _plan(np.ascontiguousarray(chosen), np.ascontiguousarray(kept), experts)
