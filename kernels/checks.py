"""Argument checks shared by the kernels, and the one statement of each rule they check.

A kernel given a wrong array would compile a new specialisation or read out of bounds, so
every public kernel checks its arrays, and a bad one is named with what was expected: first,
or (the FFF inference entries, compiled for one signature) once numba has refused them. Each
message is written once, here: a wrong dtype, rank, layout or shape, a non-finite value, a
non-integer count, and the shapes of an FFF with leaves (which its inference and training
kernels and ``neural_actors.fff_model`` share).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

__all__ = [
    "FASTMATH",
    "LEAF_PARAMETERS",
    "check_arrays",
    "check_finite",
    "check_leaf",
    "check_leaf_parameters",
    "check_shape",
    "integer",
    "leaf_shapes",
]

#: The kernels' fastmath flags: LLVM may reorder sums into SIMD lanes and fuse multiply-adds,
#: but may not assume values are finite (no ``nnan``/``ninf``), so that a NaN survives to the
#: finite checks that follow a kernel.
FASTMATH = {"reassoc", "contract", "nsz"}

#: An FFF with leaves' six parameter arrays, in the order the kernels take them.
LEAF_PARAMETERS = ("node_w", "node_b", "leaf_w1", "leaf_b1", "leaf_w2", "leaf_b2")


def check_arrays(*specs: tuple[str, object, int], contiguous: bool = True) -> None:
    """Each ``(name, array, ndim)`` must be a float32 ndarray of that rank (and C-contiguous,
    unless ``contiguous`` is False); else ``ValueError`` naming it."""
    for name, array, ndim in specs:
        if not isinstance(array, np.ndarray) or array.dtype != np.float32:
            got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"{name} must be a float32 ndarray (got {got}); convert with .astype(np.float32)")
        if array.ndim != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions (got shape {array.shape})")
        if contiguous and not array.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous; pass np.ascontiguousarray({name})")


def check_shape(name: str, array: np.ndarray, shape: tuple[int | str, ...], context: str = "") -> None:
    """``array`` must have ``shape``, in which a str stands for a size that may be anything and
    is shown as written (``("E", 768, "h")`` reads ``(E, 768, h)``); else ``ValueError``:
    ``"{name} must have shape {shape}{context} (got {array.shape})"``."""
    if len(array.shape) != len(shape) or any(
        not isinstance(size, str) and size != got for size, got in zip(shape, array.shape)
    ):
        shown = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{name} must have shape {shown}{context} (got {array.shape})")


def check_finite(name: str, array: np.ndarray) -> None:
    """``array`` must hold no NaN or infinity; else ``ValueError`` naming it."""
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")


def integer(value: object) -> int | None:
    """``value`` as an int if it is an integer, Python's or numpy's (not a bool), else None:
    the caller names the argument and the range it needs."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return None


def leaf_shapes(depth: int, d_in: int, d_out: int, leaf_width: int) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape for an FFF with leaves of ``depth``: ``2**depth - 1`` node
    classifiers route each token to one of ``2**depth`` leaves of ``leaf_width`` ReLU neurons."""
    leaves = 2**depth
    return {
        "node_w": (leaves - 1, d_in),
        "node_b": (leaves - 1,),
        "leaf_w1": (leaves, d_in, leaf_width),
        "leaf_b1": (leaves, leaf_width),
        "leaf_w2": (leaves, leaf_width, d_out),
        "leaf_b2": (leaves, d_out),
    }


#: Each parameter's rank.
_LEAF_RANKS = {name: len(shape) for name, shape in leaf_shapes(0, 1, 1, 1).items()}


def check_leaf_parameters(arrays: dict[str, object]) -> int:
    """The six parameters (``LEAF_PARAMETERS`` to arrays) must be float32, C-contiguous, of
    their ranks, and agree with ``leaf_w1``'s leaves, input and leaf widths and ``leaf_w2``'s
    output width; returns the depth, or raises ``ValueError`` naming the first that does not."""
    check_arrays(*((name, arrays[name], _LEAF_RANKS[name]) for name in LEAF_PARAMETERS))
    leaves, d_in, width = arrays["leaf_w1"].shape
    depth = leaves.bit_length() - 1
    if leaves < 1 or 2**depth != leaves:
        raise ValueError(f"leaf_w1.shape[0] must be a power of two, 2**depth leaves (got {leaves})")
    expected = leaf_shapes(depth, d_in, arrays["leaf_w2"].shape[2], width)
    for name in LEAF_PARAMETERS:
        check_shape(name, arrays[name], expected[name], f" for depth {depth}")
    return depth


def check_leaf(
    x: object, node_w: object, node_b: object, leaf_w1: object, leaf_b1: object, leaf_w2: object,
    leaf_b2: object,
) -> int:
    """The arguments of the kernels of an FFF with leaves: float32, C-contiguous, of the right
    ranks and of agreeing shapes, ``x`` ``(B, d_in)``; returns the depth."""
    check_arrays(("x", x, 2))
    parameters = (node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)
    depth = check_leaf_parameters(dict(zip(LEAF_PARAMETERS, parameters, strict=True)))
    check_shape("x", x, (x.shape[0], leaf_w1.shape[1]), f" for depth {depth}")
    return depth
