"""The messages of inference: what a client sends a model actor and what it gets back.

Every neural actor (``FFFActor``, ``MoERouter``, a sharded FFF's root) answers ``Infer`` with
an ``Inferred``; a service or a load generator needs only this module to talk to any of them.
Arrays travel read-only (``freeze``), so a request is shared by reference, never copied.
"""

from __future__ import annotations

from typing import Any, final

import numpy as np

from neural_actors.runtime import freeze, message

__all__ = ["Infer", "Inferred", "infer_request"]


@final
@message
class Infer:
    """Run the model on ``x``: ``(batch, d_in)`` float32 rows, read-only."""

    x: np.ndarray


@final
@message
class Inferred:
    """The model's answer to one ``Infer``: ``(batch, d_out)`` float32 rows, in request order.

    ``degraded`` names the parts of the model that could not answer in time (failed or late
    experts of a mixture), when the actor was allowed to answer without them.
    """

    y: np.ndarray
    degraded: tuple[Any, ...] = ()


def infer_request(rows: Any) -> Infer:
    """An ``Infer`` from any array-like of rows (lists from JSON, a numpy array).

    Raises:
        ValueError: ``rows`` is not a 2D array of finite numbers.
    """
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty 2D array of rows (got shape {x.shape})")
    if not np.isfinite(x).all():
        raise ValueError("x must hold finite numbers (found NaN or infinity)")
    return Infer(freeze(x))
