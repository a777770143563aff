"""MoE gather / experts / combine / masking against the plain-numpy references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from neural_actors.kernels import moe_dispatch
from neural_actors.kernels.moe import dispatch_plan, top_k_route
from neural_actors.kernels.moe_dispatch import (
    PARALLEL_MIN_TOKENS,
    DenseExperts,
    FFFExperts,
    combine,
    dense_experts,
    fff_experts,
    gather_tokens,
    mask_experts,
    moe_forward,
    router_logits,
    runs_parallel,
)
from neural_actors.kernels.moe_dispatch_reference import (
    combine_reference,
    gather_tokens_reference,
    mask_experts_reference,
    moe_forward_reference,
)

D, HIDDEN, D_OUT = 12, 16, 12
TOL = {"rtol": 1e-5, "atol": 1e-5}


def dense(count: int, seed: int = 0, d_out: int = D_OUT) -> DenseExperts:
    rng = np.random.default_rng(seed)
    return DenseExperts(
        rng.standard_normal((count, D, HIDDEN), dtype=np.float32) / np.float32(np.sqrt(D)),
        rng.standard_normal((count, HIDDEN), dtype=np.float32),
        rng.standard_normal((count, HIDDEN, d_out), dtype=np.float32) / np.float32(np.sqrt(HIDDEN)),
        rng.standard_normal((count, d_out), dtype=np.float32),
    )


def fff(count: int, trees: int = 2, depth: int = 3, seed: int = 0) -> FFFExperts:
    rng = np.random.default_rng(seed)
    nodes = 2 ** (depth + 1) - 1
    return FFFExperts(
        rng.standard_normal((count, trees, nodes, D), dtype=np.float32) / np.float32(np.sqrt(D)),
        rng.standard_normal((count, trees, nodes), dtype=np.float32),
        rng.standard_normal((count, trees, nodes, D_OUT), dtype=np.float32),
    )


def inputs(tokens: int, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    return (
        rng.standard_normal((tokens, D), dtype=np.float32),
        rng.standard_normal((D, count), dtype=np.float32),
    )


def assert_forward_matches(x, router_w, k, experts, **options) -> np.ndarray:
    """moe_forward equals the dense reference, has no NaN, and leaves every input unchanged."""
    before = [a.copy() for a in (x, router_w, *experts)]
    mask = options.get("unavailable")
    mask_before = None if mask is None else mask.copy()
    out = moe_forward(x, router_w, k, experts, **options)
    options.pop("parallel", None)
    expected = moe_forward_reference(x, router_w, k, experts, **options)
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, **TOL)
    for old, new in zip(before, (x, router_w, *experts), strict=True):
        np.testing.assert_array_equal(old, new)
    if mask is not None:
        np.testing.assert_array_equal(mask_before, mask)
    return out


@pytest.mark.parametrize("tokens", [0, 1, 13, 100])
@pytest.mark.parametrize(("count", "k"), [(1, 1), (4, 2), (8, 1), (4, 4)])
@pytest.mark.parametrize("capacity_factor", [None, 0.5, 1.25])
@pytest.mark.parametrize("renormalize", [True, False])
def test_dense_forward_matches_reference(tokens, count, k, capacity_factor, renormalize) -> None:
    """Random tokens, dense experts: the dense per-token reference, including k = E."""
    x, router_w = inputs(tokens, count, seed=tokens + count)

    assert_forward_matches(
        x, router_w, k, dense(count), capacity_factor=capacity_factor, renormalize=renormalize
    )


@pytest.mark.parametrize(("count", "k", "capacity_factor"), [(4, 1, None), (4, 2, 1.0), (8, 8, None)])
def test_fff_forward_matches_reference(count, k, capacity_factor) -> None:
    """FFF experts (2 trees of depth 3 each) against the per-token reference."""
    x, router_w = inputs(70, count)

    assert_forward_matches(x, router_w, k, fff(count), capacity_factor=capacity_factor)


def test_router_ties_go_to_the_lower_expert() -> None:
    """Identical router columns tie on every token; the lower index wins, weights split."""
    x, router_w = inputs(20, 4)
    router_w[:, 1] = router_w[:, 0]
    router_w[:, 3] = router_w[:, 0]
    router_w[:, 2] = router_w[:, 0]

    out = assert_forward_matches(x, router_w, 2, dense(4), renormalize=True)
    experts = dense(4)
    half = [0.5 * (np.maximum(x @ experts.w1[e] + experts.b1[e], 0) @ experts.w2[e] + experts.b2[e]) for e in (0, 1)]
    np.testing.assert_allclose(out, half[0] + half[1], **TOL)


def one_expert_router(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Positive tokens and a router whose column 0 dominates: every token picks expert 0 first,
    expert 1 second; experts 2.. stay empty."""
    x, router_w = inputs(32, count)
    x = np.abs(x) + np.float32(0.5)
    router_w = router_w * np.float32(0.01)
    router_w[:, 0] += 3.0
    router_w[:, 1] += 2.0
    return x, router_w


@pytest.mark.parametrize("k", [1, 2])
def test_all_tokens_to_one_expert_and_empty_experts(k) -> None:
    """All first choices on expert 0; the experts nobody picked are skipped."""
    x, router_w = one_expert_router(6)
    chosen, _, kept = top_k_route(x @ router_w, k)
    assert (chosen[:, 0] == 0).all()
    _, offsets = dispatch_plan(chosen, kept, 6)
    assert (np.diff(offsets)[2:] == 0).all()

    assert_forward_matches(x, router_w, k, dense(6))


@pytest.mark.parametrize("dropped", ["zeros", "residual"])
@pytest.mark.parametrize("renormalize", [True, False])
def test_capacity_overflow_zeros_or_residual(dropped, renormalize) -> None:
    """Capacity 4 of 32 tokens on expert 0, k = 1: later tokens are dropped to 0 or to x."""
    x, router_w = one_expert_router(8)

    out = assert_forward_matches(
        x, router_w, 1, dense(8), capacity_factor=1.0, dropped=dropped, renormalize=renormalize
    )
    expected_dropped = x[4:] if dropped == "residual" else np.zeros_like(x[4:])
    np.testing.assert_array_equal(expected_dropped, out[4:])
    assert not np.allclose(out[:4], 0)


def test_partially_dropped_token_keeps_its_surviving_expert() -> None:
    """k = 2 with overflow: tokens that lost only one slot are not passed through."""
    x, router_w = inputs(60, 4)
    _, _, kept = top_k_route(x @ router_w, 2, capacity_factor=0.6)
    partial = kept.any(axis=1) & ~kept.all(axis=1)
    assert partial.any()

    out = assert_forward_matches(x, router_w, 2, dense(4), capacity_factor=0.6, dropped="residual")
    assert not np.allclose(out[partial], x[partial])


def test_mask_experts_renormalizes_and_drops_fully_masked_tokens() -> None:
    """Survivors sum to 1; a token whose experts are all masked has zero weights, not NaN."""
    chosen = np.array([[0, 1], [1, 2], [2, 3], [3, 0]], dtype=np.int32)
    weights = np.array([[0.5, 0.2], [0.4, 0.3], [0.6, 0.1], [0.7, 0.2]], dtype=np.float32)
    kept = np.array([[True, True], [True, True], [True, False], [True, True]])
    unavailable = np.array([False, True, True, False])
    inputs_before = [a.copy() for a in (chosen, weights, kept, unavailable)]

    new_weights, new_kept = mask_experts(chosen, weights, kept, unavailable)

    assert [[True, False], [False, False], [False, False], [True, True]] == new_kept.tolist()
    np.testing.assert_allclose(new_weights, [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [7 / 9, 2 / 9]], rtol=1e-6)
    for old, new in zip(inputs_before, (chosen, weights, kept, unavailable), strict=True):
        np.testing.assert_array_equal(old, new)
    raw_weights, raw_kept = mask_experts(chosen, weights, kept, unavailable, renormalize=False)
    np.testing.assert_array_equal(new_kept, raw_kept)
    np.testing.assert_array_equal(np.where(new_kept, weights, 0), raw_weights)


def test_mask_experts_matches_reference_including_underflow() -> None:
    """Random masks; survivors whose weights underflowed to 0 share equally."""
    rng = np.random.default_rng(3)
    chosen = rng.integers(0, 6, (50, 3)).astype(np.int32)
    weights = rng.random((50, 3), dtype=np.float32)
    weights[:5] = 0.0
    kept = rng.random((50, 3)) < 0.8
    for renormalize in (True, False):
        for unavailable in (rng.random(6) < 0.4, np.zeros(6, bool), np.ones(6, bool)):
            got = mask_experts(chosen, weights, kept, unavailable, renormalize)
            expected = mask_experts_reference(chosen, weights, kept, unavailable, renormalize)
            np.testing.assert_array_equal(expected[1], got[1])
            np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)
            if renormalize:
                alive = got[1].any(axis=1)
                np.testing.assert_allclose(got[0][alive].sum(axis=1), 1.0, rtol=1e-6)
                assert (got[0][~alive] == 0).all()


@pytest.mark.parametrize("dropped", ["zeros", "residual"])
def test_masked_experts_in_forward(dropped) -> None:
    """Masking experts 0 and 1 removes every choice of the one-expert router: all dropped,
    no NaN; masking only expert 0 leaves expert 1 with weight 1."""
    x, router_w = one_expert_router(4)
    experts = dense(4)
    both = np.array([True, True, False, False])
    out = assert_forward_matches(x, router_w, 2, experts, unavailable=both, dropped=dropped)
    np.testing.assert_array_equal(x if dropped == "residual" else np.zeros_like(x), out)

    first = np.array([True, False, False, False])
    out = assert_forward_matches(x, router_w, 2, experts, unavailable=first, dropped=dropped)
    only_1 = np.maximum(x @ experts.w1[1] + experts.b1[1], 0) @ experts.w2[1] + experts.b2[1]
    np.testing.assert_allclose(out, only_1, **TOL)

    x, router_w = inputs(60, 6)
    random_mask = np.array([False, True, False, True, True, False])
    for renormalize in (True, False):
        assert_forward_matches(
            x, router_w, 3, dense(6), unavailable=random_mask, renormalize=renormalize,
            capacity_factor=1.0, dropped=dropped,
        )


def test_the_parallel_kernels_run_from_the_threshold_unless_forced() -> None:
    rows = (PARALLEL_MIN_TOKENS - 1, PARALLEL_MIN_TOKENS, 10**6)
    assert (False, True, True) == tuple(runs_parallel(count) for count in rows)
    assert (True, False) == (runs_parallel(1, True), runs_parallel(10**6, False))


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool | None, bool]]:
    """Every ``runs_parallel(rows, parallel)`` decision taken, with its answer."""
    taken = []

    def recording(rows: int, parallel: bool | None = None) -> bool:
        taken.append((rows, parallel, answer := runs_parallel(rows, parallel)))
        return answer

    monkeypatch.setattr(moe_dispatch, "runs_parallel", recording)
    return taken


@pytest.mark.parametrize(
    "tokens", [PARALLEL_MIN_TOKENS - 1, PARALLEL_MIN_TOKENS, PARALLEL_MIN_TOKENS + 1]
)
def test_serial_and_parallel_paths_agree(tokens, paths) -> None:
    """Around the threshold, forced serial, forced parallel and the automatic choice give
    bit-identical results; the router and combine choose by ``T``, the gather by its rows
    (every assignment here: k = 2, dropless)."""
    x, router_w = inputs(tokens, 8)
    experts = dense(8)
    options = {"dropped": "residual"}
    results = {}
    for parallel in (False, True, None):
        paths.clear()
        results[parallel] = moe_forward(x, router_w, 2, experts, parallel=parallel, **options)
        automatic = (runs_parallel(tokens), runs_parallel(2 * tokens), runs_parallel(tokens))
        expected = automatic if parallel is None else (parallel,) * 3
        rows = (tokens, 2 * tokens, tokens)
        assert list(zip(rows, (parallel,) * 3, expected, strict=True)) == paths

    np.testing.assert_array_equal(results[False], results[True])
    np.testing.assert_array_equal(results[False], results[None])
    np.testing.assert_allclose(results[False], moe_forward_reference(x, router_w, 2, experts, **options), **TOL)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("tokens", [0, 1, 40])
def test_gather_and_combine_match_references(parallel, tokens) -> None:
    """The building blocks alone, with capacity drops, on both kernels."""
    x, router_w = inputs(tokens, 5)
    chosen, weights, kept = top_k_route(x @ router_w, 2, capacity_factor=0.8)
    order, offsets = dispatch_plan(chosen, kept, 5)

    rows = gather_tokens(x, order, 2, parallel=parallel)
    np.testing.assert_array_equal(gather_tokens_reference(x, order, 2), rows)
    experts = dense(5)
    expert_out = dense_experts(rows, offsets, experts)
    for pass_through in (None, x):
        got = combine(expert_out, order, weights, tokens, 2, pass_through=pass_through, parallel=parallel)
        expected = combine_reference(expert_out, order, weights, tokens, 2, pass_through)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("tokens", [0, 1, 300])
def test_router_logits_match_matmul(parallel, tokens) -> None:
    """The numba router matmul against numpy's, on both kernels."""
    x, router_w = inputs(tokens, 7)

    np.testing.assert_allclose(router_logits(x, router_w, parallel=parallel), x @ router_w, rtol=1e-5, atol=1e-5)


def test_fff_experts_blocks_match_ultrafast_reference() -> None:
    """fff_experts on blocks, including empty ones, against per-block reference inference."""
    from neural_actors.kernels.fff_reference import ultrafast_infer_reference

    experts = fff(3)
    rows = np.random.default_rng(4).standard_normal((9, D), dtype=np.float32)
    offsets = np.array([0, 4, 4, 9])

    got = fff_experts(rows, offsets, experts)
    for e, (start, stop) in enumerate(itertools.pairwise(offsets)):
        expected = ultrafast_infer_reference(rows[start:stop], experts.w_in[e], experts.b_in[e], experts.w_out[e])
        np.testing.assert_allclose(got[start:stop], expected, rtol=1e-4, atol=1e-5)


def bad_forward_calls():
    x, router_w = inputs(5, 4)
    experts = dense(4)
    w1, b1, w2, b2 = experts
    yield "x", lambda: moe_forward(x.astype(np.float64), router_w, 1, experts)
    yield "x", lambda: moe_forward(x[0], router_w, 1, experts)
    yield "router_w", lambda: moe_forward(x, router_w[:-1], 1, experts)
    yield "router_w", lambda: moe_forward(x, router_w.astype(np.float16), 1, experts)
    yield "k", lambda: moe_forward(x, router_w, 5, experts)
    yield "k", lambda: moe_forward(x, router_w, 0, experts)
    yield "w1", lambda: moe_forward(x, router_w, 1, DenseExperts(w1.astype(np.float64), b1, w2, b2))
    yield "b1", lambda: moe_forward(x, router_w, 1, DenseExperts(w1, b1[:, :-1], w2, b2))
    yield "w2", lambda: moe_forward(x, router_w, 1, DenseExperts(w1, b1, w2[:, :-1], b2))
    yield "b2", lambda: moe_forward(x, router_w, 1, DenseExperts(w1, b1, w2, b2[:-1]))
    yield "experts", lambda: moe_forward(x, router_w, 1, DenseExperts(w1[:3], b1[:3], w2[:3], b2[:3]))
    yield "experts", lambda: moe_forward(x, router_w, 1, (w1, b1, w2, b2))
    yield "w_in", lambda: moe_forward(x, router_w, 1, FFFExperts(*fff(4))._replace(w_in=fff(4).w_in[..., :-1]))
    yield "unavailable", lambda: moe_forward(x, router_w, 1, experts, unavailable=np.zeros(3, bool))
    yield "unavailable", lambda: moe_forward(x, router_w, 1, experts, unavailable=np.zeros(4, int))
    yield "dropped", lambda: moe_forward(x, router_w, 1, experts, dropped="drop")
    yield "dropped", lambda: moe_forward(x, router_w, 1, dense(4, d_out=5), dropped="residual")
    yield "capacity_factor", lambda: moe_forward(x, router_w, 1, experts, capacity_factor=0.0)
    order = np.arange(5)
    yield "order", lambda: gather_tokens(x, order.astype(np.float32), 1)
    yield "order", lambda: gather_tokens(x, order + 1, 1)
    yield "order", lambda: combine(x, np.array([0, 0, 1, 2, 3]), np.ones((5, 1), np.float32), 5, 1)
    yield "weights", lambda: combine(x, order, np.ones((5, 2), np.float32), 5, 1)
    yield "pass_through", lambda: combine(x, order, np.ones((5, 1), np.float32), 5, 1, pass_through=x[:4])
    yield "chosen", lambda: mask_experts(np.zeros((5, 1), np.int64), np.ones((5, 1), np.float32), np.ones((5, 1), bool), np.zeros(4, bool))
    yield "kept", lambda: mask_experts(np.zeros((5, 1), np.int32), np.ones((5, 1), np.float32), np.ones((5, 2), bool), np.zeros(4, bool))
    yield "offsets", lambda: dense_experts(x, np.array([0, 2, 5]), experts)


@pytest.mark.parametrize(("name", "call"), list(bad_forward_calls()), ids=lambda v: v if isinstance(v, str) else "")
def test_bad_inputs_raise_value_error_naming_the_argument(name, call) -> None:
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize("tokens", [1, 70, 300])
def test_fff_experts_without_trees_output_zeros(tokens) -> None:
    """FFF experts of ``K = 0`` trees add nothing: every token's output is zero, whatever the
    size of its expert's block (the walk under 8 rows, the level path above)."""
    x, router_w = inputs(tokens, 2)
    nodes = 7
    experts = FFFExperts(
        np.empty((2, 0, nodes, D), np.float32), np.empty((2, 0, nodes), np.float32),
        np.empty((2, 0, nodes, D_OUT), np.float32),
    )

    out = assert_forward_matches(x, router_w, 1, experts)

    np.testing.assert_array_equal(np.zeros((tokens, D_OUT), np.float32), out)


def test_numpy_integers_are_accepted_for_k_and_tokens() -> None:
    """``k`` and ``tokens`` read from numpy arrays work as ints do, end to end."""
    x, router_w = inputs(30, 4)
    chosen, weights, kept = top_k_route(x @ router_w, 2)
    order, _ = dispatch_plan(chosen, kept, 4)
    rows = gather_tokens(x, order, np.int64(2))
    expert_out = rows * np.float32(2.0)

    np.testing.assert_array_equal(gather_tokens(x, order, 2), rows)
    np.testing.assert_array_equal(
        combine(expert_out, order, weights, 30, 2), combine(expert_out, order, weights, np.int64(30), np.int64(2))
    )
    np.testing.assert_array_equal(
        moe_forward(x, router_w, 2, dense(4)), moe_forward(x, router_w, np.int64(2), dense(4))
    )
