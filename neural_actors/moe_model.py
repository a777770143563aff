"""A trained mixture of FFF experts, as one immutable value saved as one ``.npz``.

The router's weights, the experts' UltraFastBERT trees (``FFFExperts``), how many experts a
token takes (``k``), and, for a model trained on a dataset, what serving it needs besides: the
standardisation of raw inputs and a held-out set to measure it on. ``MoERouter`` and every
``ExpertActor`` load the same file through the model store, so a host holds it once; each
expert's trees are views of the shared arrays.
"""

from __future__ import annotations

import os
from typing import Any, Literal, final

import attrs
import numpy as np

from neural_actors.kernels.checks import check_finite
from neural_actors.kernels.moe_dispatch import FFFExperts, moe_forward
from neural_actors.runtime import freeze, message

from .fff_weights import FFFWeights, check_trees

__all__ = ["FORMAT_VERSION", "MoEModel"]

#: Version written by ``MoEModel.save``; ``load`` refuses any other.
FORMAT_VERSION = 1

_ARRAYS = ("router_w", "w_in", "b_in", "w_out")
_DATA = ("mean", "scale", "test_x", "test_y")


def _frozen(array: Any) -> Any:
    return None if array is None else freeze(np.ascontiguousarray(array))


def _float32(array: Any) -> Any:
    return freeze(np.ascontiguousarray(array, dtype=np.float32))


@final
@message
class MoEModel:
    """Router, FFF experts and ``k``; optionally ``mean``/``scale`` (raw inputs are standardised
    as ``(raw - mean) / scale``) and a held-out set ``test_x`` (raw) with labels ``test_y``.

    Raises:
        ValueError: shapes that do not agree, ``k`` outside ``[1, E]``, non-finite weights.
    """

    router_w: np.ndarray = attrs.field(converter=_float32)
    w_in: np.ndarray = attrs.field(converter=_float32)
    b_in: np.ndarray = attrs.field(converter=_float32)
    w_out: np.ndarray = attrs.field(converter=_float32)
    k: int
    mean: np.ndarray | None = attrs.field(default=None, converter=_frozen)
    scale: np.ndarray | None = attrs.field(default=None, converter=_frozen)
    test_x: np.ndarray | None = attrs.field(default=None, converter=_frozen)
    test_y: np.ndarray | None = attrs.field(default=None, converter=_frozen)

    def __attrs_post_init__(self) -> None:
        if self.router_w.ndim != 2 or self.w_in.ndim != 4:
            raise ValueError(f"router_w must be (d, E) and w_in (E, K, N, d) (got {self.router_w.shape} "
                             f"and {self.w_in.shape})")
        d, count = self.router_w.shape
        expected = {"w_in": (count, self.w_in.shape[1], self.w_in.shape[2], d),
                    "b_in": self.w_in.shape[:3], "w_out": (*self.w_in.shape[:3], self.w_out.shape[-1])}
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(f"{name} must have shape {shape} for router_w {self.router_w.shape} "
                                 f"(got {getattr(self, name).shape})")
        if count:
            check_trees(self.w_in[0], self.b_in[0], self.w_out[0])
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= count:
            raise ValueError(f"k must be an int in [1, E = {count}] (got {self.k!r})")
        for name in _ARRAYS:
            check_finite(name, getattr(self, name))
        present = [name for name in _DATA if getattr(self, name) is not None]
        if present and len(present) != len(_DATA):
            raise ValueError(f"mean, scale, test_x and test_y come together (got only {', '.join(present)})")
        if present:
            if self.mean.shape != (d,) or self.scale.shape != (d,) or not (self.scale > 0).all():
                raise ValueError(f"mean and scale must be ({d},), scale > 0")
            if self.test_x.ndim != 2 or self.test_x.shape[1] != d or self.test_y.shape != (len(self.test_x),):
                raise ValueError(f"test_x must be (n, {d}) and test_y (n,) (got {self.test_x.shape} and "
                                 f"{self.test_y.shape})")

    # The model -------------------------------------------------------------------------------

    @property
    def experts(self) -> FFFExperts:
        """The experts as the MoE kernels take them."""
        return FFFExperts(self.w_in, self.b_in, self.w_out)

    @property
    def expert_count(self) -> int:
        return int(self.router_w.shape[1])

    @property
    def d_in(self) -> int:
        return int(self.router_w.shape[0])

    @property
    def d_out(self) -> int:
        return int(self.w_out.shape[-1])

    def expert(self, index: int) -> FFFWeights:
        """Expert ``index``'s trees: views of the model's arrays, no copy.

        Raises:
            IndexError: no such expert.
        """
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.expert_count:
            raise IndexError(f"expert must be an int in [0, {self.expert_count}) (got {index!r})")
        return FFFWeights("trees", (self.w_in[index], self.b_in[index], self.w_out[index]))

    def expert_bytes(self) -> int:
        """Bytes of one expert's weights (every expert has the same shapes)."""
        return int(self.w_in[0].nbytes + self.b_in[0].nbytes + self.w_out[0].nbytes)

    def forward(self, x: np.ndarray, **options: Any) -> np.ndarray:
        """The layer on ``x`` with the MoE kernels (``moe_forward``'s options)."""
        return moe_forward(x, self.router_w, self.k, self.experts, **options)

    def standardise(self, raw: np.ndarray) -> np.ndarray:
        """Raw inputs as the model takes them: ``(raw - mean) / scale`` in float32."""
        if self.mean is None:
            return np.ascontiguousarray(raw, dtype=np.float32)
        return ((np.asarray(raw, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def held_out(self) -> tuple[np.ndarray, np.ndarray]:
        """The held-out inputs, standardised, and their labels.

        Raises:
            ValueError: the model has no held-out set.
        """
        if self.test_x is None:
            raise ValueError("this model has no held-out set")
        return self.standardise(self.test_x), np.asarray(self.test_y)

    # Files -----------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str], *, compressed: Literal[True, False] = True) -> None:
        """Write an ``.npz`` to exactly ``path``."""
        arrays = {name: getattr(self, name) for name in (*_ARRAYS, *_DATA) if getattr(self, name) is not None}
        with open(path, "wb") as file:
            (np.savez_compressed if compressed else np.savez)(
                file, format_version=np.int64(FORMAT_VERSION), k=np.int64(self.k), **arrays
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MoEModel:
        """Read a file written by ``save``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not such a file, another version, or arrays that do not agree (naming
                the file).
        """
        where = os.fspath(path)
        try:
            with np.load(where, allow_pickle=False) as archive:
                entries = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError) as error:
            if isinstance(error, FileNotFoundError):
                raise
            raise ValueError(f"{where}: not an MoE model .npz ({error})") from error
        missing = [name for name in ("format_version", "k", *_ARRAYS) if name not in entries]
        if missing:
            raise ValueError(f"{where}: not an MoE model .npz (missing {', '.join(missing)})")
        version = int(entries["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(f"{where}: unknown format_version {version} (this version reads {FORMAT_VERSION})")
        try:
            return cls(**{name: entries[name] for name in _ARRAYS}, k=int(entries["k"]),
                       **{name: entries.get(name) for name in _DATA})
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error
