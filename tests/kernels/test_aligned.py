"""``aligned``: a C-contiguous array starting on the boundary asked for, equal to its input."""

import numpy as np
import pytest
from neural_actors.kernels.aligned import CACHE_LINE, HUGE_PAGE, HUGE_PAGE_MIN_BYTES, aligned


def _off_a_line(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """An array of ``shape`` whose data starts 4 bytes past a cache-line boundary."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = np.empty(size + 2 * CACHE_LINE, np.uint8)
    start = -buffer.ctypes.data % CACHE_LINE + 4
    array = buffer[start:start + size].view(dtype).reshape(shape)
    array[...] = np.arange(array.size).reshape(shape)
    return array


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (2, 7, 11), (0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_a_copy_starts_on_a_line_and_equals_the_input(shape, dtype):
    original = _off_a_line(shape, dtype)

    result = aligned(original)

    assert result.flags.c_contiguous and result.flags.writeable
    assert result.dtype == original.dtype and result.shape == original.shape
    np.testing.assert_array_equal(result, original)
    if original.size:  # an empty array has no data to place
        assert result.ctypes.data % CACHE_LINE == 0
        assert not np.shares_memory(result, original)


def test_an_aligned_contiguous_array_is_returned_as_it_is():
    already = aligned(np.ones((4, 8), np.float32))

    assert aligned(already) is already


def test_a_transposed_array_becomes_contiguous():
    matrix = aligned(np.arange(12, dtype=np.float32).reshape(3, 4))

    result = aligned(matrix.T)

    assert result.flags.c_contiguous and result.ctypes.data % CACHE_LINE == 0
    np.testing.assert_array_equal(result, matrix.T)


@pytest.mark.parametrize("alignment", [16, 128, 4096])
def test_other_alignments(alignment):
    assert aligned(_off_a_line((5, 3)), alignment=alignment).ctypes.data % alignment == 0


@pytest.mark.parametrize("alignment", [0, -64, 48, 64.0, True, "64"])
def test_an_alignment_that_is_not_a_power_of_two_is_refused(alignment):
    with pytest.raises(ValueError, match="alignment must be a positive power of two"):
        aligned(np.ones(3, np.float32), alignment=alignment)


@pytest.mark.parametrize(
    ("nbytes", "boundary"),
    [(HUGE_PAGE_MIN_BYTES - 4, CACHE_LINE), (HUGE_PAGE_MIN_BYTES, HUGE_PAGE), (3 * HUGE_PAGE + 4, HUGE_PAGE)],
)
def test_by_default_big_arrays_start_on_a_huge_page(nbytes, boundary):
    original = _off_a_line((nbytes // 4,))

    result = aligned(original)

    assert result.ctypes.data % boundary == 0
    np.testing.assert_array_equal(result, original)
    if boundary == CACHE_LINE:  # small arrays are not padded out to a huge page
        assert result.base.nbytes < nbytes + HUGE_PAGE


def test_a_big_array_on_a_cache_line_is_moved_to_a_huge_page_unless_a_line_is_asked_for():
    page = aligned(np.ones(HUGE_PAGE_MIN_BYTES // 4 + CACHE_LINE, np.float32), alignment=HUGE_PAGE)
    on_a_line = page[CACHE_LINE // 4:]  # one line past a huge page boundary

    assert aligned(on_a_line, alignment=CACHE_LINE) is on_a_line
    moved = aligned(on_a_line)
    assert moved.ctypes.data % HUGE_PAGE == 0
    assert not np.shares_memory(moved, on_a_line)
    np.testing.assert_array_equal(moved, on_a_line)
