"""How a batch of signals crosses between nodes: pickled once, arrays frozen again on arrival.

A batch is one ``pickle`` (protocol 5) of a list of records. Arrays travel as their raw bytes
and come back read-only: a small one inside the pickle, rebuilt as a read-only view of the
``bytes`` object pickle made for it (no copy beyond the one unpickling makes), which is exactly
what ``freeze`` makes and the send-time check accepts; a large one (from ``OUT_OF_BAND`` bytes)
out of band, handed to the carrier separately so it need not be copied into the pickle (Ray
moves it through its object store), and frozen into a fresh copy on arrival, because the
buffer it arrives in is memory some other holder could write.

Only arrays get special treatment (a ``dispatch_table`` entry, so pickling everything else
runs at C speed). Every other value crosses as pickle carries it; messages are immutable by
construction, so what arrives is as immutable as what left.
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np

from neural_actors.runtime import freeze

__all__ = ["OUT_OF_BAND", "decode", "encode"]

#: Arrays of at least this many bytes travel out of band (Ray then stores them once).
OUT_OF_BAND = 1 << 20


def _inline_array(data: bytes, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    """A small array rebuilt over the bytes pickle gave it: read-only, over ``bytes``: frozen."""
    array = np.ndarray(shape, dtype, buffer=data)
    array.flags.writeable = False
    return array


def _outside_array(buffer: Any, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.ndarray:
    """A large array from an out-of-band buffer: copied once into memory nobody can write."""
    frozen: np.ndarray = freeze(np.frombuffer(buffer, dtype=dtype).reshape(shape))
    return frozen


def _reduce_array(array: np.ndarray) -> tuple[Any, ...]:
    if array.dtype.hasobject:  # never frozen, so never sent; pickled as numpy would
        return array.__reduce__()  # type: ignore[return-value]
    data = np.ascontiguousarray(array)
    if data.nbytes >= OUT_OF_BAND:
        return _outside_array, (pickle.PickleBuffer(data), data.dtype, data.shape)  # type: ignore[arg-type]
    return _inline_array, (data.tobytes(), data.dtype, data.shape)


_TABLE = copyreg.dispatch_table.copy()
_TABLE[np.ndarray] = _reduce_array


def encode(records: Sequence[Any]) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """One batch as bytes, plus the buffers of its large arrays (in order).

    Raises:
        pickle.PicklingError, TypeError, AttributeError: a record holds something pickle
            cannot carry (a lambda, a class defined inside a function, ...).
    """
    buffers: list[pickle.PickleBuffer] = []
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=5, buffer_callback=buffers.append)
    pickler.dispatch_table = _TABLE
    pickler.dump(records)
    return out.getvalue(), buffers


def decode(payload: bytes, buffers: Sequence[Any] = ()) -> list[Any]:
    """The records of a batch that ``encode`` made; large arrays come back frozen copies."""
    records: list[Any] = pickle.loads(payload, buffers=buffers)
    return records
