"""The kernels' float32 erf against the exact one."""

import math

import numba
import numpy as np
from neural_actors.kernels.erf import erf


@numba.njit
def _erf_of_each(values):
    result = np.empty_like(values)
    for i, value in enumerate(values):
        result[i] = erf(value)
    return result


def test_erf_is_within_one_float32_unit_of_the_exact_value() -> None:
    """The kernels' float32 erf (three polynomials, so GeLU loops vectorize): within 1.1e-7
    of the exact erf everywhere, odd, 1 beyond its last piece; NaN gives +-1, which the GeLU
    (``0.5 * pre * (1 + erf)``) turns back into NaN."""
    x = np.concatenate([np.linspace(-8, 8, 400_001, dtype=np.float32), np.float32([0.8, 2.2, 3.92, -0.8, -2.2])])
    exact = np.array([math.erf(v) for v in x.astype(np.float64)])

    approx = _erf_of_each(x)

    assert approx.dtype == np.float32
    assert np.abs(approx - exact).max() <= 1.1e-7
    np.testing.assert_array_equal(_erf_of_each(-x), -approx)
    np.testing.assert_array_equal(_erf_of_each(np.float32([4.0, 50.0, np.inf])), [1.0, 1.0, 1.0])
    assert abs(_erf_of_each(np.float32([np.nan]))[0]) == 1.0  # NaN weights: see test_nan_weights_*
