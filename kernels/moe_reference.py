"""Plain-numpy references of the MoE routing and dispatch kernels."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["dispatch_plan_reference", "top_k_route_reference"]


def top_k_route_reference(
    logits: np.ndarray, k: int, capacity_factor: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Softmax, top-k (ties to the lower expert index), then capacity by priority order:
    every token's first choice before any second choice, earlier tokens first."""
    tokens, experts = logits.shape
    shifted = logits - logits.max(axis=1, keepdims=True) if tokens else logits
    probs = np.exp(shifted)
    probs = probs / probs.sum(axis=1, keepdims=True) if tokens else probs
    chosen = np.argsort(-probs, axis=1, kind="stable")[:, :k].astype(np.int32)
    weights = np.take_along_axis(probs, chosen, axis=1).astype(np.float32)
    kept = np.ones((tokens, k), dtype=bool)
    if capacity_factor is not None:
        capacity = math.ceil(capacity_factor * k * tokens / experts)
        load = np.zeros(experts, dtype=np.int64)
        for slot in range(k):
            for token in range(tokens):
                expert = chosen[token, slot]
                if load[expert] < capacity:
                    load[expert] += 1
                else:
                    kept[token, slot] = False
    return chosen, weights, kept


def dispatch_plan_reference(chosen: np.ndarray, kept: np.ndarray, experts: int) -> tuple[np.ndarray, np.ndarray]:
    """Kept assignments (flat index ``token * k + slot``) sorted stably by expert, and offsets."""
    flat_experts = chosen.reshape(-1)
    flat_kept = np.flatnonzero(kept.reshape(-1))
    order = flat_kept[np.argsort(flat_experts[flat_kept], kind="stable")]
    counts = np.bincount(flat_experts[flat_kept], minlength=experts)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order.astype(np.int64), offsets
