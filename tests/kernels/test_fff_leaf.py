"""FFF with leaves, hard inference, against the numpy reference: random shapes, ties, bad input."""

import numpy as np
import pytest
from neural_actors.kernels.fff_leaf import LEAF_LEVEL_MIN_BATCH, fff_leaf_infer
from neural_actors.kernels.fff_reference import fff_leaf_infer_reference

from .fff_inputs import STREAMED_BATCH, THRESHOLD_BATCHES, random_leaves, small_ints


@pytest.mark.parametrize("batch", [0, 1, 9, 67])
@pytest.mark.parametrize("depth", [0, 1, 4, 8])
@pytest.mark.parametrize("width", [1, 16, 64])
def test_leaf_variant_matches_reference(batch: int, depth: int, width: int) -> None:
    """FFF with leaves equals its reference: depth 0 (one leaf) to 8, leaf width 1 to 64."""
    args = random_leaves(np.random.default_rng(depth * 100 + width), batch, depth, width)

    np.testing.assert_allclose(fff_leaf_infer(*args), fff_leaf_infer_reference(*args), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batch", THRESHOLD_BATCHES)
@pytest.mark.parametrize("depth", [0, 1, 3, 7, 12])
def test_leaf_variant_paths_match_reference_around_thresholds(batch: int, depth: int) -> None:
    """Walk, level and threaded leaf paths equal the reference; inputs are left as they were."""
    args = random_leaves(np.random.default_rng(depth * 1000 + batch), batch, depth, width=6, d_in=7, d_out=3)
    copies = [a.copy() for a in args]

    np.testing.assert_allclose(fff_leaf_infer(*args), fff_leaf_infer_reference(*args), rtol=1e-5, atol=1e-4)
    for before, after in zip(copies, args):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("batch", THRESHOLD_BATCHES)
def test_leaf_variant_ties_go_left_on_every_path(batch: int) -> None:
    """Integer node weights make many logits exactly 0; the leaf reached must match."""
    rng = np.random.default_rng(batch)
    x, _, _, w1, b1, w2, _ = random_leaves(rng, batch, 4, width=3, d_in=3, d_out=1)
    x = small_ints(rng, x.shape)
    node_w, node_b = small_ints(rng, (15, 3)), small_ints(rng, (15,))
    b2 = np.arange(16, dtype=np.float32)[:, None] * 1000.0  # the leaf index, far above the rest
    args = (x, node_w, node_b, w1 * 0.01, b1 * 0.01, w2 * 0.01, b2)

    np.testing.assert_allclose(fff_leaf_infer(*args), fff_leaf_infer_reference(*args), rtol=1e-5, atol=1e-3)


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


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: (*a[:5], a[5].astype(np.float64), a[6]), r"leaf_w2 must be a float32 ndarray \(got float64\)"),
        (lambda a: (np.repeat(a[0], 2, axis=1)[:, ::2], *a[1:]), "x must be C-contiguous"),
        (lambda a: (a[0], a[1], a[2].reshape(3, 1), *a[3:]), r"node_b must have 1 dimensions \(got shape \(3, 1\)\)"),
        (lambda a: (np.full_like(a[0], np.nan), *a[1:]), "x holds NaN or infinite values"),
        (lambda a: (*a[:6], np.full_like(a[6], np.inf)), "the weights hold NaN or infinite values on the paths taken"),
    ],
)
@pytest.mark.parametrize("batch", [1, 6])
def test_leaf_variant_bad_input_names_the_argument(change, message: str, batch: int) -> None:
    """The leaf variant refuses bad arrays with a clear ``ValueError`` on both paths."""
    args = random_leaves(np.random.default_rng(5), batch, 2, 4)

    with pytest.raises(ValueError, match=message):
        fff_leaf_infer(*change(args))


@pytest.mark.parametrize("depth", [0, 3])
def test_leaf_variant_output_is_streamed_whole(depth: int) -> None:
    args = random_leaves(np.random.default_rng(depth), STREAMED_BATCH, depth, width=3, d_in=5, d_out=768)

    np.testing.assert_allclose(fff_leaf_infer(*args), fff_leaf_infer_reference(*args), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batch", [1, LEAF_LEVEL_MIN_BATCH + 1])
def test_leaf_variant_infinite_input_that_the_relu_zeroes_is_not_reported(batch: int) -> None:
    """The finite check sees the output only: an infinite input whose every leaf neuron's
    pre-activation is ``-inf`` is zeroed by the ReLU and the leaf's output bias comes out, as
    in the reference. An infinite input that reaches the output is reported."""
    x, node_w, node_b, w1, b1, w2, b2 = random_leaves(np.random.default_rng(batch), batch, 2, 4)
    x[:, 0] = np.inf
    w1[:, 0, :] = -1.0  # every leaf neuron: -inf

    np.testing.assert_array_equal(fff_leaf_infer_reference(x, node_w, node_b, w1, b1, w2, b2),
                                  fff_leaf_infer(x, node_w, node_b, w1, b1, w2, b2))
    w1[:, 0, 0] = 1.0  # one neuron at +inf in every leaf
    with pytest.raises(ValueError, match="x holds NaN or infinite values"):
        fff_leaf_infer(x, node_w, node_b, w1, b1, w2, b2)
