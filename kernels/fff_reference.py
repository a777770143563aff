"""Plain-numpy references of the FFF kernels: slow, obvious, and what the tests trust.

Each reference walks the tree level by level for all tokens at once, with numpy only, so a
reader can check it against the papers line by line.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fff_leaf_infer_reference", "gelu_reference", "ultrafast_infer_reference"]

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_reference(x: np.ndarray) -> np.ndarray:
    """GeLU with the exact erf form (PyTorch's default, which UltraFastBERT trains with)."""
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(np.float32)


def ultrafast_infer_reference(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    """UltraFastBERT hard inference: each token walks one root-to-leaf path per tree.

    At node ``i`` the pre-activation is ``w_in[k, i] . x + b_in[k, i]``; the output gains
    ``gelu(pre) * w_out[k, i]``, and the walk goes to ``2i + 2`` if ``pre > 0``, else to
    ``2i + 1`` (a pre-activation of exactly 0 goes left). Trees are summed.
    """
    batch = x.shape[0]
    trees, nodes, _ = w_in.shape
    depth = round(math.log2(nodes + 1)) - 1
    y = np.zeros((batch, w_out.shape[2]), dtype=np.float32)
    for k in range(trees):
        node = np.zeros(batch, dtype=np.int64)
        for _ in range(depth + 1):
            pre = np.einsum("bd,bd->b", x, w_in[k, node]) + b_in[k, node]
            y += gelu_reference(pre)[:, None] * w_out[k, node]
            node = 2 * node + 1 + (pre > 0)
    return y


def fff_leaf_infer_reference(
    x: np.ndarray,
    node_w: np.ndarray,
    node_b: np.ndarray,
    leaf_w1: np.ndarray,
    leaf_b1: np.ndarray,
    leaf_w2: np.ndarray,
    leaf_b2: np.ndarray,
) -> np.ndarray:
    """FFF with leaves, hard: descend by the sign of each node's logit (0 goes left), then
    ``relu(x @ w1 + b1) @ w2 + b2`` of the leaf reached."""
    depth = round(math.log2(leaf_w1.shape[0]))
    node = np.zeros(x.shape[0], dtype=np.int64)
    for _ in range(depth):
        logit = np.einsum("bd,bd->b", x, node_w[node]) + node_b[node]
        node = 2 * node + 1 + (logit > 0)
    leaf = node - (2**depth - 1)
    hidden = np.maximum(np.einsum("bd,bdh->bh", x, leaf_w1[leaf]) + leaf_b1[leaf], 0.0)
    return (np.einsum("bh,bho->bo", hidden, leaf_w2[leaf]) + leaf_b2[leaf]).astype(np.float32)
