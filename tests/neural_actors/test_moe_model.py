"""The MoE model file, and the shipped model's held-out accuracy with experts dead."""

from __future__ import annotations

import numpy as np
import pytest

from neural_actors.model_store import SHIPPED, load_model
from neural_actors.moe_model import MoEModel
from neural_actors.train_moe import accuracy, dead_accuracy

#: Measured on the shipped model (python -m neural_actors.train_moe --check prints them).
HEALTHY = 0.975
#: Every one of 20 seeded random sets of dead experts stays within these points of healthy.
WORST_DROP = {2: 1.0, 4: 1.5}
#: And their mean within these.
MEAN_DROP = {2: 0.5, 4: 1.0}


@pytest.fixture(scope="module")
def shipped() -> MoEModel:
    return load_model("shipped:moe_digits.npz", MoEModel.load)


def test_the_shipped_model_is_small_and_complete(shipped) -> None:
    """A few hundred KB holding 16 FFF experts, the router, the standardisation and the
    held-out set."""
    import os

    size = os.path.getsize(os.path.join(SHIPPED, "moe_digits.npz"))
    x, labels = shipped.held_out()

    assert size < 300_000
    assert (16, 4, 64, 10) == (shipped.expert_count, shipped.k, shipped.d_in, shipped.d_out)
    assert (360, 64) == x.shape and x.dtype == np.float32 and set(labels) == set(range(10))


def test_held_out_accuracy_with_every_expert_alive(shipped) -> None:
    assert HEALTHY == pytest.approx(accuracy(shipped, *shipped.held_out()))


@pytest.mark.parametrize("dead", [2, 4])
def test_held_out_accuracy_with_an_eighth_and_a_quarter_of_the_experts_dead(dead) -> None:
    """20 random sets of dead experts (seeded): each within WORST_DROP points of healthy, and
    their mean within MEAN_DROP (the goal for a quarter dead was 2 points)."""
    model = load_model("shipped:moe_digits.npz", MoEModel.load)
    results = 100 * np.array(dead_accuracy(model, *model.held_out(), dead, draws=20, seed=1))

    assert results.min() >= 100 * HEALTHY - WORST_DROP[dead]
    assert results.mean() >= 100 * HEALTHY - MEAN_DROP[dead]


def test_a_model_survives_saving_and_loading(tmp_path, shipped) -> None:
    shipped.save(tmp_path / "m.npz")

    again = MoEModel.load(tmp_path / "m.npz")

    for name in ("router_w", "w_in", "b_in", "w_out", "mean", "scale", "test_x", "test_y"):
        np.testing.assert_array_equal(getattr(shipped, name), getattr(again, name))
    assert shipped.k == again.k


@pytest.mark.parametrize(("change", "message"), [
    ({"k": 9}, "k must be an int in [1, E = 4] (got 9)"),
    ({"b_in": np.zeros((4, 1, 6))}, "b_in must have shape (4, 1, 7) for router_w (3, 4) (got (4, 1, 6))"),
    ({"test_x": np.zeros((2, 3))}, "mean, scale, test_x and test_y come together (got only test_x)"),
    ({"w_out": np.full((4, 1, 7, 2), np.nan)}, "w_out holds NaN or infinite values"),
])
def test_inconsistent_arrays_are_named(change, message) -> None:
    arrays = {"router_w": np.zeros((3, 4)), "w_in": np.zeros((4, 1, 7, 3)), "b_in": np.zeros((4, 1, 7)),
              "w_out": np.zeros((4, 1, 7, 2)), "k": 2}
    with pytest.raises(ValueError) as caught:
        MoEModel(**{**arrays, **change})

    assert message == str(caught.value)


def test_a_file_of_another_kind_is_refused_naming_it(tmp_path) -> None:
    np.savez(tmp_path / "other.npz", a=np.zeros(2))

    with pytest.raises(ValueError) as caught:
        MoEModel.load(tmp_path / "other.npz")

    assert f"{tmp_path / 'other.npz'}: not an MoE model .npz (missing format_version, k, router_w, w_in, b_in, " \
           "w_out)" == str(caught.value)
