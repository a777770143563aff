"""Plain-numpy reference of the fused FFF MoE layer: slow, obvious, and what the tests trust.

It routes with the routing references (``top_k_route_reference``, ``mask_experts_reference``)
and then, slot by slot and tree by tree, walks every token's chosen tree level by level with
numpy fancy indexing: each token reads its own expert's row, so no token is gathered into an
expert block and no output is scattered back, as in the fused kernel.
"""

from __future__ import annotations

import math

import numpy as np

from .fff_reference import gelu_reference
from .moe_dispatch import FFFExperts
from .moe_dispatch_reference import mask_experts_reference
from .moe_reference import top_k_route_reference

__all__ = ["fff_mixture_reference", "moe_fff_forward_reference"]


def fff_mixture_reference(
    x: np.ndarray, chosen: np.ndarray, weights: np.ndarray, kept: np.ndarray, experts: FFFExperts,
    *, pass_through: bool = False,
) -> np.ndarray:
    """``out[t] = sum over kept slots s of weights[t, s] * FFF chosen[t, s] (x[t])``; a token with
    no kept slot gets zeros, or itself with ``pass_through``."""
    w_in, b_in, w_out = experts
    tokens = x.shape[0]
    trees, nodes = w_in.shape[1], w_in.shape[2]
    depth = round(math.log2(nodes + 1)) - 1
    out = np.zeros((tokens, w_out.shape[3]), dtype=np.float32)
    for s in range(chosen.shape[1]):
        expert = chosen[:, s].astype(np.int64)
        weight = np.where(kept[:, s], weights[:, s], np.float32(0.0)).astype(np.float32)
        for k in range(trees):
            node = np.zeros(tokens, dtype=np.int64)
            for _ in range(depth + 1):
                pre = np.einsum("td,td->t", x, w_in[expert, k, node]) + b_in[expert, k, node]
                out += (weight * gelu_reference(pre))[:, None] * w_out[expert, k, node]
                node = 2 * node + 1 + (pre > 0)
    if pass_through:
        dropped = ~kept.any(axis=1)
        out[dropped] = x[dropped]
    return out


def moe_fff_forward_reference(
    x: np.ndarray,
    router_w: np.ndarray,
    k: int,
    experts: FFFExperts,
    *,
    capacity_factor: float | None = None,
    unavailable: np.ndarray | None = None,
    renormalize: bool = True,
    dropped: str = "zeros",
) -> np.ndarray:
    """Route (logits, top-k, capacity, mask), then ``fff_mixture_reference``."""
    count = router_w.shape[1]
    chosen, weights, kept = top_k_route_reference(x @ router_w, k, capacity_factor)
    if unavailable is not None or renormalize:
        mask = np.zeros(count, dtype=bool) if unavailable is None else unavailable
        weights, kept = mask_experts_reference(chosen, weights, kept, mask, renormalize)
    return fff_mixture_reference(x, chosen, weights, kept, experts, pass_through=dropped == "residual")
