"""MoELayer: the supervised mixture, its placement on the mesh, and its accuracy with experts dead."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numba
import numpy as np
import pytest
from neural_actors.runtime import Runtime, freeze
from neural_actors.supervisors import terminate_child, which_children

from neural_actors.inference import Infer
from neural_actors.model_store import load_model
from neural_actors.moe_layer import MoELayer, expert_name, pool_name
from neural_actors.moe_model import MoEModel
from neural_actors.train_moe import accuracy

SOURCE = "shipped:moe_digits.npz"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Experts run on one numba thread; the FFF kernel's blocks follow the thread count."""
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)


@pytest.mark.asyncio
async def test_the_layer_starts_experts_pool_and_router_under_their_names() -> None:
    async with Runtime(clock="virtual") as rt:
        layer = await rt.start(MoELayer, SOURCE, kwargs={"layer": "digits", "mitosis": {}})
        ids = [child_id for child_id, _, _ in await which_children(rt, layer)]
        names = [rt.whereis(name) is not None for name in ("digits", pool_name("digits"),
                                                            *(expert_name("digits", e) for e in range(16)))]

    assert ["experts", "replicas", "router", "mitosis"] == ids
    assert all(names)


@pytest.mark.asyncio
async def test_experts_declare_their_weight_bytes_and_the_router_lands_by_its_traffic() -> None:
    """On the Wormhole mesh with pack placement, cores lose the experts' bytes; with
    comm_aware, the router goes where the traffic to the experts costs least."""
    model = load_model(SOURCE, MoEModel.load)
    async with Runtime(clock="virtual", mesh="wormhole", placement="pack") as rt:
        await rt.start(MoELayer, SOURCE)
        used = sum(rt.mesh.sram_bytes - rt.placement.free_bytes(c) for c in range(rt.mesh.core_count))
    assert 16 * model.expert_bytes() == used
    async with Runtime(clock="virtual", mesh="wormhole", placement="comm_aware") as rt:
        await rt.start(MoELayer, SOURCE, kwargs={"layer": "digits"})
        router = rt.whereis("digits")
        experts = [rt.whereis(expert_name("digits", e)).core for e in range(16)]
        traffic = dict(rt.placement.traffic)

    def cost(core: int) -> int:
        return sum(rt.mesh.core_hops(core, e) for e in experts)

    assert 16 == len(traffic) and all(w == pytest.approx(4 / 16) for w in traffic.values())
    assert cost(router.core) == min(cost(c) for c in range(rt.mesh.core_count))


@pytest.mark.asyncio
@pytest.mark.parametrize("dead", [(), (3, 11), (0, 5, 9, 14)])
async def test_held_out_accuracy_through_the_actors_with_experts_dead(dead) -> None:
    """0, 2 and 4 of 16 experts stopped for good: the actors classify the held-out set exactly
    as moe_forward with those experts masked (rows left with no expert get zeros and count
    wrong), within the bounds test_moe_model states."""
    model = load_model(SOURCE, MoEModel.load)
    x, labels = model.held_out()
    unavailable = np.isin(np.arange(16), dead)
    async with Runtime(clock="virtual") as rt:
        layer = await rt.start(MoELayer, SOURCE, kwargs={"router": {"fallback": "zeros"}})
        (_, experts, _), *_ = await which_children(rt, layer)
        for e in dead:
            await terminate_child(rt, experts, f"expert-{e}")
        answers = await asyncio.gather(*(rt.call("moe", Infer(freeze(x[i:i + 24]))) for i in range(0, len(x), 24)))

    y = np.concatenate([a.y for a in answers])
    predicted = y.argmax(axis=1)
    alive = ~unavailable[np.argsort(-(x @ model.router_w), axis=1, kind="stable")[:, :4]].all(axis=1)
    served = float(((predicted == labels) & alive).mean())
    assert accuracy(model, x, labels, unavailable if dead else None) == served
    assert served >= 0.975 - 0.015
