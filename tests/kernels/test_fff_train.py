"""FFF training kernels against the numpy references, finite differences and the hard kernel."""

import math

import numpy as np
import pytest
from neural_actors.kernels.fff_leaf import fff_leaf_infer
from neural_actors.kernels.fff_train import (
    Adam,
    fff_soft_backward,
    fff_soft_forward,
    hardening_loss,
    hardening_weight,
)
from neural_actors.kernels.fff_train_reference import (
    adam_step_reference,
    fff_soft_backward_reference,
    fff_soft_forward_reference,
    hardening_loss_reference,
)

PARAMS = ("node_w", "node_b", "leaf_w1", "leaf_b1", "leaf_w2", "leaf_b2")


def random_model(rng: np.random.Generator, batch: int, depth: int, width: int, d_in: int = 5, d_out: int = 3) -> tuple:
    """``(x, node_w, node_b, leaf_w1, leaf_b1, leaf_w2, leaf_b2)`` float32, unit-scale."""
    leaves = 2**depth
    shapes = [(batch, d_in), (leaves - 1, d_in), (leaves - 1,), (leaves, d_in, width), (leaves, width),
              (leaves, width, d_out), (leaves, d_out)]
    return tuple(rng.standard_normal(shape, dtype=np.float32) for shape in shapes)


@pytest.mark.parametrize("batch", [0, 1, 5, 70])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("width", [1, 8])
def test_forward_and_backward_match_reference(batch: int, depth: int, width: int) -> None:
    """Soft forward and backward equal the references, batch 0 and depth 0 (one leaf) included."""
    rng = np.random.default_rng(100 * depth + 10 * width + batch)
    args = random_model(rng, batch, depth, width)
    grad_y = rng.standard_normal((batch, 3), dtype=np.float32)
    grad_probs = rng.standard_normal((batch, 2**depth - 1), dtype=np.float32)

    y, probs = fff_soft_forward(*args)
    y_ref, probs_ref = fff_soft_forward_reference(*args)
    assert (batch, 3) == y.shape and np.float32 == y.dtype and (batch, 2**depth - 1) == probs.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(probs, probs_ref, rtol=1e-5, atol=1e-6)

    grads = fff_soft_backward(*args, grad_y, grad_probs)
    grads_ref = fff_soft_backward_reference(*args, grad_y, grad_probs)
    for name, param, grad, ref in zip(PARAMS, args[1:], grads, grads_ref):
        assert param.shape == grad.shape and np.float32 == grad.dtype, name
        np.testing.assert_allclose(grad, ref, rtol=1e-4, atol=1e-4, err_msg=name)


@pytest.mark.parametrize(("batch", "depth", "width"), [(3, 12, 1), (7, 6, 64), (1, 9, 2)])
def test_deep_trees_and_wide_leaves_match_reference(batch: int, depth: int, width: int) -> None:
    """Soft forward and backward equal the references at depth up to 12 and leaf width 64."""
    rng = np.random.default_rng(depth * 1000 + width)
    args = random_model(rng, batch, depth, width, d_in=2, d_out=2)
    grad_y = rng.standard_normal((batch, 2), dtype=np.float32)

    np.testing.assert_allclose(fff_soft_forward(*args)[0], fff_soft_forward_reference(*args)[0], rtol=1e-5, atol=1e-5)
    for name, grad, ref in zip(PARAMS, fff_soft_backward(*args, grad_y), fff_soft_backward_reference(*args, grad_y)):
        np.testing.assert_allclose(grad, ref, rtol=1e-4, atol=1e-4, err_msg=name)


def test_backward_matches_finite_differences() -> None:
    """Kernel and reference gradients agree with central differences of the float64 reference."""
    rng = np.random.default_rng(7)
    args = random_model(rng, 6, 2, 3)
    grad_y = rng.standard_normal((6, 3))
    grad_probs = rng.standard_normal((6, 3))
    args64 = [a.astype(np.float64) for a in args]

    def loss(params: list) -> float:
        y, probs = fff_soft_forward_reference(args64[0], *params)
        return float((grad_y * y).sum() + (grad_probs * probs).sum())

    kernel = fff_soft_backward(*args, grad_y.astype(np.float32), grad_probs.astype(np.float32))
    reference = fff_soft_backward_reference(*args64, grad_y, grad_probs)
    eps = 1e-6
    for k, name in enumerate(PARAMS):
        for flat in rng.choice(args[k + 1].size, size=3, replace=False):
            index = np.unravel_index(flat, args[k + 1].shape)
            plus, minus = [p.copy() for p in args64[1:]], [p.copy() for p in args64[1:]]
            plus[k][index] += eps
            minus[k][index] -= eps
            numeric = (loss(plus) - loss(minus)) / (2 * eps)
            assert reference[k][index] == pytest.approx(numeric, rel=1e-5, abs=1e-6), name
            assert kernel[k][index] == pytest.approx(numeric, rel=1e-3, abs=1e-4), name


def test_saturated_soft_forward_equals_hard_inference() -> None:
    """With node logits far from 0 every probability is exactly 0 or 1 and the soft mixture is
    the leaf the hard walk reaches."""
    rng = np.random.default_rng(11)
    x, node_w, node_b, *leaf = random_model(rng, 70, 3, 4)
    node_w, node_b = node_w * np.float32(1e6), node_b * np.float32(1e6)

    y, probs = fff_soft_forward(x, node_w, node_b, *leaf)

    assert np.isin(probs, [0.0, 1.0]).all()
    assert 0.0 == hardening_loss(probs)[0]
    np.testing.assert_allclose(y, fff_leaf_infer(x, node_w, node_b, *leaf), rtol=1e-5, atol=1e-5)


def test_hardening_loss_values_and_reference() -> None:
    """0 for hard decisions, ln 2 at 0.5, and equal to the reference (loss and gradient)."""
    hard = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    half = np.full((4, 7), 0.5, dtype=np.float32)
    soft = np.random.default_rng(3).uniform(0.0, 1.0, (5, 15)).astype(np.float32)

    assert (0.0, [[0.0] * 3] * 2) == (hardening_loss(hard)[0], hardening_loss(hard)[1].tolist())
    loss, grad = hardening_loss(half)
    assert loss == pytest.approx(math.log(2.0), rel=1e-7) and not grad.any()
    assert hardening_loss(soft)[0] < math.log(2.0)
    for probs in (hard, half, soft, np.zeros((0, 3), np.float32), np.zeros((4, 0), np.float32)):
        loss, grad = hardening_loss(probs)
        loss_ref, grad_ref = hardening_loss_reference(probs)
        assert loss == pytest.approx(loss_ref, rel=1e-9, abs=1e-12) and probs.shape == grad.shape
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-6)


def test_hardening_loss_gradient_matches_finite_differences() -> None:
    """The gradient is that of the mean entropy."""
    probs = np.array([[0.2, 0.7, 0.45]], dtype=np.float32)
    _, grad = hardening_loss(probs)
    for n in range(3):
        plus, minus = probs.astype(np.float64), probs.astype(np.float64)
        plus[0, n] += 1e-6
        minus[0, n] -= 1e-6
        numeric = (hardening_loss_reference(plus)[0] - hardening_loss_reference(minus)[0]) / 2e-6
        assert grad[0, n] == pytest.approx(numeric, rel=1e-4)


def test_hardening_weight_ramps_linearly() -> None:
    """0 before ``start``, linear over ``ramp`` epochs, then ``final``; ``ramp=0`` is a step."""
    weights = [hardening_weight(epoch, start=2, ramp=4, final=1.0) for epoch in range(9)]
    assert [0.0, 0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0] == weights
    assert [0.0, 3.0, 3.0] == [hardening_weight(e, start=1, ramp=0, final=3.0) for e in (0, 1, 5)]
    with pytest.raises(ValueError, match="ramp must be a finite number >= 0"):
        hardening_weight(1, start=0, ramp=-1, final=1.0)
    with pytest.raises(ValueError, match="final must be a finite number >= 0"):
        hardening_weight(1, start=0, ramp=1, final=math.nan)


def test_adam_matches_reference() -> None:
    """Several steps of the kernel optimiser equal the reference, moments included."""
    rng = np.random.default_rng(5)
    params = [rng.standard_normal(shape, dtype=np.float32) for shape in [(3, 4), (5,), (2, 3, 2), (0,)]]
    expected = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    adam = Adam(params, lr=0.01, betas=(0.8, 0.99), eps=1e-6)

    for t in range(1, 5):
        grads = [rng.standard_normal(p.shape, dtype=np.float32) for p in params]
        copies = [g.copy() for g in grads]
        adam.step(grads)
        expected, m, v = adam_step_reference(expected, grads, m, v, t, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
        for got, want in zip(params + adam.m + adam.v, expected + m + v):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        for before, after in zip(copies, grads):
            np.testing.assert_array_equal(before, after)
    assert 4 == adam.t


def test_adam_minimises_a_quadratic() -> None:
    """``sum((p - target)**2)`` falls by orders of magnitude."""
    target = np.array([3.0, -2.0, 0.5], dtype=np.float32)
    p = np.zeros(3, dtype=np.float32)
    adam = Adam([p], lr=0.1)
    start = float(((p - target) ** 2).sum())
    for _ in range(300):
        adam.step([2 * (p - target)])
    assert float(((p - target) ** 2).sum()) < 1e-3 * start


def test_soft_training_with_hardening_fits_and_hardens() -> None:
    """Soft forward, backward, hardening loss and Adam together: the MSE falls and the
    decisions harden."""
    rng = np.random.default_rng(9)
    x, *params = random_model(rng, 64, 2, 4, d_in=2, d_out=1)
    params = [p * np.float32(0.5) for p in params]
    target = (np.sign(x[:, :1]) * x[:, 1:]).astype(np.float32)
    adam = Adam(params, lr=0.03)

    def mse() -> float:
        return float(((fff_soft_forward(x, *params)[0] - target) ** 2).mean())

    first = mse()
    entropy_first = hardening_loss(fff_soft_forward(x, *params)[1])[0]
    for epoch in range(150):
        y, probs = fff_soft_forward(x, *params)
        _, grad_h = hardening_loss(probs)
        weight = np.float32(hardening_weight(epoch, start=20, ramp=50, final=0.5))
        grad_y = (2 * (y - target) / y.size).astype(np.float32)
        adam.step(fff_soft_backward(x, *params, grad_y, weight * grad_h))
    assert mse() < 0.5 * first
    assert hardening_loss(fff_soft_forward(x, *params)[1])[0] < entropy_first


def test_inputs_are_not_modified() -> None:
    """Forward, backward and the hardening loss return new arrays and leave arguments as they were."""
    rng = np.random.default_rng(1)
    args = random_model(rng, 70, 3, 4)
    grad_y = rng.standard_normal((70, 3), dtype=np.float32)
    grad_probs = rng.standard_normal((70, 7), dtype=np.float32)
    everything = (*args, grad_y, grad_probs)
    copies = [a.copy() for a in everything]

    _, probs = fff_soft_forward(*args)
    fff_soft_backward(*args, grad_y, grad_probs)
    probs_copy = probs.copy()
    hardening_loss(probs)

    for before, after in zip(copies, everything):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(probs_copy, probs)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: (a[0].astype(np.float64), *a[1:]), r"x must be a float32 ndarray \(got float64\)"),
        (lambda a: (*a[:3], a[3].astype(np.float16), *a[4:]), r"leaf_w1 must be a float32 ndarray \(got float16\)"),
        (lambda a: (a[0], a[1][:2].copy(), *a[2:]), r"node_w must have shape \(3, 5\) for depth 2 \(got \(2, 5\)\)"),
        (lambda a: (*a[:2], a[2][:1].copy(), *a[3:]), r"node_b must have shape \(3,\) for depth 2 \(got \(1,\)\)"),
        (lambda a: (*a[:3], a[3][:3].copy(), *a[4:]), r"leaf_w1.shape\[0\] must be a power of two, 2\*\*depth leaves \(got 3\)"),
        (lambda a: (a[0][:, :4].copy(), *a[1:]), r"x must have shape \(4, 5\) for depth 2 \(got \(4, 4\)\)"),
        (lambda a: (*a[:5], a[5][:, :, :2].copy(), a[6]), r"leaf_b2 must have shape \(4, 2\) for depth 2 \(got \(4, 3\)\)"),
        (lambda a: (*a[:4], a[4][None], *a[5:]), r"leaf_b1 must have 2 dimensions"),
        (lambda a: (a[0].T, *a[1:]), "x must be C-contiguous"),
        (lambda a: (*a[:6], np.full_like(a[6], np.nan)), "leaf_b2 holds NaN or infinite values"),
    ],
)
def test_bad_model_input_names_the_argument(change, message: str) -> None:
    """Wrong dtype, rank, layout, shape, depth mismatch or NaN raise ``ValueError`` in both passes."""
    rng = np.random.default_rng(2)
    args = change(random_model(rng, 4, 2, 2))
    grad_y = np.zeros((4, 3), dtype=np.float32)

    with pytest.raises(ValueError, match=message):
        fff_soft_forward(*args)
    with pytest.raises(ValueError, match=message):
        fff_soft_backward(*args, grad_y)


def test_bad_gradient_and_optimiser_input_names_the_argument() -> None:
    """``grad_y``, ``grad_probs``, ``probs``, ``grads`` and Adam's hyperparameters are checked."""
    args = random_model(np.random.default_rng(3), 4, 2, 2)
    cases = [
        (lambda: fff_soft_backward(*args, np.zeros((4, 2), np.float32)), r"grad_y must have shape \(4, 3\) \(got \(4, 2\)\)"),
        (lambda: fff_soft_backward(*args, np.zeros((4, 3))), r"grad_y must be a float32 ndarray \(got float64\)"),
        (lambda: fff_soft_backward(*args, np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)),
         r"grad_probs must have shape \(4, 3\) \(got \(4, 2\)\)"),
        (lambda: hardening_loss(np.full((2, 3), 1.5, np.float32)), r"probs must lie in \[0, 1\]"),
        (lambda: hardening_loss(np.zeros((2, 2), np.float32)), r"probs.shape\[1\] must be 2\*\*depth - 1 nodes \(got 2\)"),
        (lambda: hardening_loss(np.zeros((2, 3))), r"probs must be a float32 ndarray \(got float64\)"),
        (lambda: Adam([np.zeros(2)]), r"params\[0\] must be a float32 ndarray \(got float64\)"),
        (lambda: Adam([np.zeros(2, np.float32)], lr=0.0), "lr must be a finite number > 0"),
        (lambda: Adam([np.zeros(2, np.float32)], betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
        (lambda: Adam([np.zeros(2, np.float32)]).step([np.zeros(3, np.float32)]), r"grads\[0\] must have shape \(2,\) \(got \(3,\)\)"),
        (lambda: Adam([np.zeros(2, np.float32)]).step([]), "grads must hold 1 arrays, one per parameter"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
