"""MoERouter over ExpertActors: equal to moe_forward, and answering through failed and late experts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numba
import numpy as np
import pytest
from neural_actors.kernels.moe import top_k_route
from neural_actors.kernels.moe_dispatch import router_logits
from neural_actors.runtime import Runtime, StartFailed, freeze, message
from neural_actors.supervisors import which_children

from neural_actors.errors import ExpertsUnavailable
from neural_actors.experts import ExpertActor, ExpertDone, ExpertWork, expert_group
from neural_actors.fff_actor import GetStatistics
from neural_actors.inference import Infer, Inferred
from neural_actors.model_store import model_store
from neural_actors.moe_layer import MoELayer
from neural_actors.moe_model import MoEModel
from neural_actors.moe_router import MoERouter

E, K, NODES, D = 8, 2, 15, 12


@pytest.fixture(autouse=True)
def _one_thread_and_an_empty_store() -> Iterator[None]:
    """Experts run small blocks on one numba thread, and the FFF kernel's blocks follow the
    thread count: moe_forward is compared on one thread too."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    model_store.clear()
    yield
    model_store.clear()
    numba.set_num_threads(threads)


def model(d_out: int = 5, k: int = 2, seed: int = 0) -> MoEModel:
    rng = np.random.default_rng(seed)
    return model_store.put("moe", MoEModel(
        rng.standard_normal((D, E)), rng.standard_normal((E, K, NODES, D)) / 4, rng.standard_normal((E, K, NODES)),
        rng.standard_normal((E, K, NODES, d_out)), k=k,
    ))


def rows(count: int, seed: int = 0) -> np.ndarray:
    return freeze(np.random.default_rng(seed + 7).standard_normal((count, D), dtype=np.float32))


async def start(rt: Runtime, experts: range | list[int] = range(E), **router: Any) -> Any:
    for e in experts:
        await rt.start(ExpertActor, "store:moe", e)
    return await rt.start(MoERouter, "store:moe", kwargs=router)


@pytest.mark.asyncio
@pytest.mark.parametrize("count", [1, 9, 64, 300])
async def test_with_every_expert_answering_the_router_equals_moe_forward_exactly(count) -> None:
    m = model()
    x = rows(count, seed=count)
    async with Runtime(clock="virtual") as rt:
        router = await start(rt)
        answer = await rt.call(router, Infer(x))

    assert () == answer.degraded
    np.testing.assert_array_equal(m.forward(x), answer.y)


@pytest.mark.asyncio
async def test_concurrent_requests_are_one_forward_and_each_gets_its_rows() -> None:
    """Requests in the mailbox together are routed together: each answer is its rows of
    moe_forward on all of them."""
    m = model()
    requests = [rows(n, seed=n) for n in (3, 10, 1)]
    async with Runtime(clock="virtual") as rt:
        router = await start(rt)
        answers = await asyncio.gather(*(rt.call(router, Infer(x)) for x in requests))
        stats = await rt.call(router, GetStatistics())

    expected = m.forward(np.concatenate(requests))
    np.testing.assert_array_equal(expected, np.concatenate([a.y for a in answers]))
    assert (3, 14) == (stats.requests, stats.tokens)


@pytest.mark.asyncio
async def test_capacity_routing_equals_moe_forward_with_the_same_capacity() -> None:
    m = model(d_out=D)
    x = rows(40)
    async with Runtime(clock="virtual") as rt:
        router = await start(rt, capacity_factor=0.5, dropped="residual")
        answer = await rt.call(router, Infer(x))

    np.testing.assert_array_equal(m.forward(x, capacity_factor=0.5, dropped="residual"), answer.y)


@pytest.mark.asyncio
@pytest.mark.parametrize("dead", [[3], [0, 5], [1, 2, 6]])
async def test_dead_experts_are_masked_as_moe_forward_masks_them(dead) -> None:
    """With experts that never answer, survivors' weights are renormalised: exactly moe_forward
    with those experts unavailable; tokens left with none get zeros, never NaN."""
    m = model()
    x = rows(200)
    unavailable = np.isin(np.arange(E), dead)
    async with Runtime(clock="virtual") as rt:
        router = await start(rt, [e for e in range(E) if e not in dead], fallback="zeros")
        answer = await rt.call(router, Infer(x))

    np.testing.assert_array_equal(m.forward(x, unavailable=unavailable), answer.y)
    assert tuple(dead) == answer.degraded
    assert np.isfinite(answer.y).all()


@pytest.mark.asyncio
async def test_k_min_is_counted_per_token_and_a_short_request_names_the_missing_experts() -> None:
    """One token's two experts are dead while every other token keeps one: the request has more
    answers than tokens, yet that token has none, so it fails naming its experts."""
    m = model()
    x = rows(50)
    chosen, _, _ = top_k_route(router_logits(x, m.router_w), K)
    lonely = next(t for t in range(len(x)) if (np.isin(chosen, chosen[t]).all(axis=1).sum() == 1))
    dead = [int(e) for e in chosen[lonely]]
    async with Runtime(clock="virtual") as rt:
        router = await start(rt, [e for e in range(E) if e not in dead], k_min=1)
        with pytest.raises(ExpertsUnavailable) as caught:
            await rt.call(router, Infer(x))
        alone = await rt.call(router, Infer(freeze(np.delete(x, lonely, axis=0))))

    first, second = sorted(dead)
    assert (f"moe: 1 token(s) got fewer than k_min = 1 expert answers; experts {first}, {second} failed or did "
            "not answer in time") == str(caught.value)
    assert (tuple(sorted(dead)), 1) == (caught.value.missing, caught.value.tokens)
    assert set(alone.degraded) <= set(dead)


@pytest.mark.asyncio
@pytest.mark.parametrize("fallback", ["residual", "zeros"])
async def test_tokens_short_of_k_min_fall_back_as_configured(fallback) -> None:
    m = model(d_out=D)
    x = rows(60)
    chosen, _, _ = top_k_route(router_logits(x, m.router_w), K)
    dead = [int(chosen[0, 0])]
    short = np.isin(chosen, dead).any(axis=1)  # k_min = 2: a token needs both of its experts
    async with Runtime(clock="virtual") as rt:
        router = await start(rt, [e for e in range(E) if e not in dead], k_min=2, fallback=fallback)
        answer = await rt.call(router, Infer(x))

    expected = x[short] if fallback == "residual" else np.zeros_like(x[short])
    np.testing.assert_array_equal(expected, answer.y[short])
    np.testing.assert_array_equal(m.forward(x)[~short], answer.y[~short])


@message
class _Later:
    work: ExpertWork


class SlowExpert(ExpertActor):
    """An expert whose every block answers ``delay`` seconds late."""

    def init(self, source: str, expert: int, delay: float) -> None:  # type: ignore[override]
        super().init(source, expert)
        self.delay = delay

    def handle_cast(self, msg: Any) -> None:
        self.send_after(self.delay, self.pid, _Later(msg))

    def handle_info(self, msg: Any) -> None:
        if type(msg) is _Later:
            super().handle_cast(msg.work)
        else:
            super().handle_info(msg)


@pytest.mark.asyncio
async def test_after_k_min_the_router_waits_timeout_after_k_min_then_masks_the_late_expert() -> None:
    """Every token has k_min = 1 answer at once; the slow expert is waited for 10 ms, then
    masked, and its answer, arriving later, is discarded."""
    m = model()
    x = rows(100)
    chosen, _, _ = top_k_route(router_logits(x, m.router_w), K)
    slow = int(chosen[0, 0])
    async with Runtime(clock="virtual") as rt:
        await rt.start(SlowExpert, "store:moe", slow, 1.0)
        router = await start(rt, [e for e in range(E) if e != slow], timeout_after_k_min=0.01, forward_timeout=5.0)
        begin = rt.now()
        answer = await rt.call(router, Infer(x))
        took = rt.now() - begin
        await asyncio.sleep(2.0)
        stats = await rt.call(router, GetStatistics())

    assert 0.01 == pytest.approx(took)
    assert (slow,) == answer.degraded
    np.testing.assert_array_equal(m.forward(x, unavailable=np.arange(E) == slow), answer.y)
    assert (1, 1) == (stats.late_replies, stats.blocks_failed)


@pytest.mark.asyncio
async def test_an_answer_from_the_incarnation_that_died_is_discarded() -> None:
    """The slow expert dies holding its block; while the router waits for a replica, an answer
    in the dead pid's name comes: it is discarded, and the block's answer is the new
    incarnation's."""
    m = model()
    x = rows(60)
    chosen, _, _ = top_k_route(router_logits(x, m.router_w), K)
    e = int(chosen[0, 0])
    block = int((chosen == e).sum())
    async with Runtime(clock="virtual") as rt:
        old = await rt.start(SlowExpert, "store:moe", e, 10.0)
        router = await start(rt, [i for i in range(E) if i != e])
        pending = asyncio.ensure_future(rt.call(router, Infer(x), timeout=None))
        await asyncio.sleep(0.0001)
        rt.exit(old, "kill")
        await rt.wait_exit(old)
        rt.cast(router, ExpertDone(0, e, old, freeze(np.full((block, m.d_out), 99.0, np.float32))))
        await rt.start(ExpertActor, "store:moe", e)
        answer = await pending
        stats = await rt.call(router, GetStatistics())

    assert ((), 1, 1) == (answer.degraded, stats.late_replies, stats.retries)
    np.testing.assert_array_equal(m.forward(x), answer.y)


@pytest.mark.asyncio
async def test_a_silent_expert_ends_the_forward_at_forward_timeout() -> None:
    """With no timeout_after_k_min, the router waits for the slow expert until forward_timeout."""
    model()
    async with Runtime(clock="virtual") as rt:
        for e in range(E):
            await rt.start(SlowExpert, "store:moe", e, 60.0)
        router = await rt.start(MoERouter, "store:moe", kwargs={"forward_timeout": 0.5})
        begin = rt.now()
        with pytest.raises(ExpertsUnavailable) as caught:
            await rt.call(router, Infer(rows(4)), timeout=None)
        took = rt.now() - begin

    assert 0.5 == pytest.approx(took)
    assert 4 == caught.value.tokens


@pytest.mark.asyncio
async def test_with_no_expert_alive_a_request_fails_at_once() -> None:
    model()
    async with Runtime(clock="virtual") as rt:
        router = await start(rt, [], retry=False)
        with pytest.raises(ExpertsUnavailable) as caught:
            await rt.call(router, Infer(rows(3)))
        took = rt.now()

    assert 0.0 == took
    assert 3 == caught.value.tokens


@pytest.mark.asyncio
async def test_experts_killed_mid_request_end_every_request_in_time_without_nan() -> None:
    """A stream of concurrent requests while experts are killed over and over (and restarted
    by their supervisor): every request ends within forward_timeout with an answer or a clear
    error; answers are finite and, where no expert was lost, moe_forward's."""
    m = model()
    requests = [rows(16, seed=i) for i in range(200)]
    outcomes: dict[int, tuple[float, Any]] = {}
    async with Runtime(clock="virtual", seed=3) as rt:
        await rt.start(MoELayer, "store:moe", kwargs={"layer": "moe", "router": {"forward_timeout": 0.05}})

        async def client(i: int) -> None:
            await asyncio.sleep(i * 0.001)
            begin = rt.now()
            try:
                result: Any = await rt.call("moe", Infer(requests[i]), timeout=None)
            except ExpertsUnavailable as error:
                result = error
            outcomes[i] = (rt.now() - begin, result)

        async def chaos() -> int:
            rng = np.random.default_rng(0)
            kills = 0
            for _ in range(60):
                await asyncio.sleep(0.003)
                victims = rt.members(expert_group("moe", int(rng.integers(E))))
                if victims:
                    rt.exit(victims[0], "kill")
                    kills += 1
            return kills

        kills, *_ = await asyncio.gather(chaos(), *(client(i) for i in range(len(requests))))
        stats = await rt.call("moe", GetStatistics())

    assert len(requests) == len(outcomes)
    assert kills > 50 and stats.retries > 0
    assert all(took <= 0.05 for took, _ in outcomes.values())
    for i, (_, result) in outcomes.items():
        assert type(result) in (Inferred, ExpertsUnavailable)
        if type(result) is Inferred:
            assert np.isfinite(result.y).all()
            if not result.degraded:  # batched with other requests: the same up to summation order
                np.testing.assert_allclose(result.y, m.forward(requests[i]), rtol=1e-5, atol=1e-5)


@pytest.mark.asyncio
async def test_a_restarted_expert_takes_blocks_again() -> None:
    """After a kill and a restart, the new incarnation is in the expert's group and answers."""
    m = model()
    x = rows(80)
    async with Runtime(clock="virtual") as rt:
        await rt.start(MoELayer, "store:moe", kwargs={"layer": "moe"})
        (old,) = rt.members(expert_group("moe", 0))
        rt.exit(old, "kill")
        await rt.wait_exit(old)
        await asyncio.sleep(0.001)
        (new,) = rt.members(expert_group("moe", 0))
        answer = await rt.call("moe", Infer(x))
        stats = await rt.call(new, GetStatistics())

    assert new != old
    assert () == answer.degraded
    assert 1 == stats.batching.requests
    np.testing.assert_array_equal(m.forward(x), answer.y)


@pytest.mark.asyncio
@pytest.mark.parametrize(("options", "message"), [
    ({"k_min": 3}, "k_min must be an int in [1, k_best = 2] (got 3)"),
    ({"k_best": 9}, "k_best must be an int in [1, E = 8] (got 9)"),
    ({"fallback": "skip"}, "fallback must be one of error, residual, zeros (got 'skip')"),
    ({"fallback": "residual"}, "residual needs d_out == d = 12 (this model's d_out is 5)"),
    ({"forward_timeout": -1}, "forward_timeout must be finite seconds >= 0 (got -1)"),
])
async def test_bad_router_options_fail_its_start_naming_them(options, message) -> None:
    model()
    async with Runtime(clock="virtual") as rt:
        with pytest.raises(StartFailed) as failed:
            await rt.start(MoERouter, "store:moe", kwargs=options)

    assert message == str(failed.value.reason)
