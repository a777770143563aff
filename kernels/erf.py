"""erf in float32 arithmetic, with no call into libm, so that a loop of GeLUs vectorizes.

``math.erf`` compiles to a call into libm, which keeps a loop over it from vectorizing. Here
erf is three polynomials, least-squares fits on Chebyshev nodes in float64 (fit error under
5e-9), evaluated in float32: within 1.1e-7 of the exact erf (one unit in the last place at
1), against 3e-8 for the exact value rounded to float32. Beyond 3.92, erf rounds to 1 in
float32. What it saves is measured in ``docs/kernels-fff.md``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .fff_entry import JIT

__all__ = ["erf"]

_ERF_SMALL = tuple(np.float32(c) for c in (  # erf(a) / a, as a polynomial in a * a; a < 0.8
    1.128379225730896, -0.37612637877464294, 0.11283770948648453, -0.02686411328613758,
    0.005214286502450705, -0.0008314434089697897, 9.205203969031572e-05,
))
_ERFC_MID = tuple(np.float32(c) for c in (  # erfc(a), in a - 1.5; 0.8 <= a < 2.2
    0.0338948555290699, -0.11893022060394287, 0.1783953756093979, -0.13875484466552734,
    0.04460024833679199, 0.014898931607604027, -0.01933850161731243, 0.004589015152305365,
    0.002412730362266302, -0.0013882998609915376, -3.552771204340388e-06,
))
_ERFC_TAIL = tuple(np.float32(c) for c in (  # erfc(a), in a - 3.06; 2.2 <= a < 3.92
    1.5081755009305198e-05, -9.678395872469991e-05, 0.0002962042926810682, -0.0005725782830268145,
    0.0007767321658320725, -0.0007745707407593727, 0.0005856681964360178, -0.00034105833037756383,
    0.00012949258962180465, -3.657616161945043e-06, -1.483879896113649e-05,
))
_ERF_BOUNDS = tuple(np.float32(c) for c in (0.8, 2.2, 3.92, 1.5, 3.06))  # pieces, then centres
_ONE = np.float32(1.0)


@numba.njit(**JIT, inline="always")
def _polynomial(coefficients, v):  # pragma: no cover - compiled
    """``sum_i coefficients[i] * v**i`` (Horner)."""
    r = coefficients[-1]
    for i in range(len(coefficients) - 2, -1, -1):
        r = r * v + coefficients[i]
    return r


@numba.njit(**JIT, inline="always")
def erf(x):  # pragma: no cover - compiled
    """erf for float32, every piece computed and one selected, so loops over it vectorize;
    NaN gives 1 (its sign), which the GeLU's factor ``pre`` turns back into NaN."""
    a = abs(x)
    small_end, mid_end, tail_end, mid_centre, tail_centre = _ERF_BOUNDS
    small = a * _polynomial(_ERF_SMALL, a * a)
    mid = _ONE - _polynomial(_ERFC_MID, a - mid_centre)
    tail = _ONE - _polynomial(_ERFC_TAIL, a - tail_centre)
    r = small if a < small_end else (mid if a < mid_end else (tail if a < tail_end else _ONE))
    return math.copysign(r, x)
