"""ExpertActor: its trees are views of the shared model, it joins its group, it answers both ways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from neural_actors.kernels.fff import ultrafast_infer
from neural_actors.runtime import Actor, Runtime, freeze

from neural_actors.experts import ExpertActor, ExpertDone, ExpertFailed, ExpertWork, expert_group
from neural_actors.fff_actor import GetStatistics
from neural_actors.inference import Infer
from neural_actors.model_store import model_store
from neural_actors.moe_model import MoEModel

E, D = 4, 6


@pytest.fixture(autouse=True)
def _model() -> Iterator[None]:
    rng = np.random.default_rng(0)
    model_store.put("moe", MoEModel(rng.standard_normal((D, E)), rng.standard_normal((E, 1, 7, D)),
                                    rng.standard_normal((E, 1, 7)), rng.standard_normal((E, 1, 7, 3)), k=2))
    yield
    model_store.clear()


class Inbox(Actor):
    """Keeps what it is cast."""

    def init(self) -> None:
        self.got: list[Any] = []

    def handle_cast(self, msg: Any) -> None:
        self.got.append(msg)

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return tuple(self.got)


@pytest.mark.asyncio
async def test_an_expert_answers_its_router_and_callers_with_its_trees() -> None:
    model = model_store.load("store:moe", MoEModel.load)
    x = freeze(np.random.default_rng(1).standard_normal((5, D), dtype=np.float32))
    async with Runtime(clock="virtual") as rt:
        inbox = await rt.start(Inbox)
        expert = await rt.start(ExpertActor, "store:moe", 2, kwargs={"layer": "mix"})
        rt.cast(expert, ExpertWork(7, 2, x, inbox))
        rt.cast(expert, ExpertWork(8, 2, freeze(np.zeros((2, D + 1), np.float32)), inbox))
        answered = await rt.call(expert, Infer(x))
        got = await rt.call(inbox, "got")
        stats = await rt.call(expert, GetStatistics())
        members = rt.members(expert_group("mix", 2))
        weights = (await rt.get_state(expert))["weights"]

    expected = ultrafast_infer(x, model.w_in[2], model.b_in[2], model.w_out[2])
    done, failed = sorted(got, key=lambda m: m.forward)
    assert (ExpertDone, 7, 2, expert) == (type(done), done.forward, done.expert, done.pid)
    # the expert runs on one numba thread; the FFF kernel's blocks follow the thread count
    np.testing.assert_allclose(done.y, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(done.y, answered.y)
    assert ExpertFailed(8, 2, expert, "a block must be (B, 6) (got (2, 7))") == failed
    assert [expert] == members
    assert ("mix", 2, model.expert_bytes()) == (stats.layer, stats.expert, stats.weight_bytes)
    assert weights.arrays[0].base is not None and np.shares_memory(weights.arrays[0], model.w_in)
