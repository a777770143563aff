"""The weights of an FFF with leaves, as one validated object that can be saved and reloaded.

The kernels (``neural_actors.kernels.fff`` and ``fff_train``) take six loose float32 arrays and
check them on every call. Training and serving pass the same six arrays around, so they are kept
together here, checked once for consistent shapes, and stored as a versioned ``.npz`` whose
metadata (depth, widths) lets a load say exactly which array of which file is wrong.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import attrs
import numpy as np

from neural_actors.kernels.aligned import aligned
from neural_actors.kernels.fff import fff_leaf_infer
from neural_actors.kernels.fff_train import fff_soft_forward

__all__ = ["FORMAT_VERSION", "PARAMETER_NAMES", "FFFLeafWeights"]

#: Version written by ``FFFLeafWeights.save``; ``load`` refuses any other.
FORMAT_VERSION = 1

#: The six arrays, in the order the kernels take them.
PARAMETER_NAMES = ("node_w", "node_b", "leaf_w1", "leaf_b1", "leaf_w2", "leaf_b2")

_METADATA_NAMES = ("depth", "d_in", "d_out", "leaf_width")


def _expected_shapes(depth: int, d_in: int, d_out: int, leaf_width: int) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape for a tree of ``depth`` (``2**depth`` leaves)."""
    leaves = 2**depth
    return {
        "node_w": (leaves - 1, d_in),
        "node_b": (leaves - 1,),
        "leaf_w1": (leaves, d_in, leaf_width),
        "leaf_b1": (leaves, leaf_width),
        "leaf_w2": (leaves, leaf_width, d_out),
        "leaf_b2": (leaves, d_out),
    }


def _as_float32(array: Any) -> np.ndarray:
    """float32, C-contiguous, starting on a cache line or, from 4 MB on, a huge page (the kernels
    run faster so)."""
    return aligned(np.asarray(array, dtype=np.float32))


def _shape_repr(array: np.ndarray) -> str:
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

    node_w: np.ndarray = attrs.field(converter=_as_float32, repr=_shape_repr)
    node_b: np.ndarray = attrs.field(converter=_as_float32, repr=_shape_repr)
    leaf_w1: np.ndarray = attrs.field(converter=_as_float32, repr=_shape_repr)
    leaf_b1: np.ndarray = attrs.field(converter=_as_float32, repr=_shape_repr)
    leaf_w2: np.ndarray = attrs.field(converter=_as_float32, repr=_shape_repr)
    leaf_b2: np.ndarray = attrs.field(converter=_as_float32, repr=_shape_repr)

    def __attrs_post_init__(self) -> None:
        if self.leaf_w1.ndim != 3 or self.leaf_w2.ndim != 3:
            raise ValueError(
                f"leaf_w1 and leaf_w2 must have 3 dimensions "
                f"(got shapes {self.leaf_w1.shape} and {self.leaf_w2.shape})"
            )
        leaves, d_in, width = self.leaf_w1.shape
        depth = leaves.bit_length() - 1
        if leaves < 1 or 2**depth != leaves:
            raise ValueError(f"leaf_w1.shape[0] must be 2**depth leaves (got {leaves})")
        expected = _expected_shapes(depth, d_in, self.leaf_w2.shape[2], width)
        for name, array in self.arrays().items():
            if array.shape != expected[name]:
                raise ValueError(
                    f"{name} must have shape {expected[name]} for depth {depth} (got {array.shape})"
                )
            if not np.isfinite(array).all():
                raise ValueError(f"{name} holds NaN or infinite values")

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
            for name, shape in _expected_shapes(depth, d_in, d_out, leaf_width).items()
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
        return fff_leaf_infer(_as_float32(x), *self.arrays().values())

    def soft(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Soft mixture forward: ``(y, probs)``, see ``kernels.fff_train.fff_soft_forward``."""
        return fff_soft_forward(_as_float32(x), *self.arrays().values())

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
        """Read weights written by ``save``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not an ``.npz`` archive, an unknown ``format_version``, a missing or
                malformed entry, or an array whose shape disagrees with the metadata; the
                message names the file, the entry, and the expected and found shapes.
        """
        where = os.fspath(path)
        try:
            archive = np.load(path, allow_pickle=False)
        except (ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ValueError(f"{where}: not an FFF weights .npz archive ({error})") from error
        if not isinstance(archive, np.lib.npyio.NpzFile):  # bad file content, not a bad argument
            raise ValueError(f"{where}: a single .npy array, not an FFF weights .npz archive")  # noqa: TRY004
        with archive:
            return cls._from_archive(where, archive)

    @classmethod
    def _from_archive(cls, where: str, archive: np.lib.npyio.NpzFile) -> FFFLeafWeights:
        version = _scalar(where, archive, "format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{where}: unknown format_version {version} (this version reads {FORMAT_VERSION})"
            )
        metadata = {name: _scalar(where, archive, name) for name in _METADATA_NAMES}
        for name in _METADATA_NAMES:
            if metadata[name] < (0 if name == "depth" else 1):
                raise ValueError(f"{where}: metadata {name} = {metadata[name]} is out of range")
        expected = _expected_shapes(**metadata)
        arrays = {}
        for name in PARAMETER_NAMES:
            array = _entry(where, archive, name)
            if array.shape != expected[name]:
                described = ", ".join(f"{k}={v}" for k, v in metadata.items())
                raise ValueError(
                    f"{where}: array {name!r} has shape {array.shape}, expected {expected[name]} "
                    f"for {described}"
                )
            if array.dtype.kind != "f":
                raise ValueError(f"{where}: array {name!r} has dtype {array.dtype}, expected floating point")
            arrays[name] = array
        try:
            return cls(**arrays)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error


def _entry(where: str, archive: np.lib.npyio.NpzFile, name: str) -> np.ndarray:
    if name not in archive.files:
        raise ValueError(f"{where}: missing entry {name!r} (found {sorted(archive.files)})")
    try:
        return archive[name]
    except ValueError as error:  # e.g. an object array, which allow_pickle=False refuses
        raise ValueError(f"{where}: entry {name!r} cannot be read ({error})") from error


def _scalar(where: str, archive: np.lib.npyio.NpzFile, name: str) -> int:
    value = _entry(where, archive, name)
    if value.shape != () or value.dtype.kind not in "iu":
        raise ValueError(
            f"{where}: {name!r} must be an integer scalar (found dtype {value.dtype}, shape {value.shape})"
        )
    return int(value)
