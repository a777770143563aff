"""``FFFActor``: one FFF served to many callers, their requests micro-batched into kernel calls.

A client calls ``Infer(x)`` and gets ``Inferred(y)`` with its own rows. The actor loads its
weights in ``init`` from its *source* (a path or ``store:NAME``, see ``model_store``), which its
``ChildSpec`` keeps: every restart reloads from there, never from what the crashed incarnation
held, and replicas on one host share one read-only copy. Requests are batched by
``MicroBatcher`` (``max_batch`` rows or ``max_wait`` seconds; big batches on a worker thread).

    ChildSpec(id="fff", start=(FFFActor, ("models/fff.npz",), {"max_batch": 128}), name="fff")
"""

from __future__ import annotations

from typing import Any, final

import attrs
import numpy as np

from neural_actors.runtime import Actor, Caller, NoReply, message

from .batching import BatchStatistics, MicroBatcher
from .fff_weights import FFFWeights
from .inference import Infer, Inferred
from .model_store import load_model

__all__ = ["FFFActor", "FFFStatistics", "GetStatistics", "InferAnswer", "check_rows"]


@final
@message
class GetStatistics:
    """Ask a model actor for its statistics (a call)."""


@final
@message
class FFFStatistics:
    """An FFF actor's model and batching figures."""

    source: str
    kind: str
    d_in: int
    d_out: int
    weight_bytes: int
    batching: BatchStatistics


def check_rows(x: object, d_in: int) -> None:
    """``x`` must be ``(B, d_in)`` float32 with ``B >= 1``; else ``ValueError`` saying what came."""
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 2:
        got = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"Infer.x must be a (B, {d_in}) float32 array (got {got})")
    if x.shape[0] == 0 or x.shape[1] != d_in:
        raise ValueError(f"Infer.x must be a (B, {d_in}) float32 array with B >= 1 (got shape {x.shape})")


@final
@attrs.define(eq=False)
class InferAnswer:
    """A caller of ``Infer`` as a batcher's waiter: answered with ``Inferred``."""

    caller: Caller

    def reply(self, value: np.ndarray) -> None:
        self.caller.reply(Inferred(value))

    def fail(self, error: BaseException) -> None:
        self.caller.fail(error)


def batch_infer(batcher: MicroBatcher, msg: Infer, caller: Caller, d_in: int) -> Any:
    """Answer an ``Infer`` call through ``batcher``: bad rows fail the caller at once, good ones
    join the next batch and are answered with ``Inferred``. Returns ``NoReply``."""
    try:
        check_rows(msg.x, d_in)
    except ValueError as error:
        caller.fail(error)
        return NoReply
    batcher.add(InferAnswer(caller), msg.x)
    return NoReply


class FFFActor(Actor):
    """Serves ``Infer`` with one FFF (``FFFWeights``: a leaf FFF or UltraFastBERT trees).

    Args (of ``init``):
        source: a ``.npz`` path or ``store:NAME``.
        max_batch: rows per kernel call at most.
        max_wait: seconds a request waits for others to share its kernel call (0: only for
            those already in the mailbox, so no request is delayed).
        offload_from: batches of this many rows or more run on a worker thread.
        group: a registry group to join (clients and chaos find replicas there).

    A bad request (wrong shape or dtype, non-finite values) fails its caller with
    ``ValueError``; the actor keeps serving.
    """

    def init(self, source: str, *, max_batch: int = 256, max_wait: float = 0.0, offload_from: int = 512,
             group: str | None = None) -> None:
        self.source = source
        self.model = load_model(source, FFFWeights.load)
        self.batcher = MicroBatcher(
            self, self.model.infer, max_batch=max_batch, max_wait=max_wait, offload_from=offload_from
        )
        if group is not None:
            self.runtime.join(group, self.pid)

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if type(msg) is Infer:
            return batch_infer(self.batcher, msg, caller, self.model.d_in)
        if type(msg) is GetStatistics:
            return self.statistics()
        caller.fail(TypeError(f"FFFActor answers Infer and GetStatistics (got {type(msg).__name__})"))
        return NoReply

    def handle_info(self, msg: Any) -> None:
        if not self.batcher.handle_info(msg):
            super().handle_info(msg)

    def statistics(self) -> FFFStatistics:
        model = self.model
        return FFFStatistics(self.source, model.kind, model.d_in, model.d_out, model.nbytes,
                             self.batcher.statistics())
