"""A small FFF model actor: answers ``Infer`` with ``Inferred``, computed by the FFF kernel.

Its weights come from a seed (``FFFLeafWeights.init``), so every replica and every restart
computes the same function, and a test can check an answer against the weights it knows.
It serves the HTTP service's tests, examples and benchmark until the full model actors take
its place: any actor that answers ``Infer`` with ``Inferred`` can stand where it stands.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from neural_actors.runtime import Actor, Caller, freeze

from .fff_model import FFFLeafWeights
from .inference import Infer, Inferred

__all__ = ["TinyFFF"]


class TinyFFF(Actor):
    """An FFF with leaves (``d_in`` features in, ``d_out`` out) serving ``Infer`` calls.

    Args (of ``init``):
        d_in, d_out, depth, leaf_width: the tree's shape (``FFFLeafWeights.init``).
        seed: the weights' seed.
        group: join this group, so a service can spread calls over replicas.

    A request whose rows are not ``d_in`` wide is answered with a ``ValueError`` naming ``x``
    (the caller's mistake must not crash the model); any other request is refused the same way.
    """

    @classmethod
    def warm_up(cls) -> None:
        """compiling the FFF kernel, once (numba caches it for later runs)"""
        weights = FFFLeafWeights.init(4, 2, 1, 2, 0)
        for rows in (1, 300):  # the per-token walk and the level-by-level path
            weights.hard(np.zeros((rows, 4), np.float32))

    def init(self, d_in: int = 16, d_out: int = 4, depth: int = 3, leaf_width: int = 8, seed: int = 0,
             group: Hashable | None = None) -> None:
        self.weights = FFFLeafWeights.init(d_in, d_out, depth, leaf_width, seed)
        if group is not None:
            self.runtime.join(group, self.pid)

    def handle_call(self, msg: Any, caller: Caller) -> Inferred | ValueError:
        if type(msg) is not Infer:
            return ValueError(f"{type(self).__name__} answers Infer requests (got {type(msg).__name__})")
        x = msg.x
        if x.ndim != 2 or x.shape[1] != self.weights.d_in:
            return ValueError(f"x: expected rows of {self.weights.d_in} numbers (got shape {x.shape})")
        return Inferred(freeze(self.weights.hard(x)))
