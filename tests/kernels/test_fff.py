"""FFF hard inference (both variants) against the numpy references: random shapes, edge cases, bad input."""

import numpy as np
import pytest

from neural_actors.kernels.fff import PARALLEL_MIN_BATCH, fff_leaf_infer, ultrafast_infer
from neural_actors.kernels.fff_reference import fff_leaf_infer_reference, ultrafast_infer_reference


def random_tree(rng: np.random.Generator, batch: int, depth: int, trees: int, d_in: int, d_out: int) -> tuple:
    nodes = 2 ** (depth + 1) - 1
    return (
        rng.standard_normal((batch, d_in), dtype=np.float32),
        rng.standard_normal((trees, nodes, d_in), dtype=np.float32),
        rng.standard_normal((trees, nodes), dtype=np.float32),
        rng.standard_normal((trees, nodes, d_out), dtype=np.float32),
    )


@pytest.mark.parametrize("batch", [0, 1, 7, PARALLEL_MIN_BATCH + 1])
@pytest.mark.parametrize("depth", [0, 1, 3, 8])
@pytest.mark.parametrize("trees", [1, 3])
def test_matches_reference(batch: int, depth: int, trees: int) -> None:
    """Serial and parallel paths equal the reference for many shapes, batch 0 included."""
    args = random_tree(np.random.default_rng(depth * 10 + trees), batch, depth, trees, d_in=12, d_out=5)

    expected = ultrafast_infer_reference(*args)
    actual = ultrafast_infer(*args)

    assert (batch, 5) == actual.shape and np.float32 == actual.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


def test_zero_pre_activation_goes_left() -> None:
    """A pre-activation of exactly 0 takes the left child ``2i + 1``, as UltraFastBERT does."""
    w_in = np.zeros((1, 3, 2), dtype=np.float32)
    b_in = np.array([[0.0, 1.0, 2.0]], dtype=np.float32)  # root exactly 0; children positive
    w_out = np.array([[[100.0], [1.0], [-1.0]]], dtype=np.float32)
    x = np.ones((1, 2), dtype=np.float32)
    left_only = 1.0 * 0.5 * (1.0 + 0.6826895)  # gelu(1) * w_out[left]

    np.testing.assert_allclose([[left_only]], ultrafast_infer(x, w_in, b_in, w_out), rtol=1e-6)
    np.testing.assert_allclose(ultrafast_infer_reference(x, w_in, b_in, w_out), ultrafast_infer(x, w_in, b_in, w_out))


def test_inputs_are_not_modified() -> None:
    """The kernel returns a new array and leaves every argument as it was."""
    args = random_tree(np.random.default_rng(1), 70, 3, 2, 6, 4)
    copies = [a.copy() for a in args]

    ultrafast_infer(*args)

    for before, after in zip(copies, args):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: (a[0].astype(np.float64), *a[1:]), r"x must be a float32 ndarray \(got float64\)"),
        (lambda a: (a[0], a[1][:, :6].copy(), *a[2:]), r"w_in.shape\[1\] must be 2\*\*\(depth\+1\) - 1 nodes \(got 6\)"),
        (lambda a: (a[0][:, :3].copy(), *a[1:]), r"x.shape\[1\] must equal w_in.shape\[2\] = 6 \(got 3\)"),
        (lambda a: (a[0], a[1], a[2][:, :3].copy(), a[3]), r"b_in must have shape \(2, 7\) \(got \(2, 3\)\)"),
        (lambda a: (a[0], a[1], a[2], np.full_like(a[3], np.nan)), "the weights hold NaN or infinite values on the paths taken"),
        (lambda a: (np.full_like(a[0], np.inf), *a[1:]), "x holds NaN or infinite values"),
        (lambda a: (a[0].T, *a[1:]), "x must be C-contiguous"),
        (lambda a: (a[0][0], *a[1:]), r"x must have 2 dimensions \(got shape \(6,\)\)"),
    ],
)
def test_bad_input_names_the_argument(change, message: str) -> None:
    """Wrong dtype, shape, node count, layout or NaN weights raise a clear ``ValueError``."""
    args = random_tree(np.random.default_rng(2), 6, 2, 2, 6, 4)

    with pytest.raises(ValueError, match=message):
        ultrafast_infer(*change(args))


def random_leaves(rng: np.random.Generator, batch: int, depth: int, width: int, d_in: int = 10, d_out: int = 4) -> tuple:
    leaves = 2**depth
    return (
        rng.standard_normal((batch, d_in), dtype=np.float32),
        rng.standard_normal((leaves - 1, d_in), dtype=np.float32),
        rng.standard_normal((leaves - 1,), dtype=np.float32),
        rng.standard_normal((leaves, d_in, width), dtype=np.float32),
        rng.standard_normal((leaves, width), dtype=np.float32),
        rng.standard_normal((leaves, width, d_out), dtype=np.float32),
        rng.standard_normal((leaves, d_out), dtype=np.float32),
    )


@pytest.mark.parametrize("batch", [0, 1, 9, PARALLEL_MIN_BATCH + 3])
@pytest.mark.parametrize("depth", [0, 1, 4, 8])
@pytest.mark.parametrize("width", [1, 16, 64])
def test_leaf_variant_matches_reference(batch: int, depth: int, width: int) -> None:
    """FFF with leaves equals its reference: depth 0 (one leaf) to 8, leaf width 1 to 64."""
    args = random_leaves(np.random.default_rng(depth * 100 + width), batch, depth, width)

    np.testing.assert_allclose(fff_leaf_infer(*args), fff_leaf_infer_reference(*args), rtol=1e-5, atol=1e-4)


def test_leaf_variant_adds_the_leaf_output_bias() -> None:
    """With zero leaf weights the output is exactly the reached leaf's output bias."""
    x, node_w, node_b, w1, b1, w2, b2 = random_leaves(np.random.default_rng(3), 5, 2, 4)
    w2 = np.zeros_like(w2)
    leaf = fff_leaf_infer_reference(x, node_w, node_b, w1, b1, w2, b2)

    np.testing.assert_array_equal(leaf, fff_leaf_infer(x, node_w, node_b, w1, b1, w2, b2))
    assert all(any(np.array_equal(row, bias) for bias in b2) for row in leaf)


def test_leaf_variant_zero_logit_goes_left() -> None:
    """A node logit of exactly 0 sends the token to the left leaf."""
    x = np.ones((1, 2), dtype=np.float32)
    node_w, node_b = np.zeros((1, 2), np.float32), np.zeros(1, np.float32)
    w1, b1 = np.zeros((2, 2, 1), np.float32), np.zeros((2, 1), np.float32)
    w2, b2 = np.zeros((2, 1, 1), np.float32), np.array([[1.0], [2.0]], np.float32)

    assert [[1.0]] == fff_leaf_infer(x, node_w, node_b, w1, b1, w2, b2).tolist()


def test_leaf_variant_bad_shapes_name_the_argument() -> None:
    """A leaf count that is not a power of two or a mismatched node table is refused."""
    args = list(random_leaves(np.random.default_rng(4), 3, 2, 4))
    with pytest.raises(ValueError, match=r"node_w must have shape \(3, 10\) for depth 2 \(got \(2, 10\)\)"):
        fff_leaf_infer(args[0], args[1][:2].copy(), *args[2:])
    with pytest.raises(ValueError, match=r"leaf_w1.shape\[0\] must be a power of two, 2\*\*depth leaves \(got 3\)"):
        fff_leaf_infer(*args[:3], args[3][:3].copy(), *args[4:])
