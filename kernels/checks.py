"""Argument checks shared by the kernels.

A kernel given a wrong array would compile a new specialisation or read out of bounds, so
every public kernel checks its arrays, and a bad one is named with what was expected: first,
or (the FFF inference entries, compiled for one signature) once numba has refused them.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

__all__ = ["check_arrays", "integer"]


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


def integer(value: object) -> int | None:
    """``value`` as an int if it is an integer, Python's or numpy's (not a bool), else None:
    the caller names the argument and the range it needs."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return None
