"""Arrays whose data starts on a cache-line boundary, and big ones on a huge page.

numpy aligns its allocations to 16 bytes, so a row of float32 weights usually starts 16 bytes
into a 64-byte cache line, and every 64-byte (AVX-512) load of it straddles two lines. The FFF
kernels run faster on weights that start on a line boundary, as torch allocates them
(measured in ``docs/kernels-fff.md``, "Alignment").

An array of ``HUGE_PAGE_MIN_BYTES`` or more also starts on a 2 MB boundary. numpy asks Linux
for transparent huge pages for such allocations, but only whole 2 MB pages inside the array
get one; the array's first and last partial pages stay in 4 KB pages, each a TLB entry of its
own. Starting on a huge page puts all of a BERT-base FFF's 12 MB of ``w_in`` on six huge pages
instead of five and 2 MB of small ones (measured in ``docs/kernels-fff.md``, "Huge pages").
The package's weight loaders return such arrays; ``aligned`` makes one from weights built any
other way.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CACHE_LINE", "HUGE_PAGE", "HUGE_PAGE_MIN_BYTES", "aligned"]

#: Bytes in a cache line on the machines we run on (x86-64 and most ARM cores).
CACHE_LINE = 64

#: Bytes in a (transparent) huge page on x86-64 Linux.
HUGE_PAGE = 2**21

#: From this size on, ``aligned`` starts an array on a huge page: numpy asks for huge pages
#: from 4 MB on, and the copy wastes under half its size in padding.
HUGE_PAGE_MIN_BYTES = 2 * HUGE_PAGE


def aligned(array: np.ndarray, *, alignment: int | None = None) -> np.ndarray:
    """``array`` as a C-contiguous array whose data starts on an ``alignment``-byte boundary:
    the array itself if it already is one, else a copy (writable, same dtype and shape). An
    empty array has nothing to align and comes back only made contiguous.

    Args:
        alignment: a power of two; by default a huge page (``HUGE_PAGE``) for arrays of
            ``HUGE_PAGE_MIN_BYTES`` or more, else a cache line (``CACHE_LINE``).

    Raises:
        ValueError: ``alignment`` is not a positive power of two.
    """
    array = np.asarray(array)
    if alignment is None:
        alignment = HUGE_PAGE if array.nbytes >= HUGE_PAGE_MIN_BYTES else CACHE_LINE
    elif isinstance(alignment, bool) or not isinstance(alignment, int) or alignment < 1 or alignment & (alignment - 1):
        raise ValueError(f"alignment must be a positive power of two (got {alignment!r})")
    if array.size == 0:  # no data to align (numpy may place an empty array anywhere)
        return np.ascontiguousarray(array)
    if array.flags.c_contiguous and array.ctypes.data % alignment == 0:
        return array
    buffer = np.empty(array.nbytes + alignment, np.uint8)
    start = -buffer.ctypes.data % alignment
    result = buffer[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    result[...] = array
    return result
