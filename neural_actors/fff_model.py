"""The weights of an FFF with leaves, as one validated object that can be saved and reloaded.

The kernels (``neural_actors.kernels.fff_leaf`` and ``fff_train``) take six loose float32 arrays and
check them on every call. Training and serving pass the same six arrays around, so they are kept
together here, checked once for consistent shapes, and stored as a versioned ``.npz`` whose
metadata (depth, widths) lets a load say exactly which array of which file is wrong.
"""

from __future__ import annotations

import contextlib
import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import attrs
import numpy as np

from neural_actors.kernels.aligned import aligned
from neural_actors.kernels.checks import (
    LEAF_PARAMETERS,
    check_finite,
    check_leaf_parameters,
    leaf_shapes,
)
from neural_actors.kernels.fff_leaf import fff_leaf_infer
from neural_actors.kernels.fff_train import fff_soft_forward

__all__ = ["FORMAT_VERSION", "PARAMETER_NAMES", "FFFLeafWeights"]

#: Version written by ``FFFLeafWeights.save``; ``load`` refuses any other.
FORMAT_VERSION = 1

#: The six arrays, in the order the kernels take them.
PARAMETER_NAMES = LEAF_PARAMETERS

_METADATA_NAMES = ("depth", "d_in", "d_out", "leaf_width")

#: The deepest tree numpy can index: ``2**depth`` leaves times a leaf's width must fit in int64.
_MAX_DEPTH = 62

#: How many times deflate can expand data at most, so how much a compressed entry can hold.
_MAX_DEFLATE_RATIO = 1032

#: What zipfile, zlib and numpy's header parser raise on a damaged archive (a flipped byte can
#: land in a header, a size, an offset, a compression method or the data).
_DAMAGE = (ValueError, EOFError, OSError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error)


def as_float32(array: Any) -> np.ndarray:
    """``array`` as the kernels' weights: float32, C-contiguous, starting on a cache line or,
    from 4 MB on, a huge page (they run faster so)."""
    return aligned(np.asarray(array, dtype=np.float32))


def shape_repr(array: np.ndarray) -> str:
    """Reprs show shapes: the values of a real model would fill the screen."""
    return f"<{array.dtype} {array.shape}>"


def _check_dimension(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum} (got {value!r})")


@attrs.frozen(eq=False)
class FFFLeafWeights:
    """Node classifiers and ReLU leaves of one FFF tree (shapes as ``fff_leaf_infer`` takes).

    Arrays are converted to C-contiguous float32 on construction; the object is frozen but the
    arrays are not, so an optimiser may update them in place (``copy`` gives an independent one).

    Raises:
        ValueError: ``leaf_w1`` is not ``(2**depth, d_in, leaf_width)``, another array's shape
            does not match it, or a value is NaN or infinite, naming the array.
    """

    node_w: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    node_b: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    leaf_w1: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    leaf_b1: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    leaf_w2: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    leaf_b2: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)

    def __attrs_post_init__(self) -> None:
        check_leaf_parameters(self.arrays())
        for name, array in self.arrays().items():
            check_finite(name, array)

    @classmethod
    def init(cls, d_in: int, d_out: int, depth: int, leaf_width: int, seed: int) -> FFFLeafWeights:
        """Fresh weights, each uniform in ``±1/sqrt(fan_in)`` (PyTorch's ``nn.Linear`` default).

        Node classifiers and the leaves' first layer have fan-in ``d_in``; the leaves' second
        layer has fan-in ``leaf_width``.
        """
        for name, value, minimum in (("d_in", d_in, 1), ("d_out", d_out, 1), ("depth", depth, 0),
                                     ("leaf_width", leaf_width, 1)):
            _check_dimension(name, value, minimum)
        rng = np.random.default_rng(seed)
        fan_in = {"node_w": d_in, "node_b": d_in, "leaf_w1": d_in, "leaf_b1": d_in,
                  "leaf_w2": leaf_width, "leaf_b2": leaf_width}
        arrays = {
            name: rng.uniform(-1.0, 1.0, shape) / np.sqrt(fan_in[name])
            for name, shape in leaf_shapes(depth, d_in, d_out, leaf_width).items()
        }
        return cls(**arrays)

    @property
    def depth(self) -> int:
        """Tree depth ``D``: ``2**D`` leaves, ``D`` node decisions per token."""
        return self.leaf_w1.shape[0].bit_length() - 1

    @property
    def d_in(self) -> int:
        """Input features."""
        return self.leaf_w1.shape[1]

    @property
    def d_out(self) -> int:
        """Outputs (for a classifier, classes)."""
        return self.leaf_w2.shape[2]

    @property
    def leaf_width(self) -> int:
        """ReLU neurons per leaf: what one token evaluates besides its ``depth`` decisions."""
        return self.leaf_w1.shape[2]

    @property
    def training_width(self) -> int:
        """Hidden neurons a soft forward evaluates: ``2**depth * leaf_width``."""
        return self.leaf_w1.shape[0] * self.leaf_width

    def arrays(self) -> dict[str, np.ndarray]:
        """The six parameter arrays (not copies), in kernel order."""
        return {name: getattr(self, name) for name in PARAMETER_NAMES}

    def copy(self) -> FFFLeafWeights:
        """An independent copy (the arrays are copied)."""
        return FFFLeafWeights(**{name: array.copy() for name, array in self.arrays().items()})

    def hard(self, x: np.ndarray) -> np.ndarray:
        """Hard inference: each row of ``x`` ``(B, d_in)`` runs one leaf; returns ``(B, d_out)``."""
        return fff_leaf_infer(as_float32(x), *self.arrays().values())

    def soft(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Soft mixture forward: ``(y, probs)``, see ``kernels.fff_train.fff_soft_forward``."""
        return fff_soft_forward(as_float32(x), *self.arrays().values())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an ``.npz`` archive to exactly ``path`` (no suffix is added).

        It holds the six arrays, ``format_version`` and the shape metadata ``depth``, ``d_in``,
        ``d_out`` and ``leaf_width`` as integer scalars.
        """
        metadata = {"format_version": FORMAT_VERSION, "depth": self.depth, "d_in": self.d_in,
                    "d_out": self.d_out, "leaf_width": self.leaf_width}
        with open(path, "wb") as file:
            np.savez(file, **{k: np.int64(v) for k, v in metadata.items()}, **self.arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FFFLeafWeights:
        """Read weights written by ``save`` (or by ``np.savez_compressed``, same entries).

        Nothing in the file is trusted before it is checked: the metadata is bounded before
        shapes are computed from it, and each entry's ``.npy`` header (dtype, shape) and size
        are checked against the metadata and against what the file can hold before its data is
        read, so a damaged or hostile file is refused at once, without allocating.

        Raises:
            FileNotFoundError: no such file.
            ValueError: a directory, not an ``.npz`` archive, a damaged archive, an unknown
                ``format_version``, a missing or malformed entry, out-of-range metadata, an
                entry claiming more data than it or the file holds, or an array whose shape
                disagrees with the metadata; the message names the file, the entry, and the
                expected and found values.
        """
        where = os.fspath(path)
        if os.path.isdir(where):
            raise ValueError(f"{where}: a directory, not an FFF weights .npz archive")
        with open(where, "rb") as file:
            if file.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX:
                raise ValueError(f"{where}: a single .npy array, not an FFF weights .npz archive")
            with _reading(where, "not an FFF weights .npz archive"):
                archive = zipfile.ZipFile(file)
            with archive:
                return cls._from_archive(_Npz(where, archive, os.fstat(file.fileno()).st_size))

    @classmethod
    def _from_archive(cls, npz: _Npz) -> FFFLeafWeights:
        where = npz.where
        version = npz.scalar("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{where}: unknown format_version {version} (this version reads {FORMAT_VERSION})"
            )
        metadata = {name: npz.scalar(name) for name in _METADATA_NAMES}
        for name, value in metadata.items():
            low, high = (0, _MAX_DEPTH) if name == "depth" else (1, None)
            if value < low or (high is not None and value > high):
                expected = f"{low} to {high}" if high is not None else f">= {low}"
                raise ValueError(f"{where}: metadata {name} = {value} is out of range (expected {expected})")
        expected = leaf_shapes(**metadata)
        described = ", ".join(f"{k}={v}" for k, v in metadata.items())
        arrays = {name: npz.array(name, expected[name], described) for name in PARAMETER_NAMES}
        try:
            return cls(**arrays)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error


@contextlib.contextmanager
def _reading(where: str, problem: str) -> Iterator[None]:
    """Turn a library's error on damaged content into ``ValueError`` naming the file."""
    try:
        yield
    except _DAMAGE as error:
        raise ValueError(f"{where}: {problem} ({type(error).__name__}: {error})") from error


class _Header(NamedTuple):
    """An ``.npy`` entry as its headers describe it."""

    name: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int  # bytes of .npy header before the data


class _Npz(NamedTuple):
    """An open ``.npz`` archive read without trusting it: headers first, data only once its
    size is known to be what the file holds."""

    where: str
    archive: zipfile.ZipFile
    file_bytes: int

    def header(self, name: str) -> _Header:
        try:
            info = self.archive.getinfo(f"{name}.npy")
        except KeyError:
            found = sorted(n.removesuffix(".npy") for n in self.archive.namelist())
            raise ValueError(f"{self.where}: missing entry {name!r} (found {found})") from None
        with _reading(self.where, f"entry {name!r} cannot be read"), self.archive.open(info) as entry:
            version = np.lib.format.read_magic(entry)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(entry)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(entry)
            else:
                raise ValueError(f".npy format version {version} is not 1.0 or 2.0")
            return _Header(name, info, shape, dtype, entry.tell())

    def read(self, header: _Header) -> np.ndarray:
        """The entry's array, once its size is checked: stored entries hold their bytes in the
        file, deflated ones expand them at most ``_MAX_DEFLATE_RATIO`` times."""
        name, info = header.name, header.info
        data = math.prod(header.shape) * header.dtype.itemsize
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{self.where}: entry {name!r} uses compression method {info.compress_type}, "
                             "expected stored or deflated (np.savez or np.savez_compressed)")
        if info.file_size != header.offset + data:
            raise ValueError(f"{self.where}: entry {name!r} claims {data} bytes of data but holds "
                             f"{info.file_size - header.offset}")
        expands = 1 if info.compress_type == zipfile.ZIP_STORED else _MAX_DEFLATE_RATIO
        if info.file_size > min(info.compress_size, self.file_bytes) * expands:
            raise ValueError(f"{self.where}: entry {name!r} claims {data} bytes of data, more than the "
                             f"file's {self.file_bytes} bytes can hold")
        with _reading(self.where, f"entry {name!r} cannot be read"), self.archive.open(info) as entry:
            return np.lib.format.read_array(entry, allow_pickle=False)

    def scalar(self, name: str) -> int:
        header = self.header(name)
        if header.shape != () or header.dtype.kind not in "iu":
            raise ValueError(f"{self.where}: {name!r} must be an integer scalar "
                             f"(found dtype {header.dtype}, shape {header.shape})")
        return int(self.read(header))

    def array(self, name: str, shape: tuple[int, ...], described: str) -> np.ndarray:
        header = self.header(name)
        if header.shape != shape:
            raise ValueError(f"{self.where}: array {name!r} has shape {header.shape}, expected {shape} "
                             f"for {described}")
        if header.dtype.kind != "f":
            raise ValueError(f"{self.where}: array {name!r} has dtype {header.dtype}, expected floating point")
        return self.read(header)
