"""How the FFF kernels write their output rows: summed in place or streamed, checked finite.

An output of ``STREAM_MIN_BYTES`` or more is too big to still be cached from the last call, so
each of its rows is summed in a scratch row and written with streaming stores
(``cache_hints.stream_row``): a plain store would first read the line from memory only to
overwrite it. Each row is checked finite while it is in cache (``row_finite``), so the caller
need not scan the output again; a kernel raises ``NonFinite`` when one was not.
"""

from __future__ import annotations

import numba
import numpy as np

from .cache_hints import stream_row
from .fff_entry import JIT, NonFinite

__all__ = ["STREAM_MIN_BYTES", "require_finite", "row_finite", "row_target", "stream_out", "stream_scratch"]

#: From this output size on, the level paths write output rows with streaming stores (an
#: output that stays cached between calls, as one of 128 tokens of width 768 does, gains
#: nothing; see ``docs/kernels-fff.md``).
STREAM_MIN_BYTES = 2**20


@numba.njit(**JIT, inline="always")
def row_finite(out, t):  # pragma: no cover - compiled
    """Whether row ``t`` of ``out`` is all finite (0 * x is NaN exactly for x non-finite)."""
    acc = np.float32(0.0)
    for j in range(out.shape[1]):
        acc += np.float32(0.0) * out[t, j]
    return acc == 0


@numba.njit(**JIT, inline="always")
def stream_scratch(out):  # pragma: no cover - compiled
    """A row to sum each output row in before streaming it out, if ``out`` is big enough for
    that (``STREAM_MIN_BYTES``); else no row, and rows are summed in ``out`` itself."""
    return np.empty((1 if out.nbytes >= STREAM_MIN_BYTES else 0, out.shape[1]), np.float32)


@numba.njit(**JIT, inline="always")
def row_target(scratch, out, t):  # pragma: no cover - compiled
    """Where output row ``t`` is summed: the scratch row, or ``out[t]``."""
    return (scratch, 0) if scratch.shape[0] else (out, t)


@numba.njit(**JIT, inline="always")
def stream_out(scratch, out, t):  # pragma: no cover - compiled
    """Output row ``t``, if summed in the scratch row, streamed to ``out[t]`` (blocks end with
    ``store_fence``)."""
    if scratch.shape[0]:
        stream_row(scratch[0], out[t])


@numba.njit(**JIT, inline="always")
def require_finite(finite):  # pragma: no cover - compiled
    """Raise ``NonFinite`` unless every block found its output rows finite (a loop: in a
    parallel function, ``finite.all()`` would be one more parallel region)."""
    for ok in finite:
        if not ok:
            raise NonFinite()
