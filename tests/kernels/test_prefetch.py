"""``prefetch_row``: a hint that compiles for contiguous rows, touches no value, and is
refused at compile time for anything else."""

import numba
import numpy as np
import pytest
from neural_actors.kernels.prefetch import prefetch_row


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
