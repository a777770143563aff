"""MoE routing, dispatch and router losses against the numpy references, adversarial cases too."""

import math

import numpy as np
import pytest
from neural_actors.kernels.moe import (
    dispatch_plan,
    expert_choice_route,
    gshard_route,
    load_balancing_loss,
    router_z_loss,
    switch_route,
    top_k_route,
)
from neural_actors.kernels.moe_reference import (
    dispatch_plan_reference,
    expert_choice_route_reference,
    gshard_route_reference,
    load_balancing_loss_reference,
    router_z_loss_reference,
    top_k_route_reference,
)


def random_logits(tokens: int, experts: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((tokens, experts), dtype=np.float32)


def assert_same_triple(got: tuple, want: tuple) -> None:
    np.testing.assert_array_equal(want[0], got[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(want[2], got[2])
    assert (np.int32, np.float32, np.bool_) == (got[0].dtype, got[1].dtype, got[2].dtype)


def assert_same_route(logits: np.ndarray, k: int, capacity_factor, **options) -> None:
    chosen, weights, kept = top_k_route(logits, k, capacity_factor, **options)
    assert_same_triple(
        (chosen, weights, kept), top_k_route_reference(logits, k, capacity_factor, **options)
    )
    order, offsets = dispatch_plan(chosen, kept, logits.shape[1])
    ref_order, ref_offsets = dispatch_plan_reference(chosen, kept, logits.shape[1])
    np.testing.assert_array_equal(ref_order, order)
    np.testing.assert_array_equal(ref_offsets, offsets)


@pytest.mark.parametrize("tokens", [0, 1, 13, 200])
@pytest.mark.parametrize(("experts", "k"), [(1, 1), (4, 2), (8, 1), (8, 8)])
@pytest.mark.parametrize("capacity_factor", [None, 0.5, 1.0, 1.25])
def test_routing_and_plan_match_reference(
    tokens: int, experts: int, k: int, capacity_factor
) -> None:
    """Random logits: same experts, weights, drops and dispatch order as the reference."""
    assert_same_route(random_logits(tokens, experts, tokens + experts), k, capacity_factor)


def test_ties_go_to_the_lower_expert_index() -> None:
    """Equal scores: the lower expert index is chosen first."""
    chosen, weights, _ = top_k_route(np.zeros((3, 4), dtype=np.float32), 2)

    assert [[0, 1]] * 3 == chosen.tolist()
    np.testing.assert_allclose(weights, 0.25)


def test_capacity_overflow_drops_later_tokens_and_second_choices() -> None:
    """All tokens prefer expert 0: only ``capacity`` first choices stay there."""
    logits = np.tile(np.array([[3.0, 2.0, 0.0, 0.0]], dtype=np.float32), (8, 1))
    _, _, kept = top_k_route(logits, 2, capacity_factor=1.0)
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


@pytest.mark.parametrize("tokens", [0, 1, 13, 200])
@pytest.mark.parametrize(("experts", "k"), [(1, 1), (4, 2), (8, 8)])
@pytest.mark.parametrize("normalize", ["softmax_all", "softmax_topk"])
@pytest.mark.parametrize("capacity_factor", [None, 1.0])
def test_noisy_routing_matches_reference(
    tokens: int, experts: int, k: int, normalize: str, capacity_factor
) -> None:
    """Noisy top-k: the same scores ``logits + noise * softplus(noise_logits)``, choices, gates."""
    rng = np.random.default_rng(tokens * experts + k)
    noise = rng.standard_normal((tokens, experts), dtype=np.float32)
    noise_logits = 3 * rng.standard_normal((tokens, experts), dtype=np.float32)
    options = {"noise": noise, "noise_logits": noise_logits, "normalize": normalize}

    assert_same_route(random_logits(tokens, experts, tokens), k, capacity_factor, **options)


def test_zero_noise_changes_nothing_and_topk_gates_sum_to_one() -> None:
    """``noise = 0`` leaves the scores alone; ``softmax_topk`` renormalises over the chosen ones."""
    logits = random_logits(50, 6)
    zero = np.zeros_like(logits)
    plain = top_k_route(logits, 3)
    noisy = top_k_route(logits, 3, noise=zero, noise_logits=logits, normalize="softmax_topk")

    np.testing.assert_array_equal(plain[0], noisy[0])
    np.testing.assert_allclose(noisy[1].sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(noisy[1], plain[1] / plain[1].sum(axis=1, keepdims=True), rtol=1e-6)


def test_noise_reorders_experts() -> None:
    """A large enough noise sample overturns the logits' order, as in Shazeer's gating."""
    logits = np.array([[1.0, 0.0]], dtype=np.float32)
    noise = np.array([[0.0, 2.0]], dtype=np.float32)
    noise_logits = np.array([[0.0, 0.0]], dtype=np.float32)  # softplus(0) = log 2
    chosen, weights, _ = top_k_route(
        logits, 1, noise=noise, noise_logits=noise_logits, normalize="softmax_topk"
    )

    assert ([[1]], [[1.0]]) == (chosen.tolist(), weights.tolist())


def test_k_equal_to_e_takes_every_expert_and_both_normalisations_agree() -> None:
    """``k = E``: every expert once, best first; over all experts the two softmaxes coincide."""
    logits = random_logits(20, 5)
    chosen, weights, kept = top_k_route(logits, 5)
    _, topk_weights, _ = top_k_route(logits, 5, normalize="softmax_topk")

    assert [[0, 1, 2, 3, 4]] * 20 == np.sort(chosen, axis=1).tolist()
    assert kept.all() and (np.diff(weights, axis=1) <= 0).all()
    np.testing.assert_allclose(weights, topk_weights, rtol=1e-6)


def test_experts_with_underflowing_probabilities_still_rank_by_score() -> None:
    """Ranking uses the scores, so float32 probabilities of 0 do not fall back to index order."""
    logits = np.array([[0.0, -200.0, -300.0, -150.0]], dtype=np.float32)
    chosen, weights, _ = top_k_route(logits, 4)

    assert [[0, 3, 1, 2]] == chosen.tolist()
    assert [[1.0, 0.0, 0.0, 0.0]] == weights.tolist()
    assert_same_route(logits, 4, None)


def test_switch_is_top_1_and_none_is_dropless() -> None:
    """``switch_route`` is top-1 at capacity factor 1.25; ``None`` keeps every assignment."""
    logits = np.tile(np.array([[2.0, 0.0, 0.0, 0.0]], dtype=np.float32), (16, 1))
    chosen, weights, kept = switch_route(logits)

    assert_same_triple((chosen, weights, kept), top_k_route(logits, 1, 1.25))
    assert math.ceil(1.25 * 16 / 4) == kept.sum()
    assert switch_route(logits, None)[2].all() and gshard_route(logits, None)[2].all()


@pytest.mark.parametrize("tokens", [0, 1, 13, 200])
@pytest.mark.parametrize("experts", [2, 8])
@pytest.mark.parametrize("capacity_factor", [None, 0.5, 2.0])
@pytest.mark.parametrize("sampled", [False, True])
def test_gshard_matches_reference(
    tokens: int, experts: int, capacity_factor, sampled: bool
) -> None:
    """GShard top-2: same pair, renormalised gates, second-choice samples and capacity drops."""
    logits = random_logits(tokens, experts, tokens + 1)
    uniform = np.random.default_rng(tokens).random(tokens, dtype=np.float32) if sampled else None
    got = gshard_route(logits, capacity_factor, uniform=uniform)

    assert_same_triple(got, gshard_route_reference(logits, capacity_factor, uniform))
    np.testing.assert_allclose(got[1].sum(axis=1), 1.0, rtol=1e-6)


def test_gshard_second_choice_is_kept_iff_uniform_below_twice_its_weight() -> None:
    """``w2 = 0.25``: samples under 0.5 keep the second expert; an unused one takes no capacity."""
    logits = np.tile(np.array([[math.log(3.0), 0.0, -50.0, -50.0]], dtype=np.float32), (4, 1))
    uniform = np.array([0.1, 0.7, 0.49, 0.5], dtype=np.float32)
    chosen, weights, kept = gshard_route(logits, None, uniform=uniform)

    np.testing.assert_allclose(weights, [[0.75, 0.25]] * 4, rtol=1e-6)
    assert [True, False, True, False] == kept[:, 1].tolist()
    _, _, capped = gshard_route(logits, 2.0, uniform=uniform)  # capacity ceil(2 * 4 / 4) = 2
    assert [[True, True], [True, False], [False, True], [False, False]] == capped.tolist()
    assert_same_triple((chosen, weights, kept), gshard_route_reference(logits, None, uniform))


@pytest.mark.parametrize("tokens", [0, 1, 13, 200])
@pytest.mark.parametrize("experts", [1, 4, 8])
@pytest.mark.parametrize("capacity_factor", [0.5, 1.0, 2.0, 100.0])
def test_expert_choice_matches_reference(tokens: int, experts: int, capacity_factor: float) -> None:
    """Expert choice: the same ``c`` tokens per expert, best first, and their probabilities."""
    logits = random_logits(tokens, experts, tokens + experts)
    got = expert_choice_route(logits, capacity_factor)
    want = expert_choice_route_reference(logits, capacity_factor)
    c = min(tokens, math.ceil(capacity_factor * tokens / experts))

    assert ((experts, c), np.int32, np.float32) == (got[0].shape, got[0].dtype, got[1].dtype)
    np.testing.assert_array_equal(want[0], got[0])
    np.testing.assert_array_equal(want[1], got[1])


def test_expert_choice_ties_go_to_the_lower_token_and_c_caps_at_t() -> None:
    """Identical tokens: every expert takes the first ones; ``c >= T`` takes every token once."""
    logits = np.zeros((5, 2), dtype=np.float32)
    assert [[0, 1, 2]] * 2 == expert_choice_route(logits, 1.0)[0].tolist()
    tokens, weights = expert_choice_route(random_logits(5, 2), 3.0)
    assert [[0, 1, 2, 3, 4]] * 2 == np.sort(tokens, axis=1).tolist()
    assert (np.diff(weights, axis=1) <= 0).all()


def test_expert_choice_balances_even_when_every_token_prefers_one_expert() -> None:
    """Token choice would overflow expert 0; expert choice gives every expert ``c`` tokens."""
    logits = np.tile(np.array([[5.0, 0.0, 0.0, 0.0]], dtype=np.float32), (8, 1))
    logits[:, 1:] += np.arange(8, dtype=np.float32)[:, None] / 100
    tokens, _ = expert_choice_route(logits, 1.0)

    assert [0, 1] == tokens[0].tolist()
    assert [[7, 6]] * 3 == tokens[1:].tolist()


@pytest.mark.parametrize("tokens", [0, 1, 13, 200])
@pytest.mark.parametrize(("experts", "k"), [(1, 1), (4, 1), (8, 2)])
@pytest.mark.parametrize("use_kept", [False, True])
def test_losses_match_reference(tokens: int, experts: int, k: int, use_kept: bool) -> None:
    """Load-balancing and z-loss values and gradients equal the references'."""
    logits = 4 * random_logits(tokens, experts, tokens + k)
    chosen, _, kept = top_k_route(logits, k, 1.0)
    kept = kept if use_kept else None
    loss, grad = load_balancing_loss(logits, chosen, kept, alpha=0.5)
    ref_loss, ref_grad = load_balancing_loss_reference(logits, chosen, kept, 0.5)
    z, z_grad = router_z_loss(logits)
    ref_z, ref_z_grad = router_z_loss_reference(logits)

    assert loss == pytest.approx(ref_loss, rel=1e-12, abs=1e-15)
    assert z == pytest.approx(ref_z, rel=1e-12)
    assert ((tokens, experts), (tokens, experts)) == (grad.shape, z_grad.shape)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(z_grad, ref_z_grad, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(("experts", "k"), [(1, 1), (2, 1), (2, 2), (4, 1), (4, 2), (8, 1), (8, 2)])
def test_uniform_routing_gives_exactly_alpha(experts: int, k: int) -> None:
    """Equal logits and round-robin choices: ``f_i = P_i = 1 / E``, so the loss is ``alpha``.

    Powers of two keep every sum exact, so the comparison is ``==``."""
    tokens = 4 * experts
    chosen = (np.arange(tokens)[:, None] + np.arange(k)[None, :]) % experts
    loss, grad = load_balancing_loss(
        np.zeros((tokens, experts), dtype=np.float32), chosen.astype(np.int32), alpha=0.01
    )

    assert 0.01 == loss
    assert not grad.any()


@pytest.mark.parametrize("tokens", [1, 7])
@pytest.mark.parametrize("experts", [1, 3, 8])
def test_z_loss_of_zero_logits_is_log_e_squared(tokens: int, experts: int) -> None:
    """``logsumexp(0, ..., 0) = log E`` for every token."""
    loss, _ = router_z_loss(np.zeros((tokens, experts), dtype=np.float32))

    assert loss == pytest.approx(math.log(experts) ** 2, rel=1e-15, abs=0.0)


def test_no_tokens_give_zero_losses() -> None:
    """``T = 0``: both means are over nothing, defined as 0."""
    logits = np.zeros((0, 4), dtype=np.float32)
    chosen = np.zeros((0, 2), dtype=np.int32)

    assert (0.0, (0, 4)) == (
        load_balancing_loss(logits, chosen)[0],
        load_balancing_loss(logits, chosen)[1].shape,
    )
    assert (0.0, (0, 4)) == (router_z_loss(logits)[0], router_z_loss(logits)[1].shape)


def test_reference_gradients_match_finite_differences() -> None:
    """Central differences in float64 confirm the closed-form gradients (``f`` held fixed)."""
    logits = np.random.default_rng(1).standard_normal((3, 4))
    chosen = np.array([[0, 1], [0, 2], [3, 0]])
    kept = np.array([[True, True], [True, False], [True, True]])
    losses = {
        "balance": lambda x: load_balancing_loss_reference(x, chosen, kept, 0.3),
        "z": router_z_loss_reference,
    }
    for name, loss in losses.items():
        numeric = np.zeros_like(logits)
        for index in np.ndindex(logits.shape):
            step = np.zeros_like(logits)
            step[index] = 1e-6
            numeric[index] = (loss(logits + step)[0] - loss(logits - step)[0]) / 2e-6
        np.testing.assert_allclose(loss(logits)[1], numeric, rtol=1e-5, atol=1e-8, err_msg=name)


LOGITS = np.zeros((2, 3), dtype=np.float32)
CHOSEN = np.zeros((2, 1), dtype=np.int32)
NAN = np.array([[0.0, np.nan, 0.0], [0.0, 0.0, 0.0]], dtype=np.float32)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: top_k_route(LOGITS, 4), r"k must be an int from 1 to E=3 \(got 4\)"),
        (
            lambda: top_k_route(LOGITS, 1, 0),
            r"capacity_factor must be a finite number > 0 or None \(got 0\)",
        ),
        (lambda: top_k_route(LOGITS, 1, math.inf), r"capacity_factor must be .* \(got inf\)"),
        (
            lambda: top_k_route(LOGITS.astype(np.float64), 1),
            r"logits must be a \(T, E\) float32 ndarray",
        ),
        (lambda: top_k_route(NAN, 1), r"logits holds NaN or infinite values"),
        (
            lambda: top_k_route(np.zeros((2, 0), np.float32), 1),
            r"logits must have at least one expert",
        ),
        (
            lambda: top_k_route(LOGITS, 1, normalize="softmax"),
            r"normalize must be 'softmax_all' or 'softmax_topk'",
        ),
        (
            lambda: top_k_route(LOGITS, 1, noise=LOGITS),
            r"noise and noise_logits must be given together",
        ),
        (
            lambda: top_k_route(LOGITS, 1, noise=LOGITS[:1], noise_logits=LOGITS),
            r"noise must have shape \(2, 3\), the shape of logits \(got \(1, 3\)\)",
        ),
        (lambda: top_k_route(LOGITS, 1, noise=LOGITS, noise_logits=NAN), r"noise_logits holds NaN"),
        (
            lambda: top_k_route(LOGITS, 1, noise=LOGITS + 1e30, noise_logits=LOGITS + 1e30),
            r"noise \* softplus\(noise_logits\) overflows float32",
        ),
        (lambda: gshard_route(LOGITS[:, :1]), r"logits must have at least 2 expert columns"),
        (
            lambda: gshard_route(LOGITS, uniform=np.ones(2, np.float32)),
            r"uniform must be a \(2,\) float32 ndarray",
        ),
        (
            lambda: expert_choice_route(LOGITS, None),
            r"capacity_factor must be a finite number > 0 \(got None\)",
        ),
        (
            lambda: load_balancing_loss(LOGITS, CHOSEN.astype(np.float32)),
            r"chosen must be a \(T, k\) integer",
        ),
        (lambda: load_balancing_loss(LOGITS, CHOSEN[:1]), r"chosen must have shape \(2, k\) \(got \(1, 1\)\)"),
        (
            lambda: load_balancing_loss(LOGITS, CHOSEN[:, :0]),
            r"chosen must hold at least one expert per token, k >= 1 \(got shape \(2, 0\)\)",
        ),
        (
            lambda: load_balancing_loss(LOGITS, CHOSEN + 3),
            r"chosen must hold expert indices in \[0, 3\)",
        ),
        (lambda: load_balancing_loss(LOGITS, CHOSEN, CHOSEN), r"kept must be a bool ndarray"),
        (
            lambda: load_balancing_loss(LOGITS, CHOSEN, alpha=-1.0),
            r"alpha must be a finite number >= 0",
        ),
        (lambda: router_z_loss(NAN), r"logits holds NaN"),
        (lambda: dispatch_plan(CHOSEN, CHOSEN == 0, 0), r"experts must be an int >= 1"),
        (
            lambda: dispatch_plan(CHOSEN, np.ones((2, 2), bool), 3),
            r"kept must have shape \(2, 1\), the shape of chosen \(got \(2, 2\)\)",
        ),
        (
            lambda: dispatch_plan(CHOSEN + 5, CHOSEN == 0, 3),
            r"chosen must hold expert indices in \[0, 3\) where kept",
        ),
    ],
)
def test_bad_arguments_are_named(call, message: str) -> None:
    """Bad inputs raise ``ValueError`` naming the argument, before any kernel runs."""
    with pytest.raises(ValueError, match=message):
        call()


def all_prefer_expert_0(tokens: int, experts: int) -> np.ndarray:
    """Logits under which every token ranks the experts 0, 1, 2, ... in that order."""
    return np.broadcast_to(-np.arange(experts, dtype=np.float32), (tokens, experts)).copy()


@pytest.mark.parametrize(
    ("tokens", "experts", "k", "capacity_factor", "capacity"),
    [
        (420, 42, 1, 1.1, 11),  # 1.1 * 420 / 42 is 11.000000000000002 in floats
        (420, 42, 1, np.float32(1.1), 11),  # the float32 nearest 1.1 is above it too
        (45, 6, 2, 2.2, 33),  # 2.2 * 90 / 6 is 33.00000000000001 in floats
        (10, 3, 1, 1, 4),  # an int factor: ceil(10 / 3)
    ],
)
def test_capacity_is_exact_on_the_factor_as_written(tokens, experts, k, capacity_factor, capacity) -> None:
    """``ceil(capacity_factor * k * T / E)`` in exact arithmetic on the factor's shortest decimal
    form: a float rounding up cannot add a slot. The reference follows the same rule."""
    logits = all_prefer_expert_0(tokens, experts)

    _, _, kept = top_k_route(logits, k, capacity_factor)

    assert capacity == kept[:, 0].sum()
    assert_same_route(logits, k, capacity_factor)


def test_gshard_and_expert_choice_capacities_are_exact() -> None:
    """GShard's per-token capacity and expert choice's ``c`` follow the same exact rule."""
    logits = all_prefer_expert_0(420, 42)

    _, _, kept = gshard_route(logits, 1.1)
    tokens, _ = expert_choice_route(logits, 1.1)

    assert 11 == kept[:, 0].sum()
    assert (42, 11) == tokens.shape


@pytest.mark.parametrize("capacity_factor", [1e308, 1e300, 2.0**1000])
def test_a_huge_capacity_factor_drops_nothing(capacity_factor) -> None:
    """A capacity of at least every assignment drops nothing: no float overflow on the way."""
    logits = all_prefer_expert_0(20, 4)

    _, _, kept = top_k_route(logits, 2, capacity_factor)
    _, _, gshard_kept = gshard_route(logits, capacity_factor)
    tokens, _ = expert_choice_route(logits, capacity_factor)

    assert kept.all() and gshard_kept.all()
    assert (4, 20) == tokens.shape
    assert_same_route(logits, 2, capacity_factor)


@pytest.mark.parametrize("k", [np.int64(2), np.int32(2), np.uint8(2)])
def test_numpy_integers_are_accepted_for_k(k) -> None:
    """``k`` read from an array or a config parsed by numpy is as good as an int."""
    logits = random_logits(9, 4)

    assert_same_triple(top_k_route(logits, k), top_k_route(logits, 2))


@pytest.mark.parametrize("k", [2.0, True, "2"])
def test_k_must_be_an_integer(k) -> None:
    with pytest.raises(ValueError) as error:
        top_k_route(random_logits(3, 4), k)

    assert f"k must be an int from 1 to E=4 (got {k!r})" == str(error.value)
