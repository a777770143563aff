"""Mixture-of-Experts routing, dispatch and router losses: which expert gets which token.

Every kernel is a pure function: randomness (router noise, GShard's second-expert sample) is an
input array drawn by the caller, so equal inputs give equal outputs on every run.

Token choice (``top_k_route``): each token picks its ``k`` experts.

* Scores: the logits, or with Shazeer et al. (2017)'s noisy gating
  ``H = logits + noise * softplus(noise_logits)``, where ``noise`` holds standard normal samples
  and ``noise_logits`` the token's noise-scale logits (``x @ W_noise``). ``H`` is evaluated in
  float64 and rounded to float32 once.
* Selection: the ``k`` highest scores; equal scores go to the lower expert index. Ranking uses the
  scores, not their softmax, so experts whose probabilities underflow still rank correctly.
* Normalisation, explicit: ``"softmax_all"`` (Switch, GShard's router probabilities) weights an
  expert by its softmax over all ``E`` experts, so weights sum to at most 1;
  ``"softmax_topk"`` (Shazeer's ``softmax(KeepTopK(H, k))``) renormalises over the chosen ``k``,
  so they sum to 1.
* Capacity: at most ``capacity = ceil(capacity_factor * k * T / E)`` kept assignments per expert;
  ``capacity_factor=None`` is dropless (every assignment kept). The product is exact, on the
  factor as written: its shortest decimal form (``str``), so ``1.1`` is 11/10 and not the
  double just above it, whose product could round up to one slot more (``T = 420, E = 42``:
  11, not 12). A capacity of every assignment or more drops nothing, so a factor of ``1e308``
  is simply dropless. Overflow drops the
  lowest-priority assignments: every token's first choice outranks any second choice and, within
  a rank, earlier tokens outrank later ones (GShard's order). An assignment already dropped uses
  no capacity.

Presets: ``switch_route`` is top-1 with ``"softmax_all"`` (Fedus et al. 2021).
``gshard_route`` is top-2 with weights renormalised over the pair (Lepikhin et al. 2020). Its
second expert is used with probability ``min(1, 2 * w2)``: kept iff ``uniform[t] < 2 * w2`` for a
caller's sample ``uniform[t]`` in ``[0, 1)``; with no sample every second choice is kept (GShard at
evaluation). A second choice not used takes no capacity. GShard counts capacity per token, not
per assignment: ``ceil(capacity_factor * T / E)``, so the default 2.0 is the paper's ``2T / E``.

Expert choice (``expert_choice_route``, Zhou et al. 2022): each expert takes its
``c = min(T, ceil(capacity_factor * T / E))`` tokens with the highest softmax probability (softmax
per token over experts), ranked by the returned float32 weight; equal weights go to the lower
token index. A token may be taken by several experts or by none.

Dispatch (``dispatch_plan``): a stable counting sort of the kept (token, slot) assignments by
expert gives one permutation and per-expert offsets, so experts see contiguous blocks with no
padding.

Losses, each returned with its gradient with respect to the logits (float64 sums):

* ``load_balancing_loss``: Switch's ``alpha * E * sum_i f_i * P_i``. ``f_i`` is the fraction of
  the ``T * k`` assignments routed to expert ``i`` (for ``k = 1`` the fraction of tokens, as in
  Switch; for ``k > 1`` every choice counts ``1 / k``), counting only kept ones when ``kept`` is
  given; ``P_i`` is the mean softmax probability of expert ``i``. Uniform routing gives ``alpha``.
  ``f`` is a count, so the gradient flows through ``P`` only.
* ``router_z_loss``: ST-MoE's mean over tokens of ``logsumexp(logits)**2``, which keeps logits
  small enough for float32 softmaxes.

With no tokens, both losses are 0.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Real
from typing import Literal

import numba
import numpy as np

from .checks import check_finite, check_shape, integer

__all__ = [
    "dispatch_plan",
    "expert_choice_route",
    "gshard_route",
    "load_balancing_loss",
    "router_z_loss",
    "switch_route",
    "top_k_route",
]

Normalize = Literal["softmax_all", "softmax_topk"]


@numba.njit(cache=True, nogil=True)
def _noisy_scores(logits, noise, noise_logits, scores):  # pragma: no cover - compiled
    tokens, experts = logits.shape
    for t in range(tokens):
        for e in range(experts):
            x = np.float64(noise_logits[t, e])
            softplus = math.log1p(math.exp(-abs(x))) + max(x, 0.0)
            scores[t, e] = np.float64(logits[t, e]) + np.float64(noise[t, e]) * softplus


@numba.njit(cache=True, nogil=True)
def _route(scores, k, softmax_topk, chosen, weights):  # pragma: no cover - compiled
    tokens, experts = scores.shape
    taken = np.zeros(experts, dtype=np.bool_)
    for t in range(tokens):
        taken[:] = False
        for slot in range(k):
            best = -1
            for e in range(experts):
                if not taken[e] and (best < 0 or scores[t, e] > scores[t, best]):
                    best = e
            taken[best] = True
            chosen[t, slot] = best
        top = np.float64(scores[t, chosen[t, 0]])
        total = 0.0
        if softmax_topk:
            for slot in range(k):
                total += math.exp(np.float64(scores[t, chosen[t, slot]]) - top)
        else:
            for e in range(experts):
                total += math.exp(np.float64(scores[t, e]) - top)
        for slot in range(k):
            weights[t, slot] = math.exp(np.float64(scores[t, chosen[t, slot]]) - top) / total


@numba.njit(cache=True, nogil=True)
def _apply_capacity(chosen, capacity, experts, kept):  # pragma: no cover - compiled
    tokens, k = chosen.shape
    load = np.zeros(experts, dtype=np.int64)
    for slot in range(k):
        for t in range(tokens):
            if kept[t, slot]:
                e = chosen[t, slot]
                if load[e] < capacity:
                    load[e] += 1
                else:
                    kept[t, slot] = False


@numba.njit(cache=True, nogil=True, inline="always")
def _softmax_row(logits, t, out):  # pragma: no cover - compiled
    """Row ``t``'s softmax into float64 ``out``; returns the row's logsumexp."""
    experts = logits.shape[1]
    top = np.float64(logits[t, 0])
    for e in range(1, experts):
        top = max(top, np.float64(logits[t, e]))
    total = 0.0
    for e in range(experts):
        out[e] = math.exp(np.float64(logits[t, e]) - top)
        total += out[e]
    for e in range(experts):
        out[e] /= total
    return top + math.log(total)


@numba.njit(cache=True, nogil=True)
def _expert_choice(logits, tokens, weights):  # pragma: no cover - compiled
    n_tokens, experts = logits.shape
    c = tokens.shape[1]
    row = np.empty(experts, dtype=np.float64)
    probs = np.empty((experts, n_tokens), dtype=np.float32)
    for t in range(n_tokens):
        _softmax_row(logits, t, row)
        for e in range(experts):
            probs[e, t] = row[e]
    for e in range(experts):
        order = np.argsort(-probs[e], kind="mergesort")
        for j in range(c):
            tokens[e, j] = order[j]
            weights[e, j] = probs[e, order[j]]


@numba.njit(cache=True, nogil=True)
def _load_balancing(logits, chosen, kept, alpha, grad):  # pragma: no cover - compiled
    tokens, experts = logits.shape
    k = chosen.shape[1]
    fraction = np.zeros(experts, dtype=np.float64)
    for t in range(tokens):
        for slot in range(k):
            if kept[t, slot]:
                fraction[chosen[t, slot]] += 1.0
    fraction /= tokens * k
    probs = np.empty((tokens, experts), dtype=np.float64)
    mean_prob = np.zeros(experts, dtype=np.float64)
    for t in range(tokens):
        _softmax_row(logits, t, probs[t])
        for e in range(experts):
            mean_prob[e] += probs[t, e]
    mean_prob /= tokens
    total = 0.0
    for e in range(experts):
        total += fraction[e] * mean_prob[e]
    scale = alpha * experts / tokens
    for t in range(tokens):
        dot = 0.0
        for e in range(experts):
            dot += fraction[e] * probs[t, e]
        for e in range(experts):
            grad[t, e] = scale * probs[t, e] * (fraction[e] - dot)
    return alpha * experts * total


@numba.njit(cache=True, nogil=True)
def _z_loss(logits, grad):  # pragma: no cover - compiled
    tokens, experts = logits.shape
    row = np.empty(experts, dtype=np.float64)
    total = 0.0
    for t in range(tokens):
        lse = _softmax_row(logits, t, row)
        total += lse * lse
        for e in range(experts):
            grad[t, e] = 2.0 * lse * row[e] / tokens
    return total / tokens


@numba.njit(cache=True, nogil=True)
def _plan(chosen, kept, experts):  # pragma: no cover - compiled
    flat_experts = chosen.reshape(-1)
    flat_kept = kept.reshape(-1)
    offsets = np.zeros(experts + 1, dtype=np.int64)
    for i in range(flat_experts.shape[0]):
        if flat_kept[i]:
            offsets[flat_experts[i] + 1] += 1
    for e in range(experts):
        offsets[e + 1] += offsets[e]
    cursor = offsets[:-1].copy()
    order = np.empty(offsets[experts], dtype=np.int64)
    for i in range(flat_experts.shape[0]):
        if flat_kept[i]:
            e = flat_experts[i]
            order[cursor[e]] = i
            cursor[e] += 1
    return order, offsets


def _check_matrix(name: str, array: object, shape: tuple[int, int] | None = None) -> None:
    if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.ndim != 2:
        raise ValueError(f"{name} must be a (T, E) float32 ndarray")
    if shape is not None:
        check_shape(name, array, shape, ", the shape of logits")
    check_finite(name, array)


def _check_logits(logits: object) -> tuple[int, int]:
    _check_matrix("logits", logits)
    if logits.shape[1] == 0:
        raise ValueError("logits must have at least one expert column (got E=0)")
    return logits.shape


def _capacity(
    capacity_factor: object, assignments: int, experts: int, *, optional: bool = True
) -> int:
    """``ceil(capacity_factor * assignments / E)``, exact on the factor's shortest decimal form
    and at most ``assignments`` (which drops nothing); -1 for dropless routing."""
    if capacity_factor is None and optional:
        return -1
    if (
        not isinstance(capacity_factor, Real)
        or isinstance(capacity_factor, bool)
        or not 0 < capacity_factor < math.inf
    ):
        allowed = "a finite number > 0 or None" if optional else "a finite number > 0"
        raise ValueError(f"capacity_factor must be {allowed} (got {capacity_factor!r})")
    return min(math.ceil(Fraction(str(capacity_factor)) * assignments / experts), assignments)


def _routed(scores: np.ndarray, k: int, normalize: str) -> tuple[np.ndarray, np.ndarray]:
    chosen = np.empty((scores.shape[0], k), dtype=np.int32)
    weights = np.empty((scores.shape[0], k), dtype=np.float32)
    _route(scores, k, normalize == "softmax_topk", chosen, weights)
    return chosen, weights


def top_k_route(
    logits: np.ndarray,
    k: int,
    capacity_factor: float | None = None,
    *,
    noise: np.ndarray | None = None,
    noise_logits: np.ndarray | None = None,
    normalize: Normalize = "softmax_all",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Route each token to its top ``k`` experts, within capacity.

    Args:
        logits: ``(T, E)`` float32 finite router logits.
        k: experts per token, ``1 <= k <= E``: an int or a numpy integer.
        capacity_factor: ``None`` for dropless routing, else capacity per expert is
            ``ceil(capacity_factor * k * T / E)``, exact on the factor as written (see the
            module docstring).
        noise: ``(T, E)`` float32 standard normal samples for noisy top-k gating; given
            together with ``noise_logits``, the scores are
            ``logits + noise * softplus(noise_logits)``.
        noise_logits: ``(T, E)`` float32 noise-scale logits, ``x @ W_noise``.
        normalize: ``"softmax_all"`` (Switch/GShard) or ``"softmax_topk"`` (Shazeer's noisy
            top-k); see the module docstring.

    Returns:
        ``chosen`` ``(T, k)`` int32 expert indices, best first; ``weights`` ``(T, k)`` float32
        gate values; ``kept`` ``(T, k)`` bool (False where capacity dropped the assignment).

    Raises:
        ValueError: a bad dtype, shape, non-finite value, ``k``, capacity factor or
            ``normalize``, naming the argument.
    """
    tokens, experts = _check_logits(logits)
    count = integer(k)
    if count is None or not 1 <= count <= experts:
        raise ValueError(f"k must be an int from 1 to E={experts} (got {k!r})")
    k = count
    capacity = _capacity(capacity_factor, k * tokens, experts)
    if normalize not in ("softmax_all", "softmax_topk"):
        raise ValueError(f"normalize must be 'softmax_all' or 'softmax_topk' (got {normalize!r})")
    scores = np.ascontiguousarray(logits)
    if (noise is None) != (noise_logits is None):
        raise ValueError("noise and noise_logits must be given together")
    if noise is not None:
        _check_matrix("noise", noise, logits.shape)
        _check_matrix("noise_logits", noise_logits, logits.shape)
        noisy = np.empty_like(scores)
        _noisy_scores(
            scores, np.ascontiguousarray(noise), np.ascontiguousarray(noise_logits), noisy
        )
        scores = noisy
        if not np.isfinite(scores).all():
            raise ValueError("noise * softplus(noise_logits) overflows float32")
    chosen, weights = _routed(scores, k, normalize)
    kept = np.ones((tokens, k), dtype=np.bool_)
    if capacity >= 0:
        _apply_capacity(chosen, capacity, experts, kept)
    return chosen, weights, kept


def switch_route(
    logits: np.ndarray, capacity_factor: float | None = 1.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Switch Transformer routing: top-1, softmax over all experts; ``None`` is dropless."""
    return top_k_route(logits, 1, capacity_factor)


def gshard_route(
    logits: np.ndarray, capacity_factor: float | None = 2.0, *, uniform: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GShard top-2 routing: weights renormalised over the pair, the second expert sampled.

    Args:
        logits: ``(T, E)`` float32 finite router logits, ``E >= 2``.
        capacity_factor: per token, as in GShard: capacity is ``ceil(capacity_factor * T / E)``;
            ``None`` is dropless.
        uniform: ``(T,)`` float32 samples in ``[0, 1)``; the second choice is kept iff
            ``uniform[t] < 2 * weights[t, 1]``. ``None`` keeps every second choice.

    Returns:
        ``chosen``, ``weights``, ``kept`` as ``top_k_route`` with ``k = 2``.
    """
    tokens, experts = _check_logits(logits)
    if experts < 2:
        raise ValueError(
            f"logits must have at least 2 expert columns for top-2 routing (got E={experts})"
        )
    capacity = _capacity(capacity_factor, tokens, experts)
    if uniform is not None and (
        not isinstance(uniform, np.ndarray)
        or uniform.dtype != np.float32
        or uniform.shape != (tokens,)
        or not ((uniform >= 0) & (uniform < 1)).all()
    ):
        raise ValueError(f"uniform must be a ({tokens},) float32 ndarray of samples in [0, 1)")
    chosen, weights = _routed(np.ascontiguousarray(logits), 2, "softmax_topk")
    kept = np.ones((tokens, 2), dtype=np.bool_)
    if uniform is not None:
        kept[:, 1] = uniform < np.float32(2) * weights[:, 1]
    if capacity >= 0:
        _apply_capacity(chosen, capacity, experts, kept)
    return chosen, weights, kept


def expert_choice_route(
    logits: np.ndarray, capacity_factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Expert Choice routing: each expert takes its top ``c`` tokens, so no expert overflows.

    Args:
        logits: ``(T, E)`` float32 finite router logits.
        capacity_factor: ``c = min(T, ceil(capacity_factor * T / E))`` tokens per expert.

    Returns:
        ``tokens`` ``(E, c)`` int32 token indices, best first; ``weights`` ``(E, c)`` float32
        softmax probabilities (per token, over experts) of those tokens.
    """
    n_tokens, experts = _check_logits(logits)
    c = min(n_tokens, _capacity(capacity_factor, n_tokens, experts, optional=False))
    tokens = np.empty((experts, c), dtype=np.int32)
    weights = np.empty((experts, c), dtype=np.float32)
    _expert_choice(np.ascontiguousarray(logits), tokens, weights)
    return tokens, weights


def load_balancing_loss(
    logits: np.ndarray, chosen: np.ndarray, kept: np.ndarray | None = None, alpha: float = 0.01
) -> tuple[float, np.ndarray]:
    """Switch's auxiliary loss ``alpha * E * sum_i f_i * P_i``, minimal under uniform routing.

    Args:
        logits: ``(T, E)`` float32 finite router logits.
        chosen: ``(T, k)`` integer expert indices in ``[0, E)``.
        kept: ``(T, k)`` bool; only kept assignments count towards ``f``. ``None`` counts all
            (Switch counts routing before capacity drops).
        alpha: the loss coefficient, finite and ``>= 0``.

    Returns:
        The loss and its ``(T, E)`` float32 gradient with respect to ``logits``.
    """
    tokens, experts = _check_logits(logits)
    if not isinstance(chosen, np.ndarray) or chosen.dtype.kind not in "iu" or chosen.ndim != 2:
        raise ValueError("chosen must be a (T, k) integer ndarray")
    check_shape("chosen", chosen, (tokens, "k"))
    if chosen.shape[1] == 0:
        raise ValueError(f"chosen must hold at least one expert per token, k >= 1 (got shape {chosen.shape})")
    if chosen.size and not (0 <= chosen.min() and chosen.max() < experts):
        raise ValueError(f"chosen must hold expert indices in [0, {experts})")
    if kept is None:
        kept = np.ones(chosen.shape, dtype=np.bool_)
    elif not isinstance(kept, np.ndarray) or kept.dtype != np.bool_ or kept.shape != chosen.shape:
        raise ValueError(f"kept must be a bool ndarray of the shape of chosen {chosen.shape}")
    if not isinstance(alpha, Real) or isinstance(alpha, bool) or not 0 <= alpha < math.inf:
        raise ValueError(f"alpha must be a finite number >= 0 (got {alpha!r})")
    grad = np.zeros((tokens, experts), dtype=np.float32)
    if tokens == 0:
        return 0.0, grad
    loss = _load_balancing(
        np.ascontiguousarray(logits),
        np.ascontiguousarray(chosen, dtype=np.int64),
        np.ascontiguousarray(kept),
        float(alpha),
        grad,
    )
    return float(loss), grad


def router_z_loss(logits: np.ndarray) -> tuple[float, np.ndarray]:
    """ST-MoE's router z-loss, mean of ``logsumexp(logits)**2``, and its float32 gradient."""
    tokens, experts = _check_logits(logits)
    grad = np.zeros((tokens, experts), dtype=np.float32)
    if tokens == 0:
        return 0.0, grad
    return float(_z_loss(np.ascontiguousarray(logits), grad)), grad


def dispatch_plan(
    chosen: np.ndarray, kept: np.ndarray, experts: int
) -> tuple[np.ndarray, np.ndarray]:
    """The stable counting sort of kept assignments by expert.

    Returns:
        ``order``: flat assignment indices (``token * k + slot``) grouped by expert, in token
        order within each expert; ``offsets``: ``(E + 1,)``, expert ``e`` owns
        ``order[offsets[e]:offsets[e + 1]]``.

    Raises:
        ValueError: bad shapes or dtypes, or a kept expert index outside ``[0, experts)``.
    """
    count = integer(experts)
    if count is None or count < 1:
        raise ValueError(f"experts must be an int >= 1 (got {experts!r})")
    if not isinstance(chosen, np.ndarray) or chosen.dtype.kind not in "iu" or chosen.ndim != 2:
        raise ValueError("chosen must be a (T, k) integer ndarray")
    if not isinstance(kept, np.ndarray) or kept.dtype != np.bool_:
        raise ValueError("kept must be a bool ndarray")
    check_shape("kept", kept, chosen.shape, ", the shape of chosen")
    used = chosen[kept]
    if used.size and not (0 <= used.min() and used.max() < experts):
        raise ValueError(f"chosen must hold expert indices in [0, {experts}) where kept")
    return _plan(np.ascontiguousarray(chosen), np.ascontiguousarray(kept), count)
