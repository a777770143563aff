"""FFFActor: answers equal the kernels', requests are micro-batched, restarts reload weights."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from neural_actors.runtime import ActorExited, Runtime, StartFailed, freeze
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags, which_children

from neural_actors.fff_actor import FFFActor, GetStatistics
from neural_actors.fff_model import FFFLeafWeights
from neural_actors.fff_weights import FFFWeights
from neural_actors.inference import Infer, Inferred
from neural_actors.model_store import model_store

D_IN, D_OUT = 16, 4


@pytest.fixture(autouse=True)
def _empty_store() -> Iterator[None]:
    model_store.clear()
    yield
    model_store.clear()


def leaf(seed: int = 0) -> FFFWeights:
    return FFFWeights.from_leaf(FFFLeafWeights.init(D_IN, D_OUT, 3, 8, seed))


def trees(seed: int = 0) -> FFFWeights:
    rng = np.random.default_rng(seed)
    return FFFWeights("trees", (rng.standard_normal((2, 15, D_IN), dtype=np.float32),
                                rng.standard_normal((2, 15), dtype=np.float32),
                                rng.standard_normal((2, 15, D_OUT), dtype=np.float32)))


def rows(count: int, seed: int = 0) -> np.ndarray:
    return freeze(np.random.default_rng(seed + 10).standard_normal((count, D_IN), dtype=np.float32))


@pytest.mark.asyncio
@pytest.mark.parametrize("model", [leaf, trees])
async def test_every_caller_gets_the_kernels_answer_for_its_own_rows(model) -> None:
    """Concurrent requests share kernel calls; each answer is the model's on that request's rows."""
    weights = model_store.put("fff", model())
    requests = [rows(n, seed=n) for n in (1, 3, 8, 40, 2)]
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(FFFActor, "store:fff", kwargs={"max_batch": 32})
        answers = await asyncio.gather(*(rt.call(pid, Infer(x)) for x in requests))

    for x, answer in zip(requests, answers, strict=True):
        assert type(answer) is Inferred and answer.degraded == ()
        assert not answer.y.flags.writeable
        # a batch of trees may add a dot product in another order than the request alone
        np.testing.assert_allclose(answer.y, weights.infer(x), rtol=1e-6, atol=1e-6)


@pytest.mark.asyncio
async def test_concurrent_requests_share_kernel_calls_up_to_max_batch() -> None:
    """Ten requests of 3 rows at once, max_batch 16: two batches of 5 requests, 15 rows each."""
    model_store.put("fff", leaf())
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(FFFActor, "store:fff", kwargs={"max_batch": 16, "max_wait": 0.001})
        await asyncio.gather(*(rt.call(pid, Infer(rows(3, i))) for i in range(10)))
        stats = (await rt.call(pid, GetStatistics())).batching

    assert (10, 30, 2, 15, 0) == (stats.requests, stats.rows, stats.batches, stats.largest, stats.waiting)


@pytest.mark.asyncio
async def test_a_lone_request_waits_max_wait_for_company() -> None:
    """With max_wait, the first request of a batch is answered max_wait seconds later; one that
    fills the batch is answered at once."""
    model_store.put("fff", leaf())
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(FFFActor, "store:fff", kwargs={"max_batch": 4, "max_wait": 0.25})
        start = rt.now()
        await rt.call(pid, Infer(rows(1)))
        waited = rt.now() - start
        start = rt.now()
        await rt.call(pid, Infer(rows(4)))
        full = rt.now() - start

    assert (0.25, 0.0) == (pytest.approx(waited), full)


@pytest.mark.asyncio
async def test_a_big_batch_runs_on_a_worker_thread() -> None:
    model_store.put("fff", leaf())
    x = rows(300)
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(FFFActor, "store:fff", kwargs={"offload_from": 256, "max_batch": 512})
        answer = await rt.call(pid, Infer(x))
        stats = (await rt.call(pid, GetStatistics())).batching

    np.testing.assert_array_equal(leaf().infer(x), answer.y)
    assert (1, 1) == (stats.batches, stats.offloaded)


@pytest.mark.asyncio
async def test_a_bad_request_fails_its_caller_only() -> None:
    """A wrong width is refused at once; a NaN row fails its own request, not the others it
    was batched with; the actor keeps serving."""
    model_store.put("fff", leaf())
    poisoned = np.array(rows(2))
    poisoned[1, 3] = np.nan
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(FFFActor, "store:fff")
        with pytest.raises(ValueError) as wrong:
            await rt.call(pid, Infer(freeze(np.zeros((2, 3), np.float32))))
        results = await asyncio.gather(rt.call(pid, Infer(rows(2, 1))), rt.call(pid, Infer(freeze(poisoned))),
                                       rt.call(pid, Infer(rows(2, 2))), return_exceptions=True)
        with pytest.raises(TypeError) as unknown:
            await rt.call(pid, "hello")
        alive = rt.is_alive(pid)

    assert "Infer.x must be a (B, 16) float32 array with B >= 1 (got shape (2, 3))" == str(wrong.value)
    assert [Inferred, ValueError, Inferred] == [type(r) for r in results]
    assert "x holds NaN or infinite values" == str(results[1])
    assert "FFFActor answers Infer and GetStatistics (got str)" == str(unknown.value)
    assert alive


@pytest.mark.asyncio
async def test_a_restarted_actor_reloads_its_weights_from_its_file(tmp_path) -> None:
    """The spec keeps the path: a new file at that path is what the next incarnation serves."""
    path = tmp_path / "fff.npz"
    FFFLeafWeights.init(D_IN, D_OUT, 3, 8, 1).save(path)
    x = rows(5)
    spec = ChildSpec(id="fff", start=(FFFActor, (str(path),)), name="fff")
    async with Runtime(clock="virtual") as rt:
        sup = await rt.start(Supervisor, SupervisorFlags(intensity=3), [spec])
        before = await rt.call("fff", Infer(x))
        FFFLeafWeights.init(D_IN, D_OUT, 3, 8, 2).save(path)
        (_, first, _), = await which_children(rt, sup)
        rt.exit(first, "kill")
        await rt.wait_exit(first)
        (_, second, _), = await which_children(rt, sup)
        after = await rt.call(second, Infer(x))

    assert first != second
    np.testing.assert_array_equal(FFFLeafWeights.init(D_IN, D_OUT, 3, 8, 1).hard(x), before.y)
    np.testing.assert_array_equal(FFFLeafWeights.init(D_IN, D_OUT, 3, 8, 2).hard(x), after.y)


@pytest.mark.asyncio
async def test_replicas_on_one_host_share_one_read_only_copy(tmp_path) -> None:
    path = tmp_path / "fff.npz"
    FFFLeafWeights.init(D_IN, D_OUT, 3, 8, 1).save(path)
    async with Runtime(clock="virtual") as rt:
        a = await rt.start(FFFActor, str(path))
        b = await rt.start(FFFActor, str(path))
        model_a = (await rt.get_state(a))["model"]
        model_b = (await rt.get_state(b))["model"]

    assert model_a is model_b
    assert not any(array.flags.writeable for array in model_a.arrays)


@pytest.mark.asyncio
async def test_an_unknown_source_fails_the_start_naming_it() -> None:
    async with Runtime(clock="virtual") as rt:
        with pytest.raises(StartFailed) as failed:
            await rt.start(FFFActor, "store:nobody")

    assert "model 'store:nobody': no model is stored under 'nobody' (stored: none)" == str(failed.value.reason)


@pytest.mark.asyncio
async def test_callers_waiting_in_a_batch_fail_at_once_when_the_actor_dies() -> None:
    """A request held for its batch is not lost silently: the kill fails its caller."""
    model_store.put("fff", leaf())
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(FFFActor, "store:fff", kwargs={"max_wait": 10.0})
        pending = asyncio.ensure_future(rt.call(pid, Infer(rows(1)), timeout=None))
        await asyncio.sleep(1.0)
        rt.exit(pid, "kill")
        with pytest.raises(ActorExited) as exited:
            await pending

    assert "killed" == exited.value.reason
