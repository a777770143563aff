"""Fast FeedForward (FFF) hard inference: one root-to-leaf path per token.

UltraFastBERT's variant: every node of a balanced binary tree of depth ``D`` is a GeLU neuron;
a token evaluates only the ``D + 1`` neurons on its path, choosing the right child when the
pre-activation is positive (exactly 0 goes left, child ``2i + 1``), and the output sums those
neurons' activations times their output weights. With ``D = 11`` a token touches 12 of 4,095
neurons, which is where the speed-up over a dense layer of the same width comes from.

Two kernels share one inner walk: a serial one for small batches (starting threads costs more
than a few tokens' work) and one parallel over tokens. At the top levels every token reads the
same weight rows, which stay in cache for the whole batch.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["PARALLEL_MIN_BATCH", "fff_leaf_infer", "ultrafast_infer"]

#: Below this many tokens the serial kernel wins (measured: the parallel launch costs ~20 us).
PARALLEL_MIN_BATCH = 64

_SQRT_HALF = np.float32(1.0 / math.sqrt(2.0))

#: Let LLVM reorder the dot products into SIMD lanes, but not assume values are finite: the
#: NaN checks after the kernel must still see NaNs.
_FASTMATH = {"reassoc", "contract", "nsz"}


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _walk(x, w_in, b_in, w_out, out, token, depth):  # pragma: no cover - compiled
    trees = w_in.shape[0]
    d_in = x.shape[1]
    d_out = w_out.shape[2]
    for k in range(trees):
        node = 0
        for _ in range(depth + 1):
            pre = b_in[k, node]
            for j in range(d_in):
                pre += w_in[k, node, j] * x[token, j]
            act = np.float32(0.5) * pre * (np.float32(1.0) + math.erf(pre * _SQRT_HALF))
            for j in range(d_out):
                out[token, j] += act * w_out[k, node, j]
            node = 2 * node + 2 if pre > 0 else 2 * node + 1


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _infer_serial(x, w_in, b_in, w_out, out, depth):  # pragma: no cover - compiled
    for token in range(x.shape[0]):
        _walk(x, w_in, b_in, w_out, out, token, depth)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, parallel=True)
def _infer_parallel(x, w_in, b_in, w_out, out, depth):  # pragma: no cover - compiled
    for token in numba.prange(x.shape[0]):
        _walk(x, w_in, b_in, w_out, out, token, depth)


def ultrafast_infer(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, w_out: np.ndarray) -> np.ndarray:
    """UltraFastBERT FFF hard inference, K trees side by side, outputs summed.

    Args:
        x: ``(B, d_in)`` float32 tokens.
        w_in: ``(K, N, d_in)`` float32 node weights, ``N = 2**(depth + 1) - 1``.
        b_in: ``(K, N)`` float32 node biases.
        w_out: ``(K, N, d_out)`` float32 output weights.

    Returns:
        ``(B, d_out)`` float32, a new array; the inputs are not modified.

    Raises:
        ValueError: a wrong dtype, shape or node count, naming the argument; non-finite values
            in ``x`` or in the weights on the paths taken.
    """
    depth = _check(x, w_in, b_in, w_out)
    out = np.zeros((x.shape[0], w_out.shape[2]), dtype=np.float32)
    kernel = _infer_parallel if x.shape[0] >= PARALLEL_MIN_BATCH else _infer_serial
    kernel(x, w_in, b_in, w_out, out, depth)
    _check_finite(out, x)
    return out


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, token, depth):  # pragma: no cover - compiled
    node = 0
    for _ in range(depth):
        logit = node_b[node]
        for j in range(x.shape[1]):
            logit += node_w[node, j] * x[token, j]
        node = 2 * node + 2 if logit > 0 else 2 * node + 1
    leaf = node - (2**depth - 1)
    for j in range(w2.shape[2]):
        out[token, j] = b2[leaf, j]
    for h in range(w1.shape[2]):
        pre = b1[leaf, h]
        for j in range(x.shape[1]):
            pre += x[token, j] * w1[leaf, j, h]
        if pre > 0:  # ReLU, the reference implementation's default leaf activation
            for j in range(w2.shape[2]):
                out[token, j] += pre * w2[leaf, h, j]


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _leaf_serial(x, node_w, node_b, w1, b1, w2, b2, out, depth):  # pragma: no cover - compiled
    for token in range(x.shape[0]):
        _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, token, depth)


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH, parallel=True)
def _leaf_parallel(x, node_w, node_b, w1, b1, w2, b2, out, depth):  # pragma: no cover - compiled
    for token in numba.prange(x.shape[0]):
        _leaf_walk(x, node_w, node_b, w1, b1, w2, b2, out, token, depth)


def fff_leaf_infer(
    x: np.ndarray,
    node_w: np.ndarray,
    node_b: np.ndarray,
    leaf_w1: np.ndarray,
    leaf_b1: np.ndarray,
    leaf_w2: np.ndarray,
    leaf_b2: np.ndarray,
) -> np.ndarray:
    """FFF with leaves, hard inference: descend ``depth`` node classifiers, run one leaf.

    Each leaf is a ReLU feedforward of width ``l``, with its output bias (the reference
    implementation's eval path drops ``leaf_b2``, which its training path adds; we keep it).

    Args:
        x: ``(B, d_in)`` float32 tokens.
        node_w: ``(2**depth - 1, d_in)`` node classifier weights; ``node_b``: ``(2**depth - 1,)``.
        leaf_w1: ``(2**depth, d_in, l)``; ``leaf_b1``: ``(2**depth, l)``.
        leaf_w2: ``(2**depth, l, d_out)``; ``leaf_b2``: ``(2**depth, d_out)``.

    Returns:
        ``(B, d_out)`` float32, a new array.

    Raises:
        ValueError: a wrong dtype, shape or leaf count, naming the argument; non-finite values.
    """
    _check_arrays(
        ("x", x, 2), ("node_w", node_w, 2), ("node_b", node_b, 1), ("leaf_w1", leaf_w1, 3),
        ("leaf_b1", leaf_b1, 2), ("leaf_w2", leaf_w2, 3), ("leaf_b2", leaf_b2, 2),
    )
    leaves, d_in, width = leaf_w1.shape
    depth = int(round(math.log2(leaves))) if leaves > 0 else -1
    if leaves < 1 or 2**depth != leaves:
        raise ValueError(f"leaf_w1.shape[0] must be a power of two, 2**depth leaves (got {leaves})")
    expected = {
        "x": (x.shape[0], d_in), "node_w": (leaves - 1, d_in), "node_b": (leaves - 1,),
        "leaf_b1": (leaves, width), "leaf_w2": (leaves, width, leaf_w2.shape[2]),
        "leaf_b2": (leaves, leaf_w2.shape[2]),
    }
    for name, array in (("x", x), ("node_w", node_w), ("node_b", node_b), ("leaf_b1", leaf_b1),
                        ("leaf_w2", leaf_w2), ("leaf_b2", leaf_b2)):
        if array.shape != expected[name]:
            raise ValueError(f"{name} must have shape {expected[name]} for depth {depth} (got {array.shape})")
    out = np.empty((x.shape[0], leaf_w2.shape[2]), dtype=np.float32)
    kernel = _leaf_parallel if x.shape[0] >= PARALLEL_MIN_BATCH else _leaf_serial
    kernel(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2, out, depth)
    _check_finite(out, x)
    return out


def _check_arrays(*specs: tuple[str, np.ndarray, int]) -> None:
    """Each ``(name, array, ndim)`` must be a C-contiguous float32 array of that rank."""
    for name, array, ndim in specs:
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"{name} must be a float32 ndarray (got {got}); convert with .astype(np.float32)")
        if array.ndim != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions (got shape {array.shape})")
        if not array.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")


def _check_finite(out: np.ndarray, x: np.ndarray) -> None:
    """Trace a non-finite result back to its cause.

    Checking every weight on every call would cost more than the inference itself (6M floats
    at BERT-base sizes), so only the result and the input are scanned.
    """
    if not np.isfinite(out).all():
        if not np.isfinite(x).all():
            raise ValueError("x holds NaN or infinite values")
        raise ValueError("the weights hold NaN or infinite values on the paths taken")


def _check(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, w_out: np.ndarray) -> int:
    """Validate the arguments; returns the tree depth."""
    _check_arrays(("x", x, 2), ("w_in", w_in, 3), ("b_in", b_in, 2), ("w_out", w_out, 3))
    trees, nodes, d_in = w_in.shape
    depth = int(round(math.log2(nodes + 1))) - 1 if nodes > 0 else -1
    if nodes < 1 or 2 ** (depth + 1) - 1 != nodes:
        raise ValueError(f"w_in.shape[1] must be 2**(depth+1) - 1 nodes (got {nodes})")
    if x.shape[1] != d_in:
        raise ValueError(f"x.shape[1] must equal w_in.shape[2] = {d_in} (got {x.shape[1]})")
    if b_in.shape != (trees, nodes):
        raise ValueError(f"b_in must have shape {(trees, nodes)} (got {b_in.shape})")
    if w_out.shape[:2] != (trees, nodes):
        raise ValueError(f"w_out must have shape ({trees}, {nodes}, d_out) (got {w_out.shape})")
    return depth
