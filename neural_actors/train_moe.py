"""Train a mixture of FFF experts, and the models shipped in ``neural_actors/models``.

The mixture is what ``moe_forward`` and the actors serve: a linear router, top-``k`` routing
with the surviving weights renormalised, and ``E`` experts of ``K`` UltraFastBERT trees each,
whose outputs are the class logits. It is trained as it is served, hard: each token walks one
path per tree and the gradient flows through the GeLU activations on that path (as
UltraFastBERT trains its trees); the router learns through the renormalised weights, plus
Switch's load-balancing loss so that every expert gets work.

**Expert dropout.** Each batch, every expert is unavailable with probability ``dropout``: its
assignments are masked and the survivors renormalised, exactly as the router does when an
expert fails or is late. The mixture so learns not to depend on any one expert, which is what
keeps its accuracy when experts are dead (``docs/neural-actors.md`` states the measured bounds).

    python -m neural_actors.train_moe            # writes neural_actors/models/*.npz (needs scikit-learn)
    python -m neural_actors.train_moe --check    # trains, reports, writes nothing

The digits (scikit-learn's 8x8 images, 1,797 of them) are split stratified 64/16/20 into
train, validation and a held-out test set, which ships inside the model file with the
standardisation, so the model can be measured offline.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import structlog

from neural_actors.kernels.fff_train import Adam
from neural_actors.kernels.moe import load_balancing_loss, top_k_route
from neural_actors.kernels.moe_dispatch import mask_experts

from .fff_model import FFFLeafWeights
from .fff_trainer import train_fff
from .model_store import SHIPPED
from .moe_model import MoEModel

__all__ = ["MoEConfig", "accuracy", "batch_gradients", "dead_accuracy", "digits", "main", "train_moe"]

_log = structlog.get_logger("neural_actors.training")



@attrs.frozen
class MoEConfig:
    """The mixture's shape and its training."""

    experts: int = 16
    k: int = 4
    trees: int = 2
    depth: int = 3
    epochs: int = 80
    batch_size: int = 32
    lr: float = 3e-3
    dropout: float = 0.5  #: probability an expert is unavailable in a batch
    balance: float = 0.01  #: the load-balancing loss's alpha
    patience: int = 20
    seed: int = 0


def _gelu(z: np.ndarray) -> np.ndarray:
    return 0.5 * z * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(z / math.sqrt(2.0)))


def _gelu_grad(z: np.ndarray) -> np.ndarray:
    cdf = 0.5 * (1.0 + np.vectorize(math.erf, otypes=[np.float64])(z / math.sqrt(2.0)))
    return cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _init(d: int, classes: int, config: MoEConfig, rng: np.random.Generator) -> list[np.ndarray]:
    nodes = 2 ** (config.depth + 1) - 1
    e, k = config.experts, config.trees
    return [
        (rng.standard_normal((d, e)) * 0.01).astype(np.float32),
        rng.uniform(-1, 1, (e, k, nodes, d)).astype(np.float32) / np.float32(math.sqrt(d)),
        np.zeros((e, k, nodes), np.float32),
        rng.uniform(-1, 1, (e, k, nodes, classes)).astype(np.float32) / np.float32(math.sqrt((config.depth + 1) * k)),
    ]


def batch_gradients(params: list[np.ndarray], x: np.ndarray, labels: np.ndarray, k: int, unavailable: np.ndarray,
                    balance: float) -> tuple[float, list[np.ndarray]]:
    """Cross-entropy plus load balancing on one batch, and the gradients of ``params``
    (``[router_w, w_in, b_in, w_out]``), with the ``unavailable`` experts masked.

    Tokens whose chosen experts are all unavailable are left out of the loss. The routing and
    the tree paths are hard: their gradient is that of the chosen weights and activations.
    """
    router_w, w_in, b_in, w_out = params
    tokens, classes = len(x), w_out.shape[-1]
    trees, levels = w_in.shape[1], int(math.log2(w_in.shape[2] + 1))
    logits = x @ router_w
    chosen, weights, kept = top_k_route(logits, k)
    weights, kept = mask_experts(chosen, weights, kept, unavailable, True)
    rows = np.arange(tokens)
    expert_out = np.zeros((tokens, k, classes))
    paths = []  # (slot, tree, expert, node, pre, act) per level
    for s in range(k):
        e = chosen[:, s].astype(np.int64)
        for tree in range(trees):
            node = np.zeros(tokens, np.int64)
            for _ in range(levels):
                pre = np.einsum("td,td->t", x, w_in[e, tree, node], dtype=np.float64) + b_in[e, tree, node]
                act = _gelu(pre)
                expert_out[:, s] += act[:, None] * w_out[e, tree, node]
                paths.append((s, tree, e, node, pre, act))
                node = 2 * node + 1 + (pre > 0)
    y = np.einsum("tk,tkc->tc", weights, expert_out)
    valid = kept.any(axis=1)
    count = max(1, int(valid.sum()))
    shifted = y - y.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -float(np.log(probs[rows, labels] + 1e-12)[valid].sum()) / count
    grad_y = probs
    grad_y[rows, labels] -= 1.0
    grad_y *= valid[:, None] / count
    # the router: weights are a softmax over the surviving chosen logits
    g = np.einsum("tc,tkc->tk", grad_y, expert_out)
    dlogits = np.zeros(logits.shape)
    mean = (weights * g).sum(axis=1, keepdims=True)
    np.add.at(dlogits, (np.repeat(rows, k), chosen.ravel()), (weights * (g - mean) * kept).ravel())
    lb, lb_grad = load_balancing_loss(logits, chosen, kept, balance)
    grads = [(x.T @ (dlogits + lb_grad)).astype(np.float32), np.zeros_like(w_in, dtype=np.float64),
             np.zeros_like(b_in, dtype=np.float64), np.zeros_like(w_out, dtype=np.float64)]
    for s, tree, e, node, pre, act in paths:
        g_out = weights[:, s, None] * grad_y
        np.add.at(grads[3], (e, tree, node), act[:, None] * g_out)
        d_pre = (g_out * w_out[e, tree, node]).sum(axis=1) * _gelu_grad(pre)
        np.add.at(grads[1], (e, tree, node), d_pre[:, None] * x)
        np.add.at(grads[2], (e, tree, node), d_pre)
    return loss + lb, [grads[0], *(g.astype(np.float32) for g in grads[1:])]


def accuracy(model: MoEModel, x: np.ndarray, labels: np.ndarray, unavailable: np.ndarray | None = None) -> float:
    """The share of ``x`` classified right by the served layer (``moe_forward``) with
    ``unavailable`` experts masked; a row left with no expert counts as wrong."""
    out = model.forward(x, unavailable=unavailable)
    chosen, _, _ = top_k_route(x @ model.router_w, model.k)
    alive = np.ones(len(x), bool) if unavailable is None else ~unavailable[chosen].all(axis=1)
    return float(((out.argmax(axis=1) == labels) & alive).mean())


def train_moe(
    x: np.ndarray, labels: np.ndarray, x_val: np.ndarray, labels_val: np.ndarray, config: MoEConfig = MoEConfig(),
    *, classes: int | None = None, report: Callable[[dict[str, Any]], None] | None = None,
) -> MoEModel:
    """Train a mixture on ``x`` and keep the epoch with the best validation accuracy.

    Args:
        x, labels: ``(n, d)`` float32 inputs and their integer classes.
        x_val, labels_val: the validation set.
        config: shape and training.
        classes: the number of classes (default: the largest label + 1).
        report: called after each epoch with its figures.

    Returns:
        The best epoch's model (no held-out set attached).
    """
    rng = np.random.default_rng(config.seed)
    classes = int(labels.max()) + 1 if classes is None else classes
    params = _init(x.shape[1], classes, config, rng)
    adam = Adam(params, lr=config.lr)
    best, best_score, waited = None, -1.0, 0
    for epoch in range(config.epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), config.batch_size):
            batch = order[start:start + config.batch_size]
            unavailable = rng.random(config.experts) < config.dropout
            loss, grads = batch_gradients(params, x[batch], labels[batch], config.k, unavailable, config.balance)
            adam.step(grads)
            losses.append(loss)
        model = MoEModel(*params, k=config.k)
        score = accuracy(model, x_val, labels_val)
        improved = score > best_score
        if improved:
            best, best_score, waited = model, score, 0
        else:
            waited += 1
        figures = {"epoch": epoch, "loss": float(np.mean(losses)), "val_accuracy": score, "improved": improved}
        _log.debug("moe_epoch", **figures)
        if report is not None:
            report(figures)
        if waited >= config.patience:
            break
    assert best is not None
    return best


def digits(seed: int = 0) -> dict[str, np.ndarray]:
    """scikit-learn's digits split stratified 64/16/20, the inputs standardised on train; the
    test part also raw (uint8 pixels 0..16), as the model file keeps it."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:  # pragma: no cover - the test extra installs it
        raise SystemExit("training needs scikit-learn: pip install scikit-learn") from None
    raw, labels = load_digits(return_X_y=True)
    raw_rest, raw_test, y_rest, y_test = train_test_split(raw, labels, test_size=0.2, stratify=labels,
                                                          random_state=seed)
    raw_train, raw_val, y_train, y_val = train_test_split(raw_rest, y_rest, test_size=0.2, stratify=y_rest,
                                                          random_state=seed)
    mean = raw_train.mean(axis=0)
    scale = raw_train.std(axis=0)
    scale[scale == 0] = 1.0

    def standard(a: np.ndarray) -> np.ndarray:
        return ((a - mean) / scale).astype(np.float32)

    return {"x_train": standard(raw_train), "y_train": y_train, "x_val": standard(raw_val), "y_val": y_val,
            "raw_test": raw_test.astype(np.uint8), "x_test": standard(raw_test), "y_test": y_test,
            "mean": mean, "scale": scale}


def dead_accuracy(model: MoEModel, x: np.ndarray, labels: np.ndarray, dead: int, draws: int, seed: int) -> list[float]:
    """Held-out accuracy with ``dead`` experts masked, for ``draws`` random sets of them."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(draws):
        unavailable = np.zeros(model.expert_count, bool)
        unavailable[rng.choice(model.expert_count, dead, replace=False)] = True
        results.append(accuracy(model, x, labels, unavailable))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="train and report; write nothing")
    parser.add_argument("--out", default=SHIPPED, help="directory for the .npz files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # the leaf FFF's trainer logs every epoch; the figures below are what this script reports
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.perf_counter()
    data = digits(args.seed)
    config = MoEConfig(seed=args.seed)
    moe = train_moe(data["x_train"], data["y_train"], data["x_val"], data["y_val"], config, classes=10)
    moe = attrs.evolve(moe, mean=data["mean"], scale=data["scale"], test_x=data["raw_test"], test_y=data["y_test"])
    x_test, y_test = moe.held_out()
    print(f"mixture: {config.experts} experts x {config.trees} trees of depth {config.depth}, k = {config.k}, "
          f"expert dropout {config.dropout}; {time.perf_counter() - started:.0f} s")
    healthy = accuracy(moe, x_test, y_test)
    print(f"held-out accuracy, every expert alive: {100 * healthy:.2f}%")
    for dead in (2, 4):
        results = dead_accuracy(moe, x_test, y_test, dead, draws=20, seed=1)
        print(f"  {dead} of {config.experts} dead ({100 * dead / config.experts:.1f}%), 20 random sets: mean "
              f"{100 * np.mean(results):.2f}%, worst {100 * min(results):.2f}%")
    leaf = train_fff(FFFLeafWeights.init(64, 10, 4, 8, args.seed), data["x_train"], data["y_train"],
                     data["x_val"], data["y_val"], epochs=80, seed=args.seed, batch_size=32, lr=3e-3, patience=20,
                     hardening=(0.0, 10.0, 10.0), progress=False)
    hard = float((leaf.weights.hard(data["x_test"]).argmax(axis=1) == data["y_test"]).mean())
    print(f"FFF with leaves (depth 4, leaves of 8): held-out accuracy {100 * hard:.2f}% (hard inference)")
    if not args.check:
        os.makedirs(args.out, exist_ok=True)
        moe.save(os.path.join(args.out, "moe_digits.npz"))
        leaf.weights.save(os.path.join(args.out, "fff_digits.npz"))
        for name in ("moe_digits.npz", "fff_digits.npz"):
            print(f"wrote {os.path.join(args.out, name)} ({os.path.getsize(os.path.join(args.out, name)):,} bytes)")


if __name__ == "__main__":
    main()
