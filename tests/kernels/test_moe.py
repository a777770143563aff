"""MoE routing and dispatch against the numpy references, with the adversarial cases."""

import math

import numpy as np
import pytest

from neural_actors.kernels.moe import dispatch_plan, top_k_route
from neural_actors.kernels.moe_reference import dispatch_plan_reference, top_k_route_reference


def assert_same_route(logits: np.ndarray, k: int, capacity_factor) -> None:
    chosen, weights, kept = top_k_route(logits, k, capacity_factor)
    ref_chosen, ref_weights, ref_kept = top_k_route_reference(logits, k, capacity_factor)
    np.testing.assert_array_equal(ref_chosen, chosen)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(ref_kept, kept)
    order, offsets = dispatch_plan(chosen, kept, logits.shape[1])
    ref_order, ref_offsets = dispatch_plan_reference(chosen, kept, logits.shape[1])
    np.testing.assert_array_equal(ref_order, order)
    np.testing.assert_array_equal(ref_offsets, offsets)


@pytest.mark.parametrize("tokens", [0, 1, 13, 200])
@pytest.mark.parametrize(("experts", "k"), [(1, 1), (4, 2), (8, 1), (8, 8)])
@pytest.mark.parametrize("capacity_factor", [None, 0.5, 1.0, 1.25])
def test_routing_and_plan_match_reference(tokens: int, experts: int, k: int, capacity_factor) -> None:
    """Random logits: same experts, weights, drops and dispatch order as the reference."""
    logits = np.random.default_rng(tokens + experts).standard_normal((tokens, experts), dtype=np.float32)

    assert_same_route(logits, k, capacity_factor)


def test_ties_go_to_the_lower_expert_index() -> None:
    """Equal scores: the lower expert index is chosen first."""
    chosen, weights, _ = top_k_route(np.zeros((3, 4), dtype=np.float32), 2)

    assert [[0, 1]] * 3 == chosen.tolist()
    np.testing.assert_allclose(weights, 0.25)


def test_capacity_overflow_drops_later_tokens_and_second_choices() -> None:
    """All tokens prefer expert 0: only ``capacity`` first choices stay there."""
    logits = np.tile(np.array([[3.0, 2.0, 0.0, 0.0]], dtype=np.float32), (8, 1))
    chosen, _, kept = top_k_route(logits, 2, capacity_factor=1.0)
    capacity = math.ceil(1.0 * 2 * 8 / 4)

    assert [True] * capacity + [False] * (8 - capacity) == kept[:, 0].tolist()
    assert [True] * capacity + [False] * (8 - capacity) == kept[:, 1].tolist()
    assert_same_route(logits, 2, 1.0)


def test_plan_gives_contiguous_blocks_and_empty_experts() -> None:
    """Experts nobody chose have empty blocks; every kept assignment appears once."""
    chosen = np.array([[2], [0], [2], [2]], dtype=np.int32)
    kept = np.array([[True], [True], [False], [True]])
    order, offsets = dispatch_plan(chosen, kept, 4)

    assert ([1, 0, 3], [0, 1, 1, 3, 3]) == (order.tolist(), offsets.tolist())


def test_bad_arguments_are_named() -> None:
    """k out of range, a bad capacity factor or dtype raise ``ValueError``."""
    logits = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"k must be an int from 1 to E=3 \(got 4\)"):
        top_k_route(logits, 4)
    with pytest.raises(ValueError, match=r"capacity_factor must be > 0 or None \(got 0\)"):
        top_k_route(logits, 1, 0)
    with pytest.raises(ValueError, match=r"logits must be a \(T, E\) float32 ndarray"):
        top_k_route(logits.astype(np.float64), 1)
