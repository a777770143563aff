"""FFFWeights: both kernel variants, from files, checked on construction."""

from __future__ import annotations

import numpy as np
import pytest

from neural_actors.fff_model import FFFLeafWeights
from neural_actors.fff_weights import FFFWeights
from neural_actors.kernels.fff import ultrafast_infer


def test_a_leaf_fff_file_loads_and_infers_as_its_weights(tmp_path) -> None:
    weights = FFFLeafWeights.init(8, 3, 2, 4, seed=1)
    weights.save(tmp_path / "leaf.npz")
    x = np.random.default_rng(0).standard_normal((5, 8), dtype=np.float32)

    loaded = FFFWeights.load(tmp_path / "leaf.npz")

    assert ("leaf", 8, 3) == (loaded.kind, loaded.d_in, loaded.d_out)
    assert loaded.nbytes == sum(a.nbytes for a in weights.arrays().values())
    np.testing.assert_array_equal(weights.hard(x), loaded.infer(x))


def test_a_trees_file_loads_and_infers_with_ultrafast_infer(tmp_path) -> None:
    rng = np.random.default_rng(0)
    arrays = {"w_in": rng.standard_normal((2, 7, 8), dtype=np.float32),
              "b_in": rng.standard_normal((2, 7), dtype=np.float32),
              "w_out": rng.standard_normal((2, 7, 3), dtype=np.float32)}
    np.savez(tmp_path / "trees.npz", **arrays)
    x = rng.standard_normal((5, 8), dtype=np.float32)

    loaded = FFFWeights.load(tmp_path / "trees.npz")

    assert ("trees", 8, 3) == (loaded.kind, loaded.d_in, loaded.d_out)
    np.testing.assert_array_equal(ultrafast_infer(x, *arrays.values()), loaded.infer(x))


@pytest.mark.parametrize(("kind", "arrays", "message"), [
    ("trees", (np.zeros((1, 6, 4), np.float32), np.zeros((1, 6), np.float32), np.zeros((1, 6, 2), np.float32)),
     "w_in.shape[1] must be 2**(depth+1) - 1 nodes (got 6)"),
    ("trees", (np.zeros((1, 7, 4), np.float32),), "FFF trees have 3 arrays ('w_in', 'b_in', 'w_out') (got 1)"),
    ("forest", (), "kind must be 'leaf' or 'trees' (got 'forest')"),
])
def test_arrays_that_do_not_fit_are_named(kind, arrays, message) -> None:
    with pytest.raises(ValueError) as caught:
        FFFWeights(kind, arrays)

    assert message == str(caught.value)


def test_a_file_of_neither_format_is_refused(tmp_path) -> None:
    np.savez(tmp_path / "other.npz", a=np.zeros(2))

    with pytest.raises(ValueError) as caught:
        FFFWeights.load(tmp_path / "other.npz")

    assert str(caught.value).endswith("not an FFF .npz (expected node_w, node_b, leaf_w1, leaf_b1, leaf_w2, "
                                      "leaf_b2 or w_in, b_in, w_out; found a)")
