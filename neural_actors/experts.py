"""``ExpertActor``: one FFF expert of a mixture, answering its router with its block of tokens.

The router casts ``ExpertWork`` (a forward's id, the expert's index and its block of token
rows) and gets ``ExpertDone`` (the block's outputs) or ``ExpertFailed`` back as a cast, so it
never blocks waiting; each answer names the pid that computed it, so the router can tell the
incarnation it asked from a later one. Blocks from concurrent forwards are micro-batched into
one kernel call (``MicroBatcher``). An expert also answers ``Infer`` like any model actor.

An expert joins its group, ``expert_group(layer, index)``, in ``init``: the router finds an
expert's live replicas there, so a restarted expert (or a new replica) takes work as soon as it
has started, with nobody telling the router. Weights come from the model's source at every
start, as views of the host's one copy (``model_store``).
"""

from __future__ import annotations

from typing import Any, final

import attrs
import numpy as np

from neural_actors.runtime import Actor, Caller, NoReply, Pid, message

from .batching import BatchStatistics, MicroBatcher
from .fff_actor import GetStatistics, batch_infer
from .inference import Infer
from .model_store import load_model
from .moe_model import MoEModel

__all__ = ["ExpertActor", "ExpertDone", "ExpertFailed", "ExpertStatistics", "ExpertWork", "expert_group"]


def expert_group(layer: str, index: int) -> str:
    """The registry group of expert ``index``'s replicas in ``layer``."""
    return f"{layer}/expert-{index}"


@final
@message
class ExpertWork:
    """Run ``x``, the block of forward ``forward``'s tokens routed to expert ``expert``; answer
    ``reply_to`` with ``ExpertDone`` or ``ExpertFailed``."""

    forward: int
    expert: int
    x: np.ndarray
    reply_to: Pid


@final
@message
class ExpertDone:
    """Expert ``expert``'s outputs for its block of forward ``forward``, computed by ``pid``."""

    forward: int
    expert: int
    pid: Pid
    y: np.ndarray


@final
@message
class ExpertFailed:
    """Expert ``expert`` (``pid``) could not run its block of forward ``forward``."""

    forward: int
    expert: int
    pid: Pid
    reason: str


@final
@message
class ExpertStatistics:
    """An expert's index, layer, weight bytes and batching figures."""

    layer: str
    expert: int
    weight_bytes: int
    batching: BatchStatistics


@final
@attrs.define(eq=False)
class _RouterAnswer:
    """A router waiting for an expert's block: answered with a cast."""

    actor: Actor
    work: ExpertWork

    def reply(self, value: np.ndarray) -> None:
        work = self.work
        self.actor.cast(work.reply_to, ExpertDone(work.forward, work.expert, self.actor.pid, value))

    def fail(self, error: BaseException) -> None:
        work = self.work
        self.actor.cast(work.reply_to, ExpertFailed(work.forward, work.expert, self.actor.pid, str(error)))


class ExpertActor(Actor):
    """Expert ``expert`` of the mixture in ``source`` (an ``MoEModel`` file or ``store:NAME``).

    Args (of ``init``):
        source: the model's source.
        expert: this expert's index.
        layer: the mixture's name; the expert joins ``expert_group(layer, expert)``.
        max_batch, max_wait, offload_from: micro-batching, as ``FFFActor``'s (by default
            blocks already in the mailbox share a kernel call, and none waits for more).
    """

    def init(self, source: str, expert: int, *, layer: str = "moe", max_batch: int = 4096, max_wait: float = 0.0,
             offload_from: int = 2048) -> None:
        self.layer = layer
        self.expert = expert
        self.weights = load_model(source, MoEModel.load).expert(expert)
        self.batcher = MicroBatcher(
            self, self.weights.infer, max_batch=max_batch, max_wait=max_wait, offload_from=offload_from
        )
        self.runtime.join(expert_group(layer, expert), self.pid)

    def handle_cast(self, msg: Any) -> None:
        if type(msg) is ExpertWork and msg.x.ndim == 2 and msg.x.shape[1] == self.weights.d_in:
            self.batcher.add(_RouterAnswer(self, msg), msg.x)
        elif type(msg) is ExpertWork:
            self.cast(msg.reply_to, ExpertFailed(msg.forward, msg.expert, self.pid,
                                                 f"a block must be (B, {self.weights.d_in}) (got {msg.x.shape})"))
        else:
            self.log.warning("unexpected_cast", message=type(msg).__name__)

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if type(msg) is Infer:
            return batch_infer(self.batcher, msg, caller, self.weights.d_in)
        if type(msg) is GetStatistics:
            return ExpertStatistics(self.layer, self.expert, self.weights.nbytes, self.batcher.statistics())
        caller.fail(TypeError(f"ExpertActor answers Infer and GetStatistics (got {type(msg).__name__})"))
        return NoReply

    def handle_info(self, msg: Any) -> None:
        if not self.batcher.handle_info(msg):
            super().handle_info(msg)
