"""Training a mixture of FFF experts: exact gradients, and it learns."""

from __future__ import annotations

import numpy as np
import pytest

from neural_actors.train_moe import MoEConfig, accuracy, batch_gradients, train_moe


def tiny(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((3, 1, 3, 4)).astype(np.float32),
              rng.standard_normal((3, 1, 3)).astype(np.float32), rng.standard_normal((3, 1, 3, 3)).astype(np.float32)]
    return params, rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)


@pytest.mark.parametrize("dead", [(), (1,)])
def test_gradients_match_finite_differences_along_random_directions(dead) -> None:
    """The loss's slope along a random direction of each parameter, by central differences
    small enough that no hard decision flips, is the gradient's projection."""
    params, x, labels = tiny()
    unavailable = np.isin(np.arange(3), dead)
    _, grads = batch_gradients(params, x, labels, 2, unavailable, 0.01)
    rng = np.random.default_rng(1)
    for index in range(4):
        direction = rng.standard_normal(params[index].shape).astype(np.float32)
        eps = np.float32(1e-3)
        slopes = []
        for sign in (1, -1):
            moved = [p.copy() for p in params]
            moved[index] += sign * eps * direction
            slopes.append(batch_gradients(moved, x, labels, 2, unavailable, 0.01)[0])
        numeric = (slopes[0] - slopes[1]) / (2 * eps)
        analytic = float((grads[index].astype(np.float64) * direction).sum())
        assert analytic == pytest.approx(numeric, rel=2e-2, abs=2e-3), index


def test_training_separates_blobs_and_keeps_the_best_epoch() -> None:
    """Three Gaussian blobs in 8 dimensions: near-perfect validation accuracy in a few epochs."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((3, 8)) * 3
    labels = rng.integers(0, 3, 300)
    x = (centres[labels] + rng.standard_normal((300, 8))).astype(np.float32)
    config = MoEConfig(experts=4, k=2, trees=1, depth=2, epochs=8, dropout=0.25)
    epochs = []

    model = train_moe(x[:240], labels[:240], x[240:], labels[240:], config, report=epochs.append)

    assert (4, 2, 3) == (model.expert_count, model.k, model.d_out)
    assert accuracy(model, x[240:], labels[240:]) == max(e["val_accuracy"] for e in epochs) >= 0.95
