"""Train an FFF with leaves for classification, and a dense baseline with the same loop.

A hard FFF has no gradient w.r.t. its routing, so training runs the soft tree
(``kernels.fff_train``) with softmax cross-entropy, plus the hardening loss (mean binary entropy
of the node decisions) weighted by a linear ramp, so that the decisions end up near 0 or 1 and
the hard walk that serves the model computes what the soft tree learned. The dense 1-hidden-layer
ReLU network of the same training width is the yardstick: it runs through the very same loop
(batches, Adam, early stopping, logging); only the forward/backward differs.

Early stopping rule: after each epoch the validation score is ``(hardened, accuracy)``, compared
lexicographically. ``hardened`` is whether the hardening weight of that epoch is above 0, and
``accuracy`` is then the *hard* validation accuracy, else the soft one (for the dense network,
its only accuracy). So once hardening starts, every epoch is judged by what hard inference
achieves and outranks all earlier soft-only epochs. An epoch improves when its score is strictly
higher than the best so far; training stops after ``patience`` epochs without improvement, and
the weights of the best epoch are returned.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import attrs
import numpy as np
import structlog

from neural_actors.fff_model import FFFLeafWeights, as_float32, shape_repr
from neural_actors.kernels.checks import check_finite, check_shape
from neural_actors.kernels.fff_train import (
    Adam,
    fff_soft_backward,
    hardening_loss,
    hardening_weight,
)

__all__ = ["DenseWeights", "EpochRecord", "TrainResult", "train_dense", "train_fff"]

_log = structlog.get_logger("neural_actors.training")


@attrs.frozen(eq=False)
class DenseWeights:
    """A dense ``relu(x @ w1 + b1) @ w2 + b2`` network: the baseline FFFs are compared with."""

    w1: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    b1: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    w2: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)
    b2: np.ndarray = attrs.field(converter=as_float32, repr=shape_repr)

    def __attrs_post_init__(self) -> None:
        if self.w1.ndim != 2 or self.w2.ndim != 2:
            raise ValueError(f"w1 and w2 must be 2-D (got shapes {self.w1.shape} and {self.w2.shape})")
        width = self.w1.shape[1]
        expected = {"b1": (width,), "w2": (width, self.w2.shape[1]), "b2": (self.w2.shape[1],)}
        for name, shape in expected.items():
            check_shape(name, getattr(self, name), shape)
        for name in ("w1", "b1", "w2", "b2"):
            check_finite(name, getattr(self, name))

    @classmethod
    def init(cls, d_in: int, d_out: int, width: int, seed: int) -> DenseWeights:
        """Fresh weights, uniform in ``±1/sqrt(fan_in)``, like ``FFFLeafWeights.init``."""
        rng = np.random.default_rng(seed)
        return cls(
            w1=rng.uniform(-1, 1, (d_in, width)) / math.sqrt(d_in),
            b1=rng.uniform(-1, 1, width) / math.sqrt(d_in),
            w2=rng.uniform(-1, 1, (width, d_out)) / math.sqrt(width),
            b2=rng.uniform(-1, 1, d_out) / math.sqrt(width),
        )

    def arrays(self) -> list[np.ndarray]:
        """The parameter arrays (not copies)."""
        return [self.w1, self.b1, self.w2, self.b2]

    def copy(self) -> DenseWeights:
        """An independent copy."""
        return DenseWeights(*(a.copy() for a in self.arrays()))

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """ReLU hidden layer ``(B, width)``."""
        return np.maximum(x @ self.w1 + self.b1, np.float32(0.0))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(B, d_out)`` for ``x`` ``(B, d_in)``."""
        return self.hidden(as_float32(x)) @ self.w2 + self.b2


@attrs.frozen
class EpochRecord:
    """One epoch of training: train losses (batch means) and validation results."""

    epoch: int
    loss: float  #: cross-entropy plus weighted hardening loss, the optimised objective
    cross_entropy: float
    entropy: float  #: mean binary entropy of the node decisions (0 for the dense network)
    hardening_weight: float
    val_loss: float  #: soft cross-entropy
    val_soft_accuracy: float
    val_hard_accuracy: float  #: equals the soft one for the dense network
    improved: bool


@attrs.frozen(eq=False)
class TrainResult:
    """The best epoch's weights and validation accuracies, and the history of all epochs."""

    weights: FFFLeafWeights | DenseWeights
    history: tuple[EpochRecord, ...]
    best_epoch: int
    stopped_early: bool
    soft_accuracy: float  #: validation, of ``weights``
    hard_accuracy: float  #: validation, of ``weights``; equals ``soft_accuracy`` for dense


#: One batch's ``(cross_entropy, entropy, gradients)``, gradients in ``params()`` order.
_Step = tuple[float, float, list[np.ndarray]]


class _Task(Protocol):
    """What the shared loop needs from a model: parameters, a training step's gradients, scores."""

    weights: Any

    def params(self) -> list[np.ndarray]: ...

    def gradients(self, x: np.ndarray, labels: np.ndarray, hardening: float) -> _Step:
        """``(cross_entropy, entropy, grads)`` on one batch."""

    def evaluate(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
        """``(soft cross-entropy, soft accuracy, hard accuracy)``."""


def _cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its float32 gradient w.r.t. ``logits``."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    rows = np.arange(len(labels))
    grad = np.exp(log_p)
    grad[rows, labels] -= 1.0
    return float(-log_p[rows, labels].mean()), as_float32(grad / len(labels))


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


@attrs.define
class _FFFTask:
    weights: FFFLeafWeights

    def params(self) -> list[np.ndarray]:
        return list(self.weights.arrays().values())

    def gradients(self, x: np.ndarray, labels: np.ndarray, hardening: float) -> _Step:
        y, probs = self.weights.soft(x)
        cross_entropy, grad_y = _cross_entropy(y, labels)
        entropy, grad_probs = hardening_loss(probs)
        grad_probs *= np.float32(hardening)
        return cross_entropy, entropy, list(fff_soft_backward(x, *self.params(), grad_y, grad_probs))

    def evaluate(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
        y, _ = self.weights.soft(x)
        return _cross_entropy(y, labels)[0], _accuracy(y, labels), _accuracy(self.weights.hard(x), labels)


@attrs.define
class _DenseTask:
    weights: DenseWeights

    def params(self) -> list[np.ndarray]:
        return self.weights.arrays()

    def gradients(self, x: np.ndarray, labels: np.ndarray, hardening: float) -> _Step:
        w = self.weights
        hidden = w.hidden(x)
        cross_entropy, grad_y = _cross_entropy(hidden @ w.w2 + w.b2, labels)
        grad_hidden = (grad_y @ w.w2.T) * (hidden > 0)
        grads = [x.T @ grad_hidden, grad_hidden.sum(axis=0), hidden.T @ grad_y, grad_y.sum(axis=0)]
        return cross_entropy, 0.0, [as_float32(g) for g in grads]

    def evaluate(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
        logits = self.weights.predict(x)
        accuracy = _accuracy(logits, labels)
        return _cross_entropy(logits, labels)[0], accuracy, accuracy


def _check_data(name: str, x: Any, y: Any, d_in: int, d_out: int) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as ``(n, d_in)`` float32 and ``y`` as ``(n,)`` int64 class labels in ``[0, d_out)``."""
    x = as_float32(x)
    y = np.asarray(y)
    check_shape(f"x_{name}", x, ("n", d_in))
    if x.shape[0] == 0:
        raise ValueError(f"x_{name} must hold at least one example (got shape {x.shape})")
    check_finite(f"x_{name}", x)
    if y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
        raise ValueError(
            f"y_{name} must be {x.shape[0]} integer labels (got dtype {y.dtype}, shape {y.shape})"
        )
    if y.min() < 0 or y.max() >= d_out:
        raise ValueError(f"y_{name} labels must lie in [0, {d_out}) (got {y.min()} .. {y.max()})")
    return x, y.astype(np.int64)


def _progress_bar(epochs: int, progress: bool) -> Any | None:
    """A tqdm bar over epochs when asked for and tqdm is installed (an optional dependency)."""
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=epochs, desc="epochs", unit="epoch", leave=False)


def _train_epoch(
    task: _Task, optimiser: Adam, rng: np.random.Generator, x: np.ndarray, labels: np.ndarray,
    batch_size: int, hardening: float,
) -> tuple[float, float]:
    """One Adam pass over shuffled mini-batches; the mean cross-entropy and entropy per example."""
    totals = np.zeros(2)
    order = rng.permutation(len(labels))
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        cross_entropy, entropy, grads = task.gradients(x[rows], labels[rows], hardening)
        optimiser.step(grads)
        totals += len(rows) * np.array([cross_entropy, entropy])
    cross_entropy, entropy = totals / len(labels)
    return float(cross_entropy), float(entropy)


def _fit(
    task: _Task,
    data: tuple[Any, Any, Any, Any],
    *,
    d_in: int,
    d_out: int,
    epochs: int,
    batch_size: int,
    lr: float,
    hardening: tuple[float, float, float],
    patience: int,
    seed: int,
    progress: bool,
) -> TrainResult:
    """The loop both models share; see the module docstring for the early stopping rule."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1 (got {value!r})")
    hardening_weight(0, *hardening)  # validates the schedule before any work
    x_train, y_train = _check_data("train", data[0], data[1], d_in, d_out)
    x_val, y_val = _check_data("val", data[2], data[3], d_in, d_out)
    optimiser = Adam(task.params(), lr=lr)
    rng = np.random.default_rng(seed)
    history: list[EpochRecord] = []
    best_score: tuple[bool, float] | None = None
    best_weights, best_epoch = task.weights, 0  # replaced at epoch 0, which always improves
    bar = _progress_bar(epochs, progress)
    try:
        for epoch in range(epochs):
            weight = hardening_weight(epoch, *hardening)
            cross_entropy, entropy = _train_epoch(task, optimiser, rng, x_train, y_train, batch_size, weight)
            val_loss, soft, hard = task.evaluate(x_val, y_val)
            score = (weight > 0, hard if weight > 0 else soft)
            improved = best_score is None or score > best_score
            if improved:
                best_score, best_weights, best_epoch = score, task.weights.copy(), epoch
            record = EpochRecord(
                epoch=epoch, loss=cross_entropy + weight * entropy, cross_entropy=cross_entropy,
                entropy=entropy, hardening_weight=weight, val_loss=val_loss, val_soft_accuracy=soft,
                val_hard_accuracy=hard, improved=improved,
            )
            history.append(record)
            _log.info("epoch", **attrs.asdict(record))
            if bar is not None:
                bar.update()
                bar.set_postfix(loss=f"{record.loss:.3f}", soft=f"{soft:.3f}", hard=f"{hard:.3f}")
            if epoch - best_epoch >= patience:
                break
    finally:
        if bar is not None:
            bar.close()
    best = history[best_epoch]
    stopped_early = len(history) < epochs
    _log.info("trained", epochs_run=len(history), best_epoch=best_epoch, stopped_early=stopped_early,
              soft_accuracy=best.val_soft_accuracy, hard_accuracy=best.val_hard_accuracy)
    return TrainResult(
        weights=best_weights, history=tuple(history), best_epoch=best_epoch, stopped_early=stopped_early,
        soft_accuracy=best.val_soft_accuracy, hard_accuracy=best.val_hard_accuracy,
    )


def train_fff(
    weights: FFFLeafWeights,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    hardening: tuple[float, float, float],
    patience: int,
    seed: int,
    progress: bool = True,
) -> TrainResult:
    """Train an FFF classifier (soft tree, cross-entropy plus scheduled hardening) with Adam.

    ``weights`` is not modified; training starts from a copy. Mini-batches are drawn by a
    ``numpy`` Generator seeded with ``seed``, so a run is reproducible. ``hardening`` is
    ``(start, ramp, final)`` in epochs, as ``kernels.fff_train.hardening_weight`` takes; the
    weight is constant within an epoch. Each epoch logs an ``"epoch"`` event on the
    ``neural_actors.training`` structlog logger (the fields of ``EpochRecord``) and a final
    ``"trained"`` event; ``progress`` adds a tqdm bar over epochs if tqdm is installed.

    Args:
        x_train, x_val: ``(n, d_in)`` inputs; y_train, y_val: ``(n,)`` integer labels in
            ``[0, d_out)``.

    Returns:
        The best epoch's weights and validation accuracies (the rule is in the module docstring).

    Raises:
        ValueError: bad data shapes or labels, or a bad hyperparameter, naming it.
    """
    task = _FFFTask(weights.copy())
    return _fit(task, (x_train, y_train, x_val, y_val), d_in=weights.d_in, d_out=weights.d_out,
                epochs=epochs, batch_size=batch_size, lr=lr, hardening=hardening, patience=patience,
                seed=seed, progress=progress)


def train_dense(
    weights: DenseWeights,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    patience: int,
    seed: int,
    progress: bool = True,
) -> TrainResult:
    """Train the dense baseline exactly as ``train_fff`` trains an FFF, without hardening."""
    task = _DenseTask(weights.copy())
    return _fit(task, (x_train, y_train, x_val, y_val), d_in=weights.w1.shape[0],
                d_out=weights.w2.shape[1], epochs=epochs, batch_size=batch_size, lr=lr,
                hardening=(0.0, 0.0, 0.0), patience=patience, seed=seed, progress=progress)
