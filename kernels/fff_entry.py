"""How a call enters the FFF inference kernels: one compiled signature per path, checks that cost
nothing on good calls, and the choice between the walk and the level path.

Each path is entered through a function compiled for float32 C-contiguous arrays only
(``Compiled``), which checks the shapes itself: numba's dispatcher refuses any other argument
with a TypeError raised in C, and only then do the Python-side checks run, to say which
argument is wrong. A small call thus pays one dispatch instead of microseconds of Python checks.
The kernels report a non-finite result (``NonFinite``) instead of scanning their inputs, and
the result is traced back to its cause here.

Numba's on-disk cache keys a compiled function on its own module's file: a kernel that inlines
or calls a helper from another module (``fff_descent``, ``fff_output``, ``erf``, as
``cache_hints`` and ``threads`` already are) is not recompiled when only the helper's file
changes. After editing such a helper, clear the kernels' ``__pycache__`` (or run with an empty
``NUMBA_CACHE_DIR``) to see the change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NoReturn

import numba
import numpy as np

from .checks import FASTMATH, check_arrays, check_finite, check_shape

__all__ = ["IN_1D", "IN_2D", "IN_3D", "JIT", "OUT_2D", "Compiled", "NonFinite", "Paths", "check_out", "overlaps"]

#: The options every FFF kernel is compiled with: cached on disk, releasing the GIL.
JIT = {"cache": True, "nogil": True, "fastmath": FASTMATH}

#: The array types the entries take: float32, C-contiguous, read-only so that writable and
#: read-only arrays both match; outputs are writable.
IN_1D, IN_2D, IN_3D = (numba.types.Array(numba.float32, ndim, "C", readonly=True) for ndim in (1, 2, 3))
OUT_2D = numba.types.Array(numba.float32, 2, "C")


class NonFinite(Exception):
    """Raised by a compiled entry whose result holds NaN or infinity; ``Paths.run`` traces it."""


class Compiled:
    """A kernel entry compiled for exactly one signature, on its first use.

    An explicit signature makes numba's dispatcher refuse every other argument type with a
    TypeError, raised in C at no cost to good calls; but numba compiles explicit signatures
    when it decorates, and here that waits for the first call instead of every import.
    """

    def __init__(self, py_func: Callable[..., np.ndarray], signature: tuple, *, parallel: bool = False) -> None:
        self._py_func = py_func
        self._signature = signature
        self._parallel = parallel

    @functools.cached_property
    def run(self) -> Callable[..., np.ndarray]:
        """The compiled function (compiled, or loaded from numba's cache, on first access)."""
        return numba.njit([self._signature], **JIT, parallel=self._parallel)(self._py_func)


@numba.njit(**JIT, inline="always")
def overlaps(a, b):  # pragma: no cover - compiled
    """Whether the memory of C-contiguous arrays ``a`` and ``b`` overlaps (empty ones never do):
    ``np.may_share_memory`` in compiled code."""
    a0 = a.ctypes.data
    b0 = b.ctypes.data
    return a.nbytes > 0 and b.nbytes > 0 and a0 < b0 + b.nbytes and b0 < a0 + a.nbytes


class Paths:
    """One variant's compiled entries and the batch size from which its level path runs.

    Args:
        walk: the per-token walk into a new output, which it allocates in numba (for a few
            rows cheaper than numpy's allocation from Python).
        walk_into: the walk into a given output, or None for a variant that takes none.
        level: the level path into a given output.
        level_min_batch: from this many tokens on, ``level``.
        explain: ``explain(x, weights, out)`` raises the ``ValueError`` that says why the
            entries refused the arguments.
    """

    def __init__(
        self, *, walk: Compiled, walk_into: Compiled | None, level: Compiled, level_min_batch: int,
        explain: Callable[[object, tuple, object], None],
    ) -> None:
        self._walk = walk
        self._walk_into = walk_into
        self._level = level
        self._level_min_batch = level_min_batch
        self._explain = explain

    def run(self, x: np.ndarray, *weights: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``x`` through the walk (under ``level_min_batch`` tokens) or the level path (on the
        calling thread's numba threads), into ``out`` if given, else into a new array. Every
        entry writes the output rows itself and checks ``out`` in compiled code.

        Raises:
            ValueError: what ``explain`` says of refused arguments; or a non-finite result,
                traced to ``x`` or else to the weights on the paths taken.
        """
        try:
            if len(x) < self._level_min_batch:
                return self._walk.run(x, *weights) if out is None else self._walk_into.run(x, *weights, out)
            if out is None:
                # numpy's allocation, reused from the heap; numba's would fault the pages of a
                # big output in afresh on every call. The output width is the last axis of the
                # last weight in both variants (``w_out``, ``leaf_b2``).
                out = np.empty((len(x), weights[-1].shape[-1]), np.float32)
            return self._level.run(x, *weights, out)
        except (TypeError, ValueError, AttributeError, IndexError):
            self._explain(x, weights, out)
            raise
        except NonFinite:
            _raise_non_finite(x)


def check_out(out: object, shape: tuple[int, int], *inputs: np.ndarray) -> None:
    """``out`` must be a writable C-contiguous float32 array of ``shape``, apart from ``inputs``
    (blocks write their rows of ``out`` while others still read ``x``)."""
    check_arrays(("out", out, 2))
    check_shape("out", out, shape)
    if not out.flags.writeable:
        raise ValueError("out must be writable")
    if any(np.may_share_memory(out, array) for array in inputs):
        raise ValueError("out must not share memory with x or the weights")


def _raise_non_finite(x: np.ndarray) -> NoReturn:
    """Trace a non-finite result back to its cause.

    Checking every weight on every call would cost more than the inference itself, so the
    kernels only report whether their result is finite (a pass over the output rows while they
    are still in cache), and then ``x`` is scanned.
    """
    check_finite("x", x)
    raise ValueError("the weights hold NaN or infinite values on the paths taken")
