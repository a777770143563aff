"""Plain-numpy references of the FFF training kernels: slow, obvious, and what the tests trust.

They are written differently from the kernels on purpose: a leaf's mixture weight is the
explicit product of the factors on its path, and the node gradients differentiate that product
factor by factor, so a shared mistake is unlikely. Every reference computes in float64 and
returns arrays in the dtype of ``x`` (or of the inputs), so float64 parameters give a float64
path suitable for finite differences.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "adam_step_reference",
    "fff_soft_backward_reference",
    "fff_soft_forward_reference",
    "hardening_loss_reference",
    "sigmoid_reference",
]


def sigmoid_reference(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` without overflow; exactly 0 or 1 for large ``|z|``."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _paths(depth: int) -> list[list[tuple[int, bool]]]:
    """For each leaf, the ``(node, went_right)`` pairs on its root-to-leaf path."""
    paths = []
    for leaf in range(2**depth):
        position, path = leaf + 2**depth - 1, []
        while position > 0:
            parent = (position - 1) // 2
            path.append((parent, position == 2 * parent + 2))
            position = parent
        paths.append(path[::-1])
    return paths


def _leaves(x, node_w, node_b, w1, b1, w2, b2):
    """Node probabilities, per-leaf factors ``(B, L, depth)``, pre-activations and leaf outputs."""
    x, node_w, node_b, w1, b1, w2, b2 = (np.asarray(a, dtype=np.float64) for a in (x, node_w, node_b, w1, b1, w2, b2))
    depth = round(math.log2(w1.shape[0]))
    probs = sigmoid_reference(x @ node_w.T + node_b)
    factors = np.ones((x.shape[0], 2**depth, depth))
    for leaf, path in enumerate(_paths(depth)):
        for level, (node, right) in enumerate(path):
            factors[:, leaf, level] = probs[:, node] if right else 1.0 - probs[:, node]
    pre = np.einsum("bd,ldh->blh", x, w1) + b1
    out = np.einsum("blh,lho->blo", np.maximum(pre, 0.0), w2) + b2
    return x, probs, factors, pre, out


def fff_soft_forward_reference(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2):
    """``y = sum_leaf prod(path factors) * (relu(x @ w1 + b1) @ w2 + b2)``; also the node
    probabilities ``sigmoid(x @ node_w.T + node_b)``. Returns ``(y, probs)``."""
    _, probs, factors, _, out = _leaves(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)
    y = np.einsum("bl,blo->bo", factors.prod(axis=2), out)
    return y.astype(x.dtype), probs.astype(x.dtype)


def fff_soft_backward_reference(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2, grad_y, grad_probs=None):
    """Gradients of ``sum(grad_y * y) + sum(grad_probs * probs)`` w.r.t. ``(node_w, node_b,
    leaf_w1, leaf_b1, leaf_w2, leaf_b2)``, by the chain rule written out in numpy."""
    x64, probs, factors, pre, out = _leaves(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)
    gy = np.asarray(grad_y, dtype=np.float64)
    depth = factors.shape[2]
    mix = factors.prod(axis=2)  # (B, L)
    dmix = np.einsum("blo,bo->bl", out, gy)
    dprobs = np.zeros_like(probs) if grad_probs is None else np.asarray(grad_probs, dtype=np.float64).copy()
    for leaf, path in enumerate(_paths(depth)):
        for level, (node, right) in enumerate(path):
            others = np.prod(np.delete(factors[:, leaf, :], level, axis=1), axis=1)
            dprobs[:, node] += (1.0 if right else -1.0) * others * dmix[:, leaf]
    dlogit = dprobs * probs * (1.0 - probs)
    hidden = np.maximum(pre, 0.0)
    dpre = np.einsum("bl,lho,bo->blh", mix, np.asarray(leaf_w2, dtype=np.float64), gy) * (pre > 0)
    grads = (
        dlogit.T @ x64,
        dlogit.sum(axis=0),
        np.einsum("bd,blh->ldh", x64, dpre),
        dpre.sum(axis=0),
        np.einsum("bl,blh,bo->lho", mix, hidden, gy),
        np.einsum("bl,bo->lo", mix, gy),
    )
    return tuple(g.astype(x.dtype) for g in grads)


def hardening_loss_reference(probs: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean of ``-p ln p - (1 - p) ln(1 - p)`` and its gradient ``ln((1 - p) / p) / size``,
    with ``0 ln 0 = 0`` and the gradient set to 0 where ``p`` is exactly 0 or 1."""
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        return 0.0, np.zeros(p.shape, dtype=probs.dtype)
    soft = (p > 0) & (p < 1)
    q = np.where(soft, p, 0.5)  # keeps log() finite where the mask discards the value
    entropy = np.where(soft, -q * np.log(q) - (1 - q) * np.log(1 - q), 0.0)
    grad = np.where(soft, np.log(1 - q) - np.log(q), 0.0) / p.size
    return float(entropy.mean()), grad.astype(probs.dtype)


def adam_step_reference(params, grads, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """One Adam step number ``t`` (1-based); returns new ``(params, m, v)`` lists, inputs untouched.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g**2``,
    ``p -= lr * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)``.
    """
    b1, b2 = betas
    new_p, new_m, new_v = [], [], []
    for p, g, mi, vi in zip(params, grads, m, v):
        g64 = np.asarray(g, dtype=np.float64)
        mi = b1 * np.asarray(mi, dtype=np.float64) + (1 - b1) * g64
        vi = b2 * np.asarray(vi, dtype=np.float64) + (1 - b2) * g64**2
        step = lr * (mi / (1 - b1**t)) / (np.sqrt(vi / (1 - b2**t)) + eps)
        new_p.append((p - step).astype(p.dtype))
        new_m.append(mi.astype(p.dtype))
        new_v.append(vi.astype(p.dtype))
    return new_p, new_m, new_v
