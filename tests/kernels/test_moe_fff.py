"""The fused FFF MoE layer against its numpy reference and against moe_forward."""

from __future__ import annotations

import numpy as np
import pytest
from neural_actors.kernels.fff import LEVEL_BLOCK, SPLIT_MIN_BATCH
from neural_actors.kernels.moe import top_k_route
from neural_actors.kernels.moe_dispatch import FFFExperts, mask_experts, moe_forward
from neural_actors.kernels.moe_fff import compile_seconds, fff_mixture, moe_fff_forward
from neural_actors.kernels.moe_fff_reference import fff_mixture_reference, moe_fff_forward_reference
from neural_actors.runtime import freeze

D = 12
TOL = {"rtol": 1e-5, "atol": 1e-5}


def fff(count: int, trees: int = 2, depth: int = 3, d_out: int = D, seed: int = 0) -> FFFExperts:
    rng = np.random.default_rng(seed)
    nodes = 2 ** (depth + 1) - 1
    return FFFExperts(
        rng.standard_normal((count, trees, nodes, D), dtype=np.float32) / np.float32(np.sqrt(D)),
        rng.standard_normal((count, trees, nodes), dtype=np.float32),
        rng.standard_normal((count, trees, nodes, d_out), dtype=np.float32),
    )


def inputs(tokens: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    return rng.standard_normal((tokens, D), dtype=np.float32), rng.standard_normal((D, count), dtype=np.float32)


def assert_layer_matches(x, router_w, k, experts, **options) -> np.ndarray:
    """The fused layer equals its reference and moe_forward, is finite, leaves its inputs
    unchanged, and the serial and parallel runs agree bit for bit."""
    before = [a.copy() for a in (x, router_w, *experts)]
    out = moe_fff_forward(x, router_w, k, experts, **options)
    assert out.dtype == np.float32 and out.shape == (x.shape[0], experts.w_out.shape[3])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, moe_fff_forward_reference(x, router_w, k, experts, **options), **TOL)
    np.testing.assert_allclose(out, moe_forward(x, router_w, k, experts, **options), **TOL)
    for parallel in (False, True):
        np.testing.assert_array_equal(out, moe_fff_forward(x, router_w, k, experts, parallel=parallel, **options))
    for old, new in zip(before, (x, router_w, *experts), strict=True):
        np.testing.assert_array_equal(old, new)
    return out


@pytest.mark.parametrize("tokens", [0, 1, 13, 100])
@pytest.mark.parametrize(("count", "k"), [(1, 1), (4, 2), (8, 1), (4, 4)])
@pytest.mark.parametrize("capacity_factor", [None, 0.5])
def test_the_fused_layer_equals_the_reference_and_moe_forward(tokens, count, k, capacity_factor) -> None:
    """Random tokens and experts, k up to E, dropless and with capacity drops."""
    x, router_w = inputs(tokens, count, seed=tokens + count)

    assert_layer_matches(x, router_w, k, fff(count), capacity_factor=capacity_factor)


@pytest.mark.parametrize(("trees", "depth"), [(1, 0), (3, 2), (1, 6)])
def test_trees_of_any_count_and_depth(trees, depth) -> None:
    """One node per tree, several trees, a deep tree."""
    x, router_w = inputs(40, 4)

    assert_layer_matches(x, router_w, 2, fff(4, trees=trees, depth=depth))


def test_experts_of_another_output_width() -> None:
    """d_out need not equal d (without the residual policy)."""
    x, router_w = inputs(30, 4)

    assert_layer_matches(x, router_w, 2, fff(4, d_out=5))


def test_an_expert_group_big_enough_to_be_sorted_by_subtree() -> None:
    """Groups of SPLIT_MIN_BATCH tokens and more descend their top levels, are sorted by
    subtree and descend the rest, block by block; the result is the same."""
    tokens = 3 * SPLIT_MIN_BATCH + LEVEL_BLOCK // 2
    x, router_w = inputs(tokens, 2)

    assert_layer_matches(x, router_w, 2, fff(2, trees=2, depth=5))


@pytest.mark.parametrize("dropped", ["zeros", "residual"])
@pytest.mark.parametrize("renormalize", [True, False])
def test_masked_experts_drop_their_share_and_tokens_with_none_left(dropped, renormalize) -> None:
    """Masked experts are removed; a token whose chosen experts are all masked gets zeros or
    itself, never NaN."""
    x, router_w = inputs(64, 4)
    unavailable = np.array([True, False, True, True])

    out = assert_layer_matches(x, router_w, 2, fff(4), unavailable=unavailable, dropped=dropped,
                               renormalize=renormalize)

    chosen, _, _ = top_k_route(x @ router_w, 2)
    orphans = unavailable[chosen].all(axis=1)
    assert orphans.any()
    expected = x[orphans] if dropped == "residual" else np.zeros_like(x[orphans])
    np.testing.assert_array_equal(expected, out[orphans])


def test_every_expert_masked_gives_zeros_or_the_tokens() -> None:
    x, router_w = inputs(20, 3)
    everything = np.ones(3, dtype=bool)

    np.testing.assert_array_equal(np.zeros_like(x), moe_fff_forward(x, router_w, 2, fff(3), unavailable=everything))
    np.testing.assert_array_equal(x, moe_fff_forward(x, router_w, 2, fff(3), unavailable=everything,
                                                     dropped="residual"))


def test_the_fused_routing_is_top_k_route_then_mask_experts() -> None:
    """With a capacity that drops nothing, the batch is routed by top_k_route and mask_experts;
    fused per token, it is routed identically: the outputs are bit for bit the same."""
    x, router_w = inputs(300, 6)
    unavailable = np.array([False, True, False, False, True, False])

    for renormalize in (True, False):
        fused = moe_fff_forward(x, router_w, 3, fff(6), unavailable=unavailable, renormalize=renormalize)
        routed = moe_fff_forward(x, router_w, 3, fff(6), unavailable=unavailable, renormalize=renormalize,
                                 capacity_factor=1e308)
        np.testing.assert_array_equal(routed, fused)


def test_read_only_inputs_are_taken_as_they_are() -> None:
    """Frozen arrays, as messages carry them, need no copy."""
    x, router_w = inputs(30, 4)
    experts = FFFExperts(*(freeze(a) for a in fff(4)))

    out = moe_fff_forward(freeze(x), freeze(router_w), 2, experts)

    np.testing.assert_array_equal(moe_fff_forward(x, router_w, 2, fff(4)), out)


def test_experts_without_trees_output_zeros_for_dispatched_tokens() -> None:
    """K = 0 trees is an empty sum: zeros, even under the residual policy (the tokens were
    dispatched, only their experts are empty)."""
    x, router_w = inputs(10, 3)
    empty = FFFExperts(np.zeros((3, 0, 7, D), np.float32), np.zeros((3, 0, 7), np.float32),
                       np.zeros((3, 0, 7, D), np.float32))

    np.testing.assert_array_equal(np.zeros_like(x), moe_fff_forward(x, router_w, 2, empty, dropped="residual"))


@pytest.mark.parametrize("pass_through", [False, True])
def test_fff_mixture_walks_a_routing_made_elsewhere(pass_through) -> None:
    """A routing with dropped slots (capacity) and masked experts; undispatched tokens get zeros
    or themselves."""
    x, router_w = inputs(90, 5)
    chosen, weights, kept = top_k_route(x @ router_w, 2, capacity_factor=0.6)
    weights, kept = mask_experts(chosen, weights, kept, np.array([False, False, True, False, False]))
    experts = fff(5)

    out = fff_mixture(x, chosen, weights, kept, experts, pass_through=pass_through)

    expected = fff_mixture_reference(x, chosen, weights, kept, experts, pass_through=pass_through)
    np.testing.assert_allclose(out, expected, **TOL)
    assert (~kept.any(axis=1)).any()
    for parallel in (False, True):
        got = fff_mixture(x, chosen, weights, kept, experts, pass_through=pass_through, parallel=parallel)
        np.testing.assert_array_equal(out, got)


def test_a_non_finite_token_is_named() -> None:
    x, router_w = inputs(10, 3)
    x[4, 2] = np.nan

    with pytest.raises(ValueError) as caught:
        moe_fff_forward(x, router_w, 1, fff(3))

    assert "x holds NaN or infinite values" == str(caught.value)


def test_non_finite_weights_on_a_path_are_reported() -> None:
    x, router_w = inputs(10, 3)
    experts = fff(3)
    experts.w_out[:, :, 0, 0] = np.inf  # every root

    with pytest.raises(ValueError) as caught:
        moe_fff_forward(x, router_w, 1, experts)

    assert "the weights hold NaN or infinite values on the paths taken" == str(caught.value)


def _bad_calls() -> list[tuple[str, object]]:
    x, router_w = inputs(8, 3)
    experts = fff(3)
    route = top_k_route(x @ router_w, 2)
    return [
        ("experts must be FFFExperts (got tuple)", lambda: moe_fff_forward(x, router_w, 1, tuple(experts))),
        ("k must be an int in [1, E = 3] (got 4)", lambda: moe_fff_forward(x, router_w, 4, experts)),
        ("k must be an int in [1, E = 3] (got True)", lambda: moe_fff_forward(x, router_w, True, experts)),
        ("x must be a float32 ndarray (got float64); convert with .astype(np.float32)",
         lambda: moe_fff_forward(x.astype(np.float64), router_w, 1, experts)),
        ("router_w must have shape (12, E) (got (11, 3))", lambda: moe_fff_forward(x, router_w[:11], 1, experts)),
        ("experts must hold E = 2 experts, router_w's columns (got 3)",
         lambda: moe_fff_forward(x, router_w[:, :2], 1, experts)),
        ("w_in.shape[2] must be 2**(depth+1) - 1 nodes (got 6)",
         lambda: moe_fff_forward(x, router_w, 1, FFFExperts(*(a[:, :, :6].copy() for a in experts)))),
        ("w_out must have shape (3, 2, 15, d_out) (got (3, 1, 15, 12))",
         lambda: moe_fff_forward(x, router_w, 1, experts._replace(w_out=experts.w_out[:, :1].copy()))),
        ("dropped must be 'zeros' or 'residual' (got 'skip')",
         lambda: moe_fff_forward(x, router_w, 1, experts, dropped="skip")),
        ("dropped='residual' needs d_out == d = 12 (got d_out = 5)",
         lambda: moe_fff_forward(x, router_w, 1, fff(3, d_out=5), dropped="residual")),
        ("unavailable must be an (E,) bool ndarray",
         lambda: moe_fff_forward(x, router_w, 1, experts, unavailable=np.zeros(3, np.int8))),
        ("unavailable must have shape (3,) (got (4,))",
         lambda: moe_fff_forward(x, router_w, 1, experts, unavailable=np.zeros(4, bool))),
        ("chosen must be a (T, k) int32 ndarray",
         lambda: fff_mixture(x, route[0].astype(np.int64), route[1], route[2], experts)),
        ("chosen must hold expert indices in [0, E = 3)",
         lambda: fff_mixture(x, route[0] + 1, route[1], route[2], experts)),
        ("kept must be a (T, k) bool ndarray", lambda: fff_mixture(x, route[0], route[1], route[1], experts)),
        ("weights must have shape (8, 2) (got (8, 1))",
         lambda: fff_mixture(x, route[0], route[1][:, :1].copy(), route[2], experts)),
    ]


@pytest.mark.parametrize(("message", "call"), _bad_calls(), ids=lambda v: v if isinstance(v, str) else "")
def test_bad_arguments_are_named(message, call) -> None:
    with pytest.raises(ValueError) as caught:
        call()

    assert message == str(caught.value)


def test_compile_seconds_name_the_entries_used() -> None:
    """The first use of each entry is timed (compiling it, or loading numba's cache)."""
    x, router_w = inputs(5, 2)
    moe_fff_forward(x, router_w, 1, fff(2), parallel=False)

    seconds = compile_seconds()

    assert {"route", "walk"} <= set(seconds)
    assert all(value >= 0 for value in seconds.values())
