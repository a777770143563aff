"""Plain-numpy references of the MoE routing, dispatch and router-loss kernels.

They take validated inputs and compute in float64, written for clarity rather than speed.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = [
    "dispatch_plan_reference",
    "expert_choice_route_reference",
    "gshard_route_reference",
    "load_balancing_loss_reference",
    "noisy_scores_reference",
    "router_z_loss_reference",
    "top_k_route_reference",
]


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Row softmax in float64; rows of zero experts stay empty."""
    scores = scores.astype(np.float64)
    if scores.shape[0] == 0:
        return scores
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    logits = logits.astype(np.float64)
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def _capacity(capacity_factor: float, assignments: int, experts: int) -> int:
    """``ceil(capacity_factor * assignments / experts)`` in exact arithmetic on the factor as
    written (``1.1`` is 11/10); any capacity of ``assignments`` or more drops nothing."""
    return min(math.ceil(Fraction(str(capacity_factor)) * assignments / experts), assignments)


def _drop_over_capacity(chosen: np.ndarray, kept: np.ndarray, capacity: int, experts: int) -> None:
    """First choices before second ones, earlier tokens first; dropped ones use no capacity."""
    load = np.zeros(experts, dtype=np.int64)
    for slot in range(chosen.shape[1]):
        for token in range(chosen.shape[0]):
            if not kept[token, slot]:
                continue
            expert = chosen[token, slot]
            if load[expert] < capacity:
                load[expert] += 1
            else:
                kept[token, slot] = False


def noisy_scores_reference(
    logits: np.ndarray, noise: np.ndarray, noise_logits: np.ndarray
) -> np.ndarray:
    """``H = logits + noise * softplus(noise_logits)`` in float64, rounded to float32."""
    softplus = np.logaddexp(0.0, noise_logits.astype(np.float64))
    return (logits.astype(np.float64) + noise.astype(np.float64) * softplus).astype(np.float32)


def top_k_route_reference(
    logits: np.ndarray,
    k: int,
    capacity_factor: float | None,
    *,
    noise: np.ndarray | None = None,
    noise_logits: np.ndarray | None = None,
    normalize: str = "softmax_all",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k of the scores (ties to the lower expert index), softmax over all experts or over the
    chosen ones, then capacity by priority order."""
    tokens, experts = logits.shape
    scores = logits if noise is None else noisy_scores_reference(logits, noise, noise_logits)
    chosen = np.argsort(-scores, axis=1, kind="stable")[:, :k].astype(np.int32)
    picked = np.take_along_axis(scores, chosen, axis=1)
    if normalize == "softmax_topk":
        weights = _softmax(picked)
    else:
        weights = np.take_along_axis(_softmax(scores), chosen, axis=1)
    kept = np.ones((tokens, k), dtype=bool)
    if capacity_factor is not None:
        _drop_over_capacity(chosen, kept, _capacity(capacity_factor, k * tokens, experts), experts)
    return chosen, weights.astype(np.float32), kept


def gshard_route_reference(
    logits: np.ndarray, capacity_factor: float | None, uniform: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-2 renormalised over the pair; second kept iff ``uniform < 2 * w2``; C per token."""
    tokens, experts = logits.shape
    chosen, weights, kept = top_k_route_reference(logits, 2, None, normalize="softmax_topk")
    if uniform is not None:
        kept[:, 1] = uniform < 2 * weights[:, 1]
    if capacity_factor is not None:
        _drop_over_capacity(chosen, kept, _capacity(capacity_factor, tokens, experts), experts)
    return chosen, weights, kept


def expert_choice_route_reference(
    logits: np.ndarray, capacity_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-token softmax; each expert's ``c`` most probable tokens, ties to the lower token."""
    tokens, experts = logits.shape
    c = _capacity(capacity_factor, tokens, experts)
    probs = _softmax(logits).astype(np.float32).T
    order = np.argsort(-probs, axis=1, kind="stable")[:, :c]
    return order.astype(np.int32), np.take_along_axis(probs, order, axis=1)


def load_balancing_loss_reference(
    logits: np.ndarray, chosen: np.ndarray, kept: np.ndarray | None, alpha: float
) -> tuple[float, np.ndarray]:
    """``alpha * E * sum_i f_i * P_i``, ``f_i`` the kept share of the ``T * k`` assignments; the
    gradient treats ``f`` as constant."""
    tokens, experts = logits.shape
    if tokens == 0:
        return 0.0, np.zeros((0, experts), dtype=np.float32)
    counted = chosen if kept is None else chosen[kept]
    fraction = np.bincount(counted.reshape(-1), minlength=experts) / chosen.size
    probs = _softmax(logits)
    loss = alpha * experts * float(fraction @ probs.mean(axis=0))
    grad = alpha * experts / tokens * probs * (fraction[None, :] - (probs @ fraction)[:, None])
    return loss, grad.astype(np.float32)


def router_z_loss_reference(logits: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``logsumexp(logits)**2`` and its gradient ``2 * lse * softmax / T``."""
    tokens, experts = logits.shape
    if tokens == 0:
        return 0.0, np.zeros((0, experts), dtype=np.float32)
    lse = _logsumexp(logits)
    grad = 2.0 * lse[:, None] * _softmax(logits) / tokens
    return float(np.mean(lse**2)), grad.astype(np.float32)


def dispatch_plan_reference(
    chosen: np.ndarray, kept: np.ndarray, experts: int
) -> tuple[np.ndarray, np.ndarray]:
    """Kept assignments (flat index ``token * k + slot``) sorted stably by expert, and offsets."""
    flat_experts = chosen.reshape(-1)
    flat_kept = np.flatnonzero(kept.reshape(-1))
    order = flat_kept[np.argsort(flat_experts[flat_kept], kind="stable")]
    counts = np.bincount(flat_experts[flat_kept], minlength=experts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order.astype(np.int64), offsets
