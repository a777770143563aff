"""An FFF's weights as an actor serves them: read-only arrays and the kernel that runs them.

Two variants, as the kernels have them: ``leaf`` (node classifiers over ReLU leaves,
``fff_leaf_infer``'s six arrays, what ``FFFLeafWeights`` trains and saves) and ``trees``
(UltraFastBERT's GeLU trees, ``ultrafast_infer``'s three arrays, what an FFF expert of a
mixture is). ``FFFWeights`` is a message: its arrays are frozen, so actors share one copy and
can send it.
"""

from __future__ import annotations

import os
from typing import Literal, final

import attrs
import numpy as np

from neural_actors.kernels.checks import LEAF_PARAMETERS, check_arrays, check_leaf_parameters, check_shape
from neural_actors.kernels.fff import ultrafast_infer
from neural_actors.kernels.fff_leaf import fff_leaf_infer
from neural_actors.runtime import freeze, message

from .fff_model import FFFLeafWeights

__all__ = ["TREE_PARAMETERS", "FFFWeights", "check_trees"]

#: The arrays of the ``trees`` variant, in ``ultrafast_infer``'s order.
TREE_PARAMETERS = ("w_in", "b_in", "w_out")

Kind = Literal["leaf", "trees"]


def _frozen_arrays(arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    return tuple(freeze(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays)


def check_trees(w_in: object, b_in: object, w_out: object) -> None:
    """``(K, N, d)``, ``(K, N)``, ``(K, N, d_out)`` float32 with ``N = 2**(depth+1) - 1``; else
    ``ValueError`` naming the array."""
    check_arrays(("w_in", w_in, 3), ("b_in", b_in, 2), ("w_out", w_out, 3))
    trees, nodes, _ = w_in.shape
    if nodes < 1 or (nodes + 1) & nodes:
        raise ValueError(f"w_in.shape[1] must be 2**(depth+1) - 1 nodes (got {nodes})")
    check_shape("b_in", b_in, (trees, nodes))
    check_shape("w_out", w_out, (trees, nodes, "d_out"))


@final
@message
class FFFWeights:
    """One FFF, read-only: ``kind`` and its arrays in the kernel's order.

    Raises:
        ValueError: the arrays do not fit the kind (naming the array).
    """

    kind: Kind
    arrays: tuple[np.ndarray, ...] = attrs.field(converter=_frozen_arrays)

    def __attrs_post_init__(self) -> None:
        if self.kind == "leaf":
            if len(self.arrays) != len(LEAF_PARAMETERS):
                raise ValueError(f"a leaf FFF has {len(LEAF_PARAMETERS)} arrays {LEAF_PARAMETERS} "
                                 f"(got {len(self.arrays)})")
            check_leaf_parameters(dict(zip(LEAF_PARAMETERS, self.arrays, strict=True)))
        elif self.kind == "trees":
            if len(self.arrays) != len(TREE_PARAMETERS):
                raise ValueError(f"FFF trees have {len(TREE_PARAMETERS)} arrays {TREE_PARAMETERS} "
                                 f"(got {len(self.arrays)})")
            check_trees(*self.arrays)
        else:
            raise ValueError(f"kind must be 'leaf' or 'trees' (got {self.kind!r})")

    @classmethod
    def from_leaf(cls, weights: FFFLeafWeights) -> FFFWeights:
        """Frozen copies of a trained ``FFFLeafWeights``' arrays."""
        return cls("leaf", tuple(weights.arrays().values()))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FFFWeights:
        """Read an ``.npz``: a leaf FFF as ``FFFLeafWeights.save`` writes it, or trees with
        entries ``w_in``, ``b_in``, ``w_out``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: neither format, or arrays that do not fit (naming the file).
        """
        where = os.fspath(path)
        with np.load(where, allow_pickle=False) as archive:
            names = set(archive.files)
        if "node_w" in names:
            return cls.from_leaf(FFFLeafWeights.load(where))
        if set(TREE_PARAMETERS) <= names:
            with np.load(where, allow_pickle=False) as archive:
                arrays = tuple(archive[name] for name in TREE_PARAMETERS)
            try:
                return cls("trees", tuple(np.asarray(a, dtype=np.float32) if a.dtype.kind == "f" else a
                                          for a in arrays))
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from error
        raise ValueError(f"{where}: not an FFF .npz (expected {', '.join(LEAF_PARAMETERS)} or "
                         f"{', '.join(TREE_PARAMETERS)}; found {', '.join(sorted(names))})")

    @property
    def d_in(self) -> int:
        """Input features."""
        return int(self.arrays[0].shape[-1] if self.kind == "trees" else self.arrays[2].shape[1])

    @property
    def d_out(self) -> int:
        """Outputs."""
        return int(self.arrays[-1].shape[-1])

    @property
    def nbytes(self) -> int:
        """Bytes of weights: what a core must hold to serve this FFF."""
        return sum(int(a.nbytes) for a in self.arrays)

    def infer(self, x: np.ndarray) -> np.ndarray:
        """Hard inference of ``(B, d_in)`` float32 rows with the variant's kernel."""
        if self.kind == "leaf":
            return fff_leaf_infer(x, *self.arrays)
        return ultrafast_infer(x, *self.arrays)
