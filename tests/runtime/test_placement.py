"""Placement of processes on mesh cores: strategies, SRAM, pins, failed cores, comm_aware."""

import pytest
from neural_actors.runtime import Actor, Mesh, PlacementError, Runtime, plan_comm_aware, traffic_cost
from neural_actors.runtime.placement import Placement


class Weights(Actor):
    """An actor declaring its weight bytes."""

    memory_bytes = 600_000


def test_round_robin_walks_the_live_cores_in_order() -> None:
    placement = Placement(Mesh.preset("mesh:2x2"))

    assert [0, 1, 2, 3, 0] == [placement.place() for _ in range(5)]


def test_spread_picks_the_least_loaded_core() -> None:
    placement = Placement(Mesh.preset("mesh:2x2"), "spread")
    placement.place(requested=0)
    placement.place(requested=0)
    placement.place(requested=1)

    assert [2, 3, 1] == [placement.place() for _ in range(3)]


def test_pack_fills_each_core_before_the_next_and_names_what_does_not_fit() -> None:
    """Two 600 kB processes fit in one core's 1,499,136 bytes; a third goes to the next core."""
    placement = Placement(Mesh.preset("mesh:2x1"), "pack")

    assert [0, 0, 1, 1] == [placement.place(600_000) for _ in range(4)]
    with pytest.raises(PlacementError, match=r"no live core has 600,000 bytes free for 'big' \(largest free: 299,136 bytes"):
        placement.place(600_000, name="big")


def test_a_requested_core_is_used_unless_it_failed_or_is_full() -> None:
    placement = Placement(Mesh.preset("mesh:2x2"))
    placement.fail(3)

    assert 2 == placement.place(requested=2)
    assert 3 != placement.place(requested=3)
    with pytest.raises(ValueError, match="core 9 does not exist"):
        placement.place(requested=9)


def test_released_memory_is_free_again() -> None:
    placement = Placement(Mesh.preset("mesh:1x1"), "pack")
    core = placement.place(1_000_000)
    placement.release(core, 1_000_000)

    assert 1_499_136 == placement.free_bytes(0)


@pytest.mark.asyncio
async def test_spawn_reserves_the_actors_declared_memory_and_frees_it_on_exit() -> None:
    async with Runtime(clock="virtual", mesh="mesh:2x1", placement="pack") as rt:
        pids = [rt.spawn(Weights) for _ in range(4)]

        assert [0, 0, 1, 1] == [pid.core for pid in pids]
        await rt.stop(pids[0])
        assert 0 == rt.spawn(Weights).core


def test_comm_aware_puts_talkers_next_to_each_other() -> None:
    """A pipeline a->b->c->d placed comm_aware costs one hop per edge on an 8x8 mesh."""
    mesh = Mesh.preset("mesh:8x8")
    traffic = {("a", "b"): 10.0, ("b", "c"): 10.0, ("c", "d"): 10.0}

    where = plan_comm_aware(mesh, ["a", "b", "c", "d"], traffic)

    assert 30.0 == traffic_cost(mesh, where, traffic)
    assert 4 == len(set(where.values()))


def test_comm_aware_beats_round_robin_on_a_star() -> None:
    """A router exchanging with 16 experts: comm_aware keeps them within few hops."""
    mesh = Mesh.preset("mesh:8x8")
    names = ["router", *(f"e{i}" for i in range(16))]
    traffic = {("router", f"e{i}"): 1.0 for i in range(16)}
    spaced = {name: i * 3 for i, name in enumerate(names)}

    planned = traffic_cost(mesh, plan_comm_aware(mesh, names, traffic), traffic)

    assert planned < traffic_cost(mesh, spaced, traffic) / 2
