"""Cache hints: ``prefetch_row`` touches no value; ``stream_row`` copies exactly, whatever the
target's alignment; both are refused at compile time for anything but contiguous rows."""

import numba
import numpy as np
import pytest
from neural_actors.kernels.cache_hints import prefetch_row, store_fence, stream_row


@numba.njit
def _prefetch_rows_then_sum(w):
    for node in range(w.shape[0]):
        prefetch_row(w[node])
    return w.sum()


@pytest.mark.parametrize("shape", [(0, 768), (3, 0), (1, 1), (5, 17), (4, 768)])
def test_prefetch_changes_nothing(shape):
    w = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    before = w.copy()
    assert _prefetch_rows_then_sum(w) == before.sum()
    assert np.array_equal(w, before)


@numba.njit
def _prefetch(row):
    prefetch_row(row)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 3), np.float32), np.zeros(8, np.float32)[::2]],
    ids=["2-d", "strided"],
)
def test_prefetch_refuses_what_is_not_a_contiguous_row(bad):
    with pytest.raises(numba.TypingError):
        _prefetch(bad)


@numba.njit
def _stream(source, target):
    stream_row(source, target)
    store_fence()


@pytest.mark.parametrize("offset", [0, 1, 2, 3])
@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 7, 8, 768, 771])
def test_stream_row_copies_exactly_at_any_alignment(size, offset):
    """Offsets of one float shift the target across a 16-byte boundary: the head, the
    streamed groups of four and the tail must together write every element, and no other."""
    source = np.random.default_rng(size).standard_normal(size).astype(np.float32)
    buffer = np.full(size + 8, -1.0, np.float32)
    target = buffer[offset:offset + size]

    _stream(source, target)

    np.testing.assert_array_equal(target, source)
    assert (buffer[:offset] == -1).all() and (buffer[offset + size:] == -1).all()


def test_stream_row_to_a_target_not_aligned_to_a_float():
    source = np.arange(9, dtype=np.float32)
    raw = np.zeros(9 * 4 + 1, np.uint8)
    target = raw[1:].view(np.float32)

    _stream(source, target)

    np.testing.assert_array_equal(target, source)


@pytest.mark.parametrize(
    "source, target",
    [
        (np.zeros(4, np.float64), np.zeros(4, np.float64)),
        (np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32)),
        (np.zeros(8, np.float32)[::2], np.zeros(4, np.float32)),
    ],
    ids=["float64", "2-d", "strided"],
)
def test_stream_row_refuses_what_is_not_a_contiguous_float32_row(source, target):
    with pytest.raises(numba.TypingError):
        _stream(source, target)
