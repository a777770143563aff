"""Plain-numpy references of the MoE dispatch kernels: slow, obvious, and what the tests trust.

:func:`moe_forward_reference` is the dense reference: it routes with the routing reference
(:func:`~.moe_reference.top_k_route_reference`, so it depends on no kernel), then sends every
token through each of its selected experts one token at a time, with no gather, no blocks and
no scatter.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .fff_reference import ultrafast_infer_reference
from .moe_dispatch import DenseExperts, FFFExperts
from .moe_reference import top_k_route_reference

__all__ = [
    "combine_reference",
    "dense_expert_reference",
    "gather_tokens_reference",
    "mask_experts_reference",
    "moe_forward_reference",
]


def gather_tokens_reference(x: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
    """Row ``i`` is the token of assignment ``order[i]``."""
    return x[np.asarray(order, dtype=np.int64) // k]


def combine_reference(
    expert_out: np.ndarray,
    order: np.ndarray,
    weights: np.ndarray,
    tokens: int,
    k: int,
    pass_through: np.ndarray | None = None,
) -> np.ndarray:
    """Slot by slot, add ``weights[t, s] * expert_out[row]``; undispatched tokens get
    ``pass_through`` (or stay zero)."""
    out = np.zeros((tokens, expert_out.shape[1]), dtype=np.float32)
    token, slot = np.divmod(np.asarray(order, dtype=np.int64), k)
    for s in range(k):
        rows = np.flatnonzero(slot == s)
        out[token[rows]] += weights[token[rows], s][:, None] * expert_out[rows]
    if pass_through is not None:
        dropped = np.setdiff1d(np.arange(tokens), token)
        out[dropped] = pass_through[dropped]
    return out


def mask_experts_reference(
    chosen: np.ndarray, weights: np.ndarray, kept: np.ndarray, unavailable: np.ndarray, renormalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Survivors are kept assignments to available experts; with ``renormalize`` their
    weights are divided by their sum (equal shares if that sum is 0)."""
    new_kept = kept & ~unavailable[chosen]
    new_weights = np.where(new_kept, weights, np.float32(0.0)).astype(np.float32)
    if renormalize:
        for t in range(chosen.shape[0]):
            alive = new_kept[t]
            if alive.any():
                total = np.float32(0.0)
                for w in new_weights[t, alive]:
                    total += w
                if total > 0:
                    new_weights[t, alive] /= total
                else:
                    new_weights[t, alive] = np.float32(1.0 / alive.sum())
    return new_weights, new_kept


def dense_expert_reference(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """``relu(x @ w1 + b1) @ w2 + b2``."""
    return np.maximum(x @ w1 + b1, np.float32(0.0)) @ w2 + b2


def moe_forward_reference(
    x: np.ndarray,
    router_w: np.ndarray,
    k: int,
    experts: DenseExperts | FFFExperts,
    *,
    capacity_factor: float | None = None,
    unavailable: np.ndarray | None = None,
    renormalize: bool = True,
    dropped: Literal["zeros", "residual"] = "zeros",
) -> np.ndarray:
    """Each token, alone, through each of its surviving experts, weighted and summed."""
    count = router_w.shape[1]
    chosen, weights, kept = top_k_route_reference(x @ router_w, k, capacity_factor)
    mask = np.zeros(count, dtype=bool) if unavailable is None else unavailable
    if unavailable is not None or renormalize:
        weights, kept = mask_experts_reference(chosen, weights, kept, mask, renormalize)
    d_out = (experts.w2 if isinstance(experts, DenseExperts) else experts.w_out).shape[-1]
    out = np.zeros((x.shape[0], d_out), dtype=np.float32)
    for t in range(x.shape[0]):
        token = x[t : t + 1]
        for s in range(k):
            if not kept[t, s]:
                continue
            e = chosen[t, s]
            if isinstance(experts, DenseExperts):
                y = dense_expert_reference(token, experts.w1[e], experts.b1[e], experts.w2[e], experts.b2[e])
            else:
                y = ultrafast_infer_reference(token, experts.w_in[e], experts.b_in[e], experts.w_out[e])
            out[t] += weights[t, s] * y[0]
        if dropped == "residual" and not kept[t].any():
            out[t] = x[t]
    return out
