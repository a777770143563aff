"""``MoERouter``: a mixture of FFF experts served by actors, answering through failed and late experts.

A client calls the router with ``Infer(x)``. Requests that arrive together are routed together
(a *forward*): the router runs the gating kernels on their rows (``router_logits``,
``top_k_route`` with ``k_best`` experts per token, ``dispatch_plan``), casts each chosen expert
one ``ExpertWork`` with its block of tokens, and combines the blocks that come back
(``mask_experts``, ``combine``). With every expert answering, the result is exactly
``moe_forward``'s on the same rows: the same kernels in the same order.

Failures, after hivemind's ``RemoteMixtureOfExperts`` (``k_best``, ``k_min``,
``timeout_after_k_min``, ``forward_timeout``), with what it leaves open decided here:

- **Per token.** A forward succeeds for a token once ``k_min`` of its chosen experts have
  answered (fewer if capacity left it fewer). Answers are counted per token, not per batch: one
  token's experts answering twice does not cover another token whose experts all failed.
- **When to stop waiting.** Once every token has its ``k_min`` answers the router waits at most
  ``timeout_after_k_min`` more for the rest (``None``: until ``forward_timeout``); whatever has
  not answered by then, or by ``forward_timeout`` overall, is late. An expert that dies is
  noticed at once (the router monitors every expert it sends to): its block goes to another live
  replica of that expert; with none alive the router looks again as the expert's supervisor
  restarts it (after ``RETRY_AFTER``, doubling), until the forward's deadline (``retry=False``:
  the block fails at once).
- **Masking.** Failed and late experts are removed with ``mask_experts`` and each token's
  surviving weights renormalised (``renormalize=True``), so the survivors' outputs are
  combined as a softmax over the experts that answered.
- **Tokens left short.** A token with fewer than ``k_min`` answers gets what ``fallback`` says:
  ``error`` fails every request holding such a token with ``ExpertsUnavailable``, naming the
  missing experts and how many tokens fell short; ``residual`` passes the token through (needs
  ``d_out == d``); ``zeros`` outputs zeros. Never NaN. Requests of the same forward without such
  tokens are answered; ``Inferred.degraded`` names the experts their tokens lost.
- **Late replies.** An answer is taken only from the pid the block was sent to, for a forward
  still open; anything else (a dead incarnation's, a forward already answered) is discarded
  and counted.

Experts are found by registry group (``expert_group``): a restarted expert, or a new replica
started by mitosis, takes blocks as soon as it has joined, with nobody telling the router. Among
an expert's replicas the one with the fewest blocks in flight gets the next block; on a tie, the
one registered under the group's name (the expert's own child in ``MoELayer``), so extra
replicas take the overflow only.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal, final

import attrs
import numpy as np

from neural_actors.kernels.moe import dispatch_plan, top_k_route
from neural_actors.kernels.moe_dispatch import combine, gather_tokens, mask_experts, router_logits
from neural_actors.runtime import (
    Actor,
    ActorExited,
    Caller,
    Down,
    MailboxFull,
    NoReply,
    Pid,
    Ref,
    TimerRef,
    Unreachable,
    freeze,
    message,
)

from .batching import Batch, Collector
from .errors import ExpertsUnavailable
from .experts import ExpertDone, ExpertFailed, ExpertWork, expert_group
from .fff_actor import GetStatistics, check_rows
from .inference import Infer, Inferred
from .model_store import load_model
from .moe_model import MoEModel

__all__ = ["FALLBACKS", "ExpertLoad", "MoERouter", "RouterStatistics"]

Fallback = Literal["error", "residual", "zeros"]
FALLBACKS: tuple[str, ...] = ("error", "residual", "zeros")

# What an expert's block of one forward is waiting for.
IDLE, PENDING, ANSWERED, FAILED = 0, 1, 2, 3

#: Seconds after which the router looks again for a replica of an expert that died with no
#: other replica alive (its supervisor restarts it meanwhile), doubling at each look.
RETRY_AFTER = 0.0005

#: Weight of the newest sample in an expert's latency average.
LATENCY_SMOOTHING = 0.2


@final
@message
class ExpertLoad:
    """One expert as the router sees it: live replicas, blocks in flight, the average seconds
    from sending a block to its answer, and blocks answered and failed (or late)."""

    expert: int
    replicas: int
    in_flight: int
    latency: float
    answered: int
    failed: int


@final
@message
class RouterStatistics:
    """What a router did: requests and forwards, tokens routed, expert blocks sent, failed or
    late, re-sent to another replica, late replies discarded, requests failed and answered
    degraded, and each expert's load."""

    layer: str
    requests: int
    forwards: int
    tokens: int
    blocks: int
    blocks_failed: int
    retries: int
    late_replies: int
    failed_requests: int
    degraded_requests: int
    experts: tuple[ExpertLoad, ...]


@final
@message
class _Deadline:
    """Forward ``forward`` has waited its ``forward_timeout`` or ``timeout_after_k_min``."""

    forward: int


@final
@message
class _Retry:
    """Look again for a live replica of expert ``expert`` for forward ``forward``; the next look,
    if needed, after ``delay`` seconds more."""

    forward: int
    expert: int
    delay: float


@attrs.define(eq=False)
class _Forward:
    """One routed batch of requests and what its experts have answered so far."""

    id: int
    batch: Batch
    x: np.ndarray
    chosen: np.ndarray
    weights: np.ndarray
    kept: np.ndarray
    order: np.ndarray
    offsets: np.ndarray
    blocks: np.ndarray  # the gathered rows, frozen: each expert's block is a view
    outputs: np.ndarray  # the experts' answers, in the rows of ``order``
    state: np.ndarray  # per expert: IDLE, PENDING, ANSWERED, FAILED
    sent: dict[int, tuple[Pid | None, float]]  # expert -> the pid asked (None: none yet) and when
    answers: np.ndarray  # per token: experts that answered
    need: np.ndarray  # per token: answers needed, min(k_min, kept assignments)
    short: int  # tokens with fewer answers than they need
    deadline: TimerRef | None = None
    after: TimerRef | None = None


@attrs.define(eq=False)
class _ExpertCounters:
    latency: float = 0.0
    answered: int = 0
    failed: int = 0


class MoERouter(Actor):
    """Routes ``Infer`` requests through the experts of ``source`` (an ``MoEModel``).

    Args (of ``init``):
        source: the model's source (a path or ``store:NAME``).
        layer: the mixture's name; its experts are in ``expert_group(layer, e)``.
        k_best: experts asked per token (default: the model's ``k``).
        k_min: answers each token needs, ``1 <= k_min <= k_best``.
        timeout_after_k_min: seconds to wait for the other experts once every token has
            ``k_min`` answers; ``None``: until ``forward_timeout``.
        forward_timeout: seconds a forward may take in all.
        fallback: for tokens short of ``k_min``: ``error``, ``residual`` or ``zeros``.
        renormalize, capacity_factor, dropped: as ``moe_forward``'s.
        max_batch: rows routed together at most; max_wait: seconds a request waits for others
            to share its forward (0: only those already in the mailbox).
        retry: send the block of an expert that died to another live replica.

    Raises (from ``init``):
        ValueError: an option out of range, naming it.
    """

    def init(
        self,
        source: str,
        *,
        layer: str = "moe",
        k_best: int | None = None,
        k_min: int = 1,
        timeout_after_k_min: float | None = None,
        forward_timeout: float = 1.0,
        fallback: Fallback = "error",
        renormalize: bool = True,
        capacity_factor: float | None = None,
        dropped: Literal["zeros", "residual"] = "zeros",
        max_batch: int = 4096,
        max_wait: float = 0.0,
        retry: bool = True,
    ) -> None:
        model = load_model(source, MoEModel.load)
        count = model.expert_count
        k_best = model.k if k_best is None else k_best
        if isinstance(k_best, bool) or not isinstance(k_best, int) or not 1 <= k_best <= count:
            raise ValueError(f"k_best must be an int in [1, E = {count}] (got {k_best!r})")
        if isinstance(k_min, bool) or not isinstance(k_min, int) or not 1 <= k_min <= k_best:
            raise ValueError(f"k_min must be an int in [1, k_best = {k_best}] (got {k_min!r})")
        for name, value in (("forward_timeout", forward_timeout), ("timeout_after_k_min", timeout_after_k_min)):
            if value is None and name == "timeout_after_k_min":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"{name} must be finite seconds >= 0 (got {value!r})")
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)} (got {fallback!r})")
        if dropped not in ("zeros", "residual"):
            raise ValueError(f"dropped must be 'zeros' or 'residual' (got {dropped!r})")
        if "residual" in (fallback, dropped) and model.d_out != model.d_in:
            raise ValueError(f"residual needs d_out == d = {model.d_in} (this model's d_out is {model.d_out})")
        self.layer = layer
        self.model = model
        self.k_best, self.k_min = k_best, k_min
        self.timeout_after_k_min, self.forward_timeout = timeout_after_k_min, float(forward_timeout)
        self.fallback, self.renormalize = fallback, renormalize
        self.capacity_factor, self.dropped, self.retry = capacity_factor, dropped, retry
        self.groups = tuple(expert_group(layer, e) for e in range(count))
        self.collector = Collector(self, self._forward, max_batch=max_batch, max_wait=max_wait)
        self.forwards: dict[int, _Forward] = {}
        self.ids = itertools.count()
        self.in_flight: dict[Pid, set[tuple[int, int]]] = {}  # pid -> (forward, expert) it owes
        self.monitors: dict[Pid, Ref] = {}
        self.counters = [_ExpertCounters() for _ in range(count)]
        self.requests = self.forwards_started = self.tokens = self.blocks = self.blocks_failed = 0
        self.retries = self.late_replies = self.failed_requests = self.degraded_requests = 0

    # Messages ----------------------------------------------------------------------------

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if type(msg) is Infer:
            try:
                check_rows(msg.x, self.model.d_in)
            except ValueError as error:
                caller.fail(error)
                return NoReply
            self.requests += 1
            self.collector.add(caller, msg.x)
            return NoReply
        if type(msg) is GetStatistics:
            return self.statistics()
        caller.fail(TypeError(f"MoERouter answers Infer and GetStatistics (got {type(msg).__name__})"))
        return NoReply

    def handle_cast(self, msg: Any) -> None:
        kind = type(msg)
        if kind is ExpertDone:
            self._answered(msg)
        elif kind is ExpertFailed:
            self._expert_failed(msg.forward, msg.expert, msg.pid, msg.reason)
        else:
            self.log.warning("unexpected_cast", message=kind.__name__)

    def handle_info(self, msg: Any) -> None:
        kind = type(msg)
        if kind is _Deadline:
            forward = self.forwards.get(msg.forward)
            if forward is not None:
                self._finish(forward)
        elif kind is _Retry:
            self._retry(msg)
        elif kind is Down:
            self._expert_down(msg.pid)
        elif not self.collector.handle_info(msg):
            super().handle_info(msg)

    def statistics(self) -> RouterStatistics:
        loads = []
        for e, group in enumerate(self.groups):
            replicas = self.runtime.members(group)
            in_flight = sum(len(self.in_flight.get(pid, ())) for pid in replicas)
            c = self.counters[e]
            loads.append(ExpertLoad(e, len(replicas), in_flight, c.latency, c.answered, c.failed))
        return RouterStatistics(
            self.layer, self.requests, self.forwards_started, self.tokens, self.blocks, self.blocks_failed,
            self.retries, self.late_replies, self.failed_requests, self.degraded_requests, tuple(loads),
        )

    # A forward ---------------------------------------------------------------------------

    def _forward(self, batch: Batch) -> None:
        """Route ``batch`` and send each chosen expert its block."""
        model, k = self.model, self.k_best
        x = batch.stacked()
        chosen, weights, kept = top_k_route(router_logits(x, model.router_w), k, self.capacity_factor)
        order, offsets = dispatch_plan(chosen, kept, model.expert_count)
        tokens = len(x)
        need = np.minimum(self.k_min, kept.sum(axis=1))
        forward = _Forward(
            id=next(self.ids), batch=batch, x=x, chosen=chosen, weights=weights, kept=kept, order=order,
            offsets=offsets, blocks=freeze(gather_tokens(x, order, k)),
            outputs=np.zeros((len(order), model.d_out), np.float32),
            state=np.where(np.diff(offsets) > 0, PENDING, IDLE).astype(np.int8), sent={},
            answers=np.zeros(tokens, np.int64), need=need, short=int((need > 0).sum()),
        )
        forward.deadline = self.send_after(self.forward_timeout, self.pid, _Deadline(forward.id))
        self.forwards[forward.id] = forward
        self.forwards_started += 1
        self.tokens += tokens
        for e in np.flatnonzero(forward.state == PENDING):
            if not self._send(forward, int(e), exclude=None):
                self._mark_failed(forward, int(e))
        self._progress(forward)

    def _send(self, forward: _Forward, e: int, exclude: Pid | None) -> bool:
        """Cast expert ``e``'s block to its least busy live replica; False if none took it."""
        group = self.groups[e]
        replicas = [pid for pid in self.runtime.members(group) if pid != exclude]
        # the fewest blocks in flight first; on a tie the replica registered under the group's
        # name (the expert's own child), so that extra replicas take only the overflow and go
        # idle when the load falls
        primary = self.runtime.whereis(group)
        replicas.sort(key=lambda pid: (len(self.in_flight.get(pid, ())), pid != primary))
        block = forward.blocks[forward.offsets[e]:forward.offsets[e + 1]]
        for pid in replicas:
            try:
                self.cast(pid, ExpertWork(forward.id, e, block, self.pid))
            except (ActorExited, Unreachable, MailboxFull):
                continue
            forward.sent[e] = (pid, self.runtime.now())
            self.in_flight.setdefault(pid, set()).add((forward.id, e))
            if pid not in self.monitors:
                self.monitors[pid] = self.monitor(pid)
            self.blocks += 1
            return True
        return False

    def _answered(self, msg: ExpertDone) -> None:
        forward, e = self.forwards.get(msg.forward), msg.expert
        self._settled(msg.pid, msg.forward, e)
        if forward is None or forward.state[e] != PENDING or forward.sent[e][0] != msg.pid:
            self.late_replies += 1
            return
        start, stop = forward.offsets[e], forward.offsets[e + 1]
        if msg.y.shape != (stop - start, self.model.d_out):
            self._expert_failed(msg.forward, e, msg.pid, f"answered shape {msg.y.shape}")
            return
        forward.outputs[start:stop] = msg.y
        forward.state[e] = ANSWERED
        counters = self.counters[e]
        counters.answered += 1
        seconds = self.runtime.now() - forward.sent[e][1]
        counters.latency += LATENCY_SMOOTHING * (seconds - counters.latency)
        tokens = forward.order[start:stop] // self.k_best  # a token takes an expert once
        forward.answers[tokens] += 1
        forward.short -= int((forward.answers[tokens] == forward.need[tokens]).sum())
        self._progress(forward)

    def _expert_failed(self, forward_id: int, e: int, pid: Pid, reason: str) -> None:
        """The expert could not run the block (its kernel refused it): asking another replica
        would not help."""
        self._settled(pid, forward_id, e)
        forward = self.forwards.get(forward_id)
        if forward is None or forward.state[e] != PENDING or forward.sent[e][0] != pid:
            self.late_replies += 1
            return
        self.log.warning("expert_failed", expert=e, forward=forward_id, reason=reason)
        self._mark_failed(forward, e)
        self._progress(forward)

    def _expert_down(self, pid: Pid) -> None:
        """An expert the router sent work to exited: its blocks go elsewhere or fail."""
        self.monitors.pop(pid, None)
        for forward_id, e in sorted(self.in_flight.pop(pid, ())):
            forward = self.forwards.get(forward_id)
            if forward is None or forward.state[e] != PENDING or forward.sent[e][0] != pid:
                continue
            if not self.retry:
                self._mark_failed(forward, e)
                self._progress(forward)
            elif self._send(forward, e, exclude=pid):
                self.retries += 1
            else:
                # no live replica yet: its supervisor is restarting it; look again soon. Nobody
                # owes the block meanwhile: an answer in the dead pid's name is discarded
                forward.sent[e] = (None, forward.sent[e][1])
                self.send_after(RETRY_AFTER, self.pid, _Retry(forward_id, e, 2 * RETRY_AFTER))

    def _retry(self, msg: _Retry) -> None:
        """Send a dead expert's block to a replica that has started since, or look again later;
        the forward's deadline ends the looking."""
        forward = self.forwards.get(msg.forward)
        if forward is None or forward.state[msg.expert] != PENDING:
            return
        if self._send(forward, msg.expert, exclude=None):
            self.retries += 1
        else:
            self.send_after(msg.delay, self.pid, _Retry(msg.forward, msg.expert, 2 * msg.delay))

    def _settled(self, pid: Pid, forward_id: int, e: int) -> None:
        owed = self.in_flight.get(pid)
        if owed is not None:
            owed.discard((forward_id, e))

    def _mark_failed(self, forward: _Forward, e: int) -> None:
        forward.state[e] = FAILED
        self.counters[e].failed += 1
        self.blocks_failed += 1

    def _progress(self, forward: _Forward) -> None:
        """Finish a forward with nothing left to wait for; once every token has ``k_min``
        answers, wait at most ``timeout_after_k_min`` for the rest."""
        if forward.id not in self.forwards:
            return
        if not (forward.state == PENDING).any():
            self._finish(forward)
        elif forward.short == 0 and forward.after is None and self.timeout_after_k_min is not None:
            if self.timeout_after_k_min == 0:
                self._finish(forward)
            else:
                forward.after = self.send_after(self.timeout_after_k_min, self.pid, _Deadline(forward.id))

    def _finish(self, forward: _Forward) -> None:
        """Mask what did not answer, combine, and answer (or fail) each request."""
        del self.forwards[forward.id]
        if forward.deadline is not None:
            self.cancel_timer(forward.deadline)
        if forward.after is not None:
            self.cancel_timer(forward.after)
        for e in np.flatnonzero(forward.state == PENDING):
            self._mark_failed(forward, int(e))  # late: its answer, if it comes, is discarded
        failed = forward.state == FAILED
        weights, kept = forward.weights, forward.kept
        if failed.any() or self.renormalize:
            weights, kept = mask_experts(forward.chosen, weights, kept, failed, self.renormalize)
        x = forward.x
        out = combine(forward.outputs, forward.order, weights, len(x), self.k_best,
                      pass_through=x if self.dropped == "residual" else None)
        short = forward.answers < forward.need
        if short.any() and self.fallback != "error":
            out[short] = x[short] if self.fallback == "residual" else 0.0
        y = freeze(out)
        for caller, (start, stop) in zip(forward.batch.waiters, forward.batch.spans(), strict=True):
            lost = forward.chosen[start:stop][forward.kept[start:stop]]
            missing = tuple(int(e) for e in np.unique(lost[failed[lost]]))
            tokens = int(short[start:stop].sum())
            if tokens and self.fallback == "error":
                self.failed_requests += 1
                caller.fail(ExpertsUnavailable(self.layer, missing, tokens, self.k_min))
                continue
            if missing:
                self.degraded_requests += 1
            caller.reply(Inferred(y[start:stop], degraded=missing))

