"""Training for FFF with leaves: soft mixture forward/backward, hardening loss, Adam.

Hard inference (``fff_leaf.fff_leaf_infer``) sends each token down one path, which has no gradient
w.r.t. the node classifiers. Belcak & Wattenhofer (2023) therefore train a *soft* tree: every
node ``n`` emits ``p_n = sigmoid(logit_n)``, a leaf's mixture weight is the product along its
path of ``p_n`` (right child) or ``1 - p_n`` (left child), and the output is the weighted sum of
all leaves. A hardening loss, the mean binary entropy of the ``p_n``, ramped up over training,
pushes every decision towards 0 or 1 so that the soft tree ends up computing what the hard walk
computes.

The backward pass runs in two race-free phases: per token (parallel over tokens) it computes the
logit gradients and the leaf hidden-layer gradients; then every parameter gradient is a sum over
tokens, computed in parallel over the parameters each iteration owns, so no two threads write the
same cell. Sums are accumulated in float64 and returned as float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numba
import numpy as np

from .checks import FASTMATH, LEAF_PARAMETERS, check_arrays, check_finite, check_leaf, check_shape

__all__ = [
    "Adam",
    "fff_soft_backward",
    "fff_soft_forward",
    "hardening_loss",
    "hardening_weight",
]

@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _sigmoid(z):  # pragma: no cover - compiled
    """Overflow-free sigmoid: saturates to exactly 0.0 or 1.0 for large ``|z|``."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, inline="always")
def _route(x, node_w, node_b, token, probs, mass):  # pragma: no cover - compiled
    """Fill ``probs[token]`` and ``mass[token]``: the path mass reaching every tree position.

    Positions are heap-ordered: nodes ``0 .. N-1`` then leaves ``N .. 2N``; a parent's index is
    below its children's, so one forward sweep suffices.
    """
    mass[token, 0] = 1.0
    for n in range(node_w.shape[0]):
        logit = np.float64(node_b[n])
        for j in range(x.shape[1]):
            logit += np.float64(node_w[n, j]) * x[token, j]
        p = _sigmoid(logit)
        probs[token, n] = p
        mass[token, 2 * n + 1] = mass[token, n] * (1.0 - p)
        mass[token, 2 * n + 2] = mass[token, n] * p


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
def _forward(x, node_w, node_b, w1, b1, w2, b2, y, probs):  # pragma: no cover - compiled
    nodes = node_w.shape[0]
    mass = np.empty((x.shape[0], 2 * nodes + 1))
    for token in numba.prange(x.shape[0]):
        _route(x, node_w, node_b, token, probs, mass)
        for leaf in range(w1.shape[0]):
            m = mass[token, nodes + leaf]
            for o in range(w2.shape[2]):
                y[token, o] += m * b2[leaf, o]
            for h in range(w1.shape[2]):
                pre = np.float64(b1[leaf, h])
                for j in range(x.shape[1]):
                    pre += np.float64(x[token, j]) * w1[leaf, j, h]
                if pre > 0.0:
                    for o in range(w2.shape[2]):
                        y[token, o] += m * pre * w2[leaf, h, o]


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
def _backward_tokens(  # pragma: no cover - compiled
    x, node_w, node_b, w1, b1, w2, b2, grad_y, grad_probs, mass, hidden, dpre, dlogit
):
    """Per token: path masses, ReLU outputs, hidden pre-activation and node logit gradients."""
    nodes = node_w.shape[0]
    probs = np.empty((x.shape[0], nodes))
    value = np.empty((x.shape[0], 2 * nodes + 1))  # d loss / d (mixture weight below a position)
    for token in numba.prange(x.shape[0]):
        _route(x, node_w, node_b, token, probs, mass)
        for leaf in range(w1.shape[0]):
            m = mass[token, nodes + leaf]
            dmix = 0.0
            for o in range(w2.shape[2]):
                dmix += np.float64(b2[leaf, o]) * grad_y[token, o]
            for h in range(w1.shape[2]):
                pre = np.float64(b1[leaf, h])
                for j in range(x.shape[1]):
                    pre += np.float64(x[token, j]) * w1[leaf, j, h]
                back = 0.0
                for o in range(w2.shape[2]):
                    back += np.float64(w2[leaf, h, o]) * grad_y[token, o]
                if pre > 0.0:
                    hidden[token, leaf, h] = pre
                    dpre[token, leaf, h] = m * back
                    dmix += pre * back
                else:
                    hidden[token, leaf, h] = 0.0
                    dpre[token, leaf, h] = 0.0
            value[token, nodes + leaf] = dmix
        for n in range(nodes - 1, -1, -1):
            p = probs[token, n]
            left = value[token, 2 * n + 1]
            right = value[token, 2 * n + 2]
            value[token, n] = (1.0 - p) * left + p * right
            dp = mass[token, n] * (right - left) + grad_probs[token, n]
            dlogit[token, n] = dp * p * (1.0 - p)


@numba.njit(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)
def _backward_params(  # pragma: no cover - compiled
    x, grad_y, mass, hidden, dpre, dlogit, g_nw, g_nb, g_w1, g_b1, g_w2, g_b2
):
    """Sum the per-token terms over tokens; each iteration owns distinct output cells."""
    batch, leaves, width = hidden.shape
    nodes = dlogit.shape[1]
    for n in numba.prange(nodes):
        for token in range(batch):
            d = dlogit[token, n]
            g_nb[n] += d
            for j in range(x.shape[1]):
                g_nw[n, j] += d * x[token, j]
    for leaf in numba.prange(leaves):
        for token in range(batch):
            m = mass[token, nodes + leaf]
            for o in range(grad_y.shape[1]):
                g_b2[leaf, o] += m * grad_y[token, o]
    for k in numba.prange(leaves * width):
        leaf = k // width
        h = k % width
        for token in range(batch):
            d = dpre[token, leaf, h]
            g_b1[leaf, h] += d
            for j in range(x.shape[1]):
                g_w1[leaf, j, h] += d * x[token, j]
            a = mass[token, nodes + leaf] * hidden[token, leaf, h]
            for o in range(grad_y.shape[1]):
                g_w2[leaf, h, o] += a * grad_y[token, o]


@numba.njit(cache=True, nogil=True)
def _entropy(probs, grad):  # pragma: no cover - compiled
    """Summed binary entropy of ``probs``; writes its unscaled derivative into ``grad``."""
    total = 0.0
    for b in range(probs.shape[0]):
        for n in range(probs.shape[1]):
            p = np.float64(probs[b, n])
            if 0.0 < p < 1.0:
                lp = math.log(p)
                lq = math.log1p(-p)
                total -= p * lp + (1.0 - p) * lq
                grad[b, n] = lq - lp
            else:
                grad[b, n] = 0.0
    return total


@numba.njit(cache=True, nogil=True)
def _adam_update(p, g, m, v, lr, beta1, beta2, eps, correction1, correction2):  # pragma: no cover - compiled
    for i in range(p.shape[0]):
        gi = np.float64(g[i])
        mi = beta1 * m[i] + (1.0 - beta1) * gi
        vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= lr * (mi / correction1) / (math.sqrt(vi / correction2) + eps)


def _check_params(*arrays: np.ndarray) -> int:
    """``x`` and the six parameters as the leaf kernels take them, and finite; returns depth."""
    depth = check_leaf(*arrays)
    for name, array in zip(("x", *LEAF_PARAMETERS), arrays, strict=True):
        check_finite(name, array)
    return depth


def _check_extra(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    """A float32, C-contiguous, finite array of exactly ``shape``."""
    check_arrays((name, array, len(shape)))
    check_shape(name, array, shape)
    check_finite(name, array)


def fff_soft_forward(
    x: np.ndarray,
    node_w: np.ndarray,
    node_b: np.ndarray,
    leaf_w1: np.ndarray,
    leaf_b1: np.ndarray,
    leaf_w2: np.ndarray,
    leaf_b2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft FFF forward: every leaf's ReLU output, weighted by its path probability.

    Arguments are shaped as for ``fff_leaf.fff_leaf_infer`` (float32, C-contiguous, finite).

    Returns:
        ``(y, probs)``: ``y`` is ``(B, d_out)`` float32; ``probs`` is ``(B, 2**depth - 1)``
        float32, ``sigmoid(logit)`` of every node, the probability of going right. For large
        ``|logit|`` a probability is exactly 0 or 1 and ``y`` is then the hard output.

    Raises:
        ValueError: a wrong dtype, rank, layout, shape or leaf count, or non-finite values,
            naming the argument.
    """
    _check_params(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)
    y = np.zeros((x.shape[0], leaf_w2.shape[2]))
    probs = np.empty((x.shape[0], node_w.shape[0]))
    _forward(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2, y, probs)
    return y.astype(np.float32), probs.astype(np.float32)


def fff_soft_backward(
    x: np.ndarray,
    node_w: np.ndarray,
    node_b: np.ndarray,
    leaf_w1: np.ndarray,
    leaf_b1: np.ndarray,
    leaf_w2: np.ndarray,
    leaf_b2: np.ndarray,
    grad_y: np.ndarray,
    grad_probs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``sum(grad_y * y) + sum(grad_probs * probs)`` for ``fff_soft_forward``.

    ``grad_probs`` (``(B, 2**depth - 1)``, optional) carries a loss on the node probabilities,
    such as ``hardening_loss``'s gradient times its weight. ReLU's derivative at 0 is taken as 0.
    Memory: two ``(B, 2**depth, l)`` float64 scratch arrays.

    Returns:
        float32 gradients w.r.t. ``(node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)``, each
        shaped like its parameter.

    Raises:
        ValueError: as ``fff_soft_forward``; ``grad_y`` not ``(B, d_out)`` or ``grad_probs`` not
            ``(B, 2**depth - 1)`` float32, naming the argument.
    """
    _check_params(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)
    batch = x.shape[0]
    leaves, _, width = leaf_w1.shape
    nodes = leaves - 1
    _check_extra("grad_y", grad_y, (batch, leaf_w2.shape[2]))
    if grad_probs is None:
        grad_probs = np.zeros((batch, nodes), dtype=np.float32)
    else:
        _check_extra("grad_probs", grad_probs, (batch, nodes))
    mass = np.empty((batch, 2 * nodes + 1))
    hidden = np.empty((batch, leaves, width))
    dpre = np.empty((batch, leaves, width))
    dlogit = np.empty((batch, nodes))
    _backward_tokens(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2, grad_y, grad_probs,
                     mass, hidden, dpre, dlogit)
    grads = tuple(np.zeros(p.shape) for p in (node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2))
    _backward_params(x, grad_y, mass, hidden, dpre, dlogit, *grads)
    return tuple(g.astype(np.float32) for g in grads)


def hardening_loss(probs: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean binary entropy of the node decisions; 0 when all are hard, ``ln 2`` when all are 0.5.

    Args:
        probs: ``(B, 2**depth - 1)`` float32 in ``[0, 1]``, as returned by ``fff_soft_forward``.

    Returns:
        ``(loss, grad_probs)``, the gradient float32 shaped like ``probs``. Where a probability is
        exactly 0 or 1 the gradient is set to 0 (it is infinite there, but times the sigmoid's
        derivative, as ``fff_soft_backward`` applies it, its limit w.r.t. the logit is 0).
        An empty ``probs`` (no tokens, or depth 0) gives ``(0.0, zeros)``.

    Raises:
        ValueError: ``probs`` not float32, 2-D, C-contiguous, with ``2**k - 1`` columns and
            values in ``[0, 1]``.
    """
    check_arrays(("probs", probs, 2))
    nodes = probs.shape[1]
    if (nodes + 1) & nodes:
        raise ValueError(f"probs.shape[1] must be 2**depth - 1 nodes (got {nodes})")
    if not ((probs >= 0.0) & (probs <= 1.0)).all():
        raise ValueError("probs must lie in [0, 1] (NaN or out-of-range values found)")
    grad = np.empty(probs.shape)
    if probs.size == 0:
        return 0.0, grad.astype(np.float32)
    total = _entropy(probs, grad)
    return total / probs.size, (grad / probs.size).astype(np.float32)


def hardening_weight(epoch: float, start: float, ramp: float, final: float) -> float:
    """Weight of the hardening loss at ``epoch``: a linear ramp.

    0 before ``start``; from ``start`` it rises linearly, reaching ``final`` at
    ``start + ramp`` and staying there. ``ramp == 0`` jumps to ``final`` at ``start``.

    Raises:
        ValueError: a non-finite argument, or a negative ``epoch``, ``start``, ``ramp`` or
            ``final``, naming it.
    """
    for name, value in (("epoch", epoch), ("start", start), ("ramp", ramp), ("final", final)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0 (got {value!r})")
    if epoch < start:
        return 0.0
    if ramp == 0 or epoch >= start + ramp:
        return float(final)
    return float(final) * (epoch - start) / ramp


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, updating float32 arrays in place.

    The moments are float32 like the parameters; each update is computed in float64.
    The parameter arrays passed in are the ones ``step`` modifies (that is the point); the
    gradients are only read.
    """

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        """Track ``params`` (float32, C-contiguous); raise ``ValueError`` on bad hyperparameters."""
        params = list(params)
        check_arrays(*((f"params[{i}]", p, getattr(p, "ndim", 0)) for i, p in enumerate(params)))
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0 (got {lr!r})")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1) (got {betas!r})")
        if not (math.isfinite(eps) and eps > 0):
            raise ValueError(f"eps must be a finite number > 0 (got {eps!r})")
        self.params = params
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Apply one update from ``grads`` (one float32 finite array per parameter, same shape)."""
        grads = list(grads)
        if len(grads) != len(self.params):
            raise ValueError(f"grads must hold {len(self.params)} arrays, one per parameter (got {len(grads)})")
        for i, (p, g) in enumerate(zip(self.params, grads)):
            _check_extra(f"grads[{i}]", g, p.shape)
        self.t += 1
        beta1, beta2 = self.betas
        correction1 = 1.0 - beta1**self.t
        correction2 = 1.0 - beta2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            _adam_update(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1),
                         self.lr, beta1, beta2, self.eps, correction1, correction2)
