"""Load trained PyTorch FFF weights into the numba kernels of :mod:`neural_actors.kernels.fff`.

The kernels take plain float32 arrays in one fixed layout; the two reference implementations
store their parameters differently and, for the leaf variant, break ties the other way. These
converters do that bookkeeping once, so a checkpoint trained with either reference runs on
the kernels and gives the reference's answers.

PyTorch is optional: it is imported only when a conversion needs it, and this module imports
without it (``pip install 'neural-actors[torch]'`` adds it).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from .aligned import aligned
from .checks import check_shape

__all__ = ["leaf_weights_from_fastfeedforward", "ultrafast_weights_from_state_dict"]

_LEAF_ATTRIBUTES = ("node_weights", "node_biases", "w1s", "b1s", "w2s", "b2s")


def _import_torch() -> ModuleType:
    """PyTorch, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "converting PyTorch FFF weights needs PyTorch; install it with "
            "pip install 'neural-actors[torch]'"
        ) from error
    return torch


def _to_float32(value: Any, name: str) -> np.ndarray:
    """A C-contiguous float32 copy of a floating-point ndarray or torch tensor."""
    if not isinstance(value, np.ndarray):
        torch = _import_torch()
        if not isinstance(value, torch.Tensor):
            kind = type(value).__name__
            raise ValueError(f"{name} must be a torch.Tensor or numpy array (got {kind})")
        if not value.is_floating_point():
            raise ValueError(f"{name} must hold floating-point values (got {value.dtype})")
        value = value.detach().to("cpu", torch.float32).numpy()
    elif not np.issubdtype(value.dtype, np.floating):
        raise ValueError(f"{name} must hold floating-point values (got {value.dtype})")
    return np.array(value, dtype=np.float32, order="C")


def _mirror_order(depth: int) -> np.ndarray:
    """Node order of the left-right mirror of a depth-``depth`` heap: each level reversed."""
    return np.array(
        [node for level in range(depth) for node in range(2 ** (level + 1) - 2, 2**level - 2, -1)],
        dtype=np.int64,
    )


def leaf_weights_from_fastfeedforward(module: Any) -> dict[str, np.ndarray]:
    """Arrays for :func:`~neural_actors.kernels.fff_leaf.fff_leaf_infer` from a ``fastfeedforward.FFF``.

    The reference (``fastfeedforward`` 0.2.x) numbers nodes as a heap, children of ``i`` at
    ``2i + 1`` (left) and ``2i + 2`` (right), like our kernel, but its hard ``eval_forward``
    goes right when the node logit is ``>= 0`` where ours goes right only when it is ``> 0``.
    To reproduce its walk exactly, ties included, the tree is mirrored: every node's weight
    and bias are negated and each level (leaves too) is stored in reverse order, so our
    "``-logit > 0`` goes right" is its "``logit < 0`` goes left".

    The reference's ``eval_forward`` omits the leaf output bias ``b2s`` that its training path
    adds: a bug, which makes a trained model answer differently in eval mode. ``leaf_b2``
    carries ``b2s`` and our kernel adds it, matching the training path with hard decisions;
    pass ``np.zeros_like(leaf_b2)`` to reproduce ``eval_forward`` instead. (Its
    ``eval_forward`` also fails on a depth-0 tree; the conversion handles that depth.)

    Returns:
        ``node_w``, ``node_b``, ``leaf_w1``, ``leaf_b1``, ``leaf_w2``, ``leaf_b2``: float32,
        C-contiguous, starting on a cache line or a huge page (``aligned``), in the shapes
        :func:`fff_leaf_infer` takes.

    Raises:
        ImportError: PyTorch is not installed.
        ValueError: ``module`` lacks one of the reference's parameters, has inconsistent
            shapes, or uses a leaf activation other than ReLU (the only one the kernel has).
    """
    torch = _import_torch()
    for attribute in _LEAF_ATTRIBUTES:
        if not hasattr(module, attribute):
            raise ValueError(f"module has no {attribute!r}; expected a fastfeedforward.FFF")
    if not isinstance(getattr(module, "activation", None), torch.nn.ReLU):
        raise ValueError(
            f"module.activation must be torch.nn.ReLU, the kernel's leaf activation "
            f"(got {type(getattr(module, 'activation', None)).__name__})"
        )
    node_w, node_b, w1, b1, w2, b2 = (_to_float32(getattr(module, a), a) for a in _LEAF_ATTRIBUTES)
    check_shape("w1s", w1, ("2**depth", "input_width", "leaf_width"))
    check_shape("w2s", w2, ("2**depth", "leaf_width", "output_width"))
    leaves, d_in, width = w1.shape
    depth = leaves.bit_length() - 1
    if leaves < 1 or 2**depth != leaves:
        raise ValueError(f"w1s.shape[0] must be a power of two, 2**depth leaves (got {leaves})")
    d_out = w2.shape[2]
    expected = {
        "node_weights": (node_w, (leaves - 1, d_in)), "node_biases": (node_b, (leaves - 1, 1)),
        "b1s": (b1, (leaves, width)), "w2s": (w2, (leaves, width, d_out)),
        "b2s": (b2, (leaves, d_out)),
    }
    for name, (array, shape) in expected.items():
        check_shape(name, array, shape, f" for depth {depth}")
    order = _mirror_order(depth)
    converted = {
        "node_w": -node_w[order], "node_b": -node_b[order, 0], "leaf_w1": w1[::-1],
        "leaf_b1": b1[::-1], "leaf_w2": w2[::-1], "leaf_b2": b2[::-1],
    }
    return {name: aligned(array) for name, array in converted.items()}


def ultrafast_weights_from_state_dict(
    state_dict: Mapping[str, Any], *, depth: int, prefix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(w_in, b_in, w_out)`` for :func:`~neural_actors.kernels.fff.ultrafast_infer`: float32,
    C-contiguous, starting on a cache line or a huge page (``aligned``).

    Reads UltraFastBERT's ``FFF`` layer (``training/cramming/architectures/fff.py``):
    ``linear_in.weight`` ``(K * N, d_in)``, ``linear_in.bias`` ``(K * N,)`` and
    ``linear_out.weight`` ``(d_out, K * N)`` (no output bias), with ``N = 2**(depth + 1) - 1``
    nodes per tree, trees outermost. Its heap numbering and its branch rule (right when the
    pre-activation is ``> 0``) are ours, so only the layout changes. ``depth`` is needed
    because ``K * N`` alone does not say how many trees there are (UltraFastBERT's config
    calls it ``intermed_depth``; ``K`` is ``intermed_size``).

    Args:
        state_dict: name to torch tensor or numpy array, e.g. a model's ``state_dict()``.
        depth: the tree depth ``D``.
        prefix: the layer's name in ``state_dict``, e.g. ``"encoder.layers.0.ffn"``.

    Raises:
        ImportError: a value is not a numpy array and PyTorch is not installed.
        ValueError: a missing key, a value that is not a floating-point tensor or array, or a
            wrong shape, naming the key.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ValueError(f"depth must be a non-negative int (got {depth!r})")
    if prefix and not prefix.endswith("."):
        prefix += "."
    keys = ("linear_in.weight", "linear_in.bias", "linear_out.weight")
    names = tuple(prefix + key for key in keys)
    for name in names:
        if name not in state_dict:
            raise ValueError(f"state_dict has no {name!r}")
    weight_in, bias_in, weight_out = (_to_float32(state_dict[name], name) for name in names)
    nodes = 2 ** (depth + 1) - 1
    check_shape(names[0], weight_in, (f"trees * {nodes}", "d_in"), f" for depth {depth}")
    rows, d_in = weight_in.shape
    trees = rows // nodes
    if trees == 0 or rows % nodes:
        raise ValueError(f"{names[0]}.shape[0] must be a positive multiple of {nodes}, trees * {nodes} "
                         f"nodes for depth {depth} (got {rows})")
    check_shape(names[1], bias_in, (rows,))
    check_shape(names[2], weight_out, ("d_out", rows))
    return (
        aligned(weight_in.reshape(trees, nodes, d_in)),
        aligned(bias_in.reshape(trees, nodes)),
        aligned(weight_out.T.reshape(trees, nodes, weight_out.shape[0])),  # one copy: aligned makes it contiguous
    )
