"""Arrays whose data starts on a cache-line boundary.

numpy aligns its allocations to 16 bytes, so a row of float32 weights usually starts 16 bytes
into a 64-byte cache line, and every 64-byte (AVX-512) load of it straddles two lines. The FFF
kernels run 4-7% faster on weights that start on a line boundary, as torch allocates them
(``docs/kernels-fff.md``, "Alignment"). The package's weight loaders return such arrays;
``aligned`` makes one from weights built any other way.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CACHE_LINE", "aligned"]

#: Bytes in a cache line on the machines we run on (x86-64 and most ARM cores).
CACHE_LINE = 64


def aligned(array: np.ndarray, *, alignment: int = CACHE_LINE) -> np.ndarray:
    """``array`` as a C-contiguous array whose data starts on an ``alignment``-byte boundary:
    the array itself if it already is one, else a copy (writable, same dtype and shape). An
    empty array has nothing to align and comes back only made contiguous.

    Raises:
        ValueError: ``alignment`` is not a positive power of two.
    """
    if isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"alignment must be a positive power of two (got {alignment!r})")
    array = np.asarray(array)
    if array.size == 0:  # no data to align (numpy may place an empty array anywhere)
        return np.ascontiguousarray(array)
    if array.flags.c_contiguous and array.ctypes.data % alignment == 0:
        return array
    buffer = np.empty(array.nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    result = buffer[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    result[...] = array
    return result
