"""Targets: processes chosen by name, glob, group, supervisor subtree, actor class, and a seeded
random pick among them; links on a message's route."""

import pytest
from neural_actors.faults import Link, Target
from neural_actors.supervisors import start_tree
from neural_actors.faults.targets import route_links
from neural_actors.runtime import Mesh, Runtime
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags

from .helpers import Echo, Silent


async def tree(rt: Runtime) -> dict:
    """root -> (a, b, pool -> (c, d)); c and d in group "g"; plus a lone Silent "e"."""
    pool = (
        ChildSpec(id="c", start=(Echo, ("g",)), name="c"),
        ChildSpec(id="d", start=(Echo, ("g",)), name="d"),
    )
    children = (
        ChildSpec(id="a", start=(Echo, ()), name="a"),
        ChildSpec(id="b", start=(Echo, ()), name="b"),
        ChildSpec(id="pool", start=(Supervisor, (SupervisorFlags(), pool)), type="supervisor", name="pool"),
    )
    await start_tree(rt, ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(), children)), name="root"))
    await rt.start(Silent, name="e")
    return {name: rt.whereis(name) for name in "abcde"} | {"root": rt.whereis("root"), "pool": rt.whereis("pool")}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (Target(name="b"), ["b"]),
        (Target(glob="[a-c]"), ["a", "b", "c"]),
        (Target(group="g"), ["c", "d"]),
        (Target(subtree="root"), ["a", "b", "pool", "c", "d"]),
        (Target(subtree="pool"), ["c", "d"]),
        (Target(actor="Sil*"), ["e"]),
        (Target(type="supervisor"), ["root", "pool"]),
        (Target(type="worker", subtree="root"), ["a", "b", "c", "d"]),
        (Target(actor="Echo", subtree="root", glob="*[bc]"), ["b", "c"]),
        (Target(), ["root", "a", "b", "pool", "c", "d", "e"]),
        (Target(name="nobody"), []),
        (Target(subtree="nobody"), []),
    ],
    ids=str,
)
@pytest.mark.asyncio
async def test_every_filter_given_must_match(actor_runtime: Runtime, target: Target, expected: list) -> None:
    """Candidates are the live processes every filter matches, in start order."""
    pids = await tree(actor_runtime)
    names = {pid: name for name, pid in pids.items()}

    assert expected == [names[pid] for pid in target.candidates(actor_runtime)]


@pytest.mark.asyncio
async def test_a_subtree_can_be_named_by_the_supervisor_s_pid(actor_runtime: Runtime) -> None:
    """``subtree`` takes a pid as well as a name."""
    pids = await tree(actor_runtime)

    assert [pids["c"], pids["d"]] == Target(subtree=pids["pool"]).candidates(actor_runtime)


def test_route_links_follow_the_mesh_s_dimension_ordered_route() -> None:
    """On a 4x4 mesh, core 0 to core 5 goes +x then +y: the links out of (0,0) and (1,0)."""
    mesh = Mesh.preset("mesh:4x4")

    assert {(0, 0, 0, "+x", 0), (0, 1, 0, "+y", 0)} == set(route_links(mesh, 0, 5))
    assert frozenset() == route_links(mesh, 3, 3)
    assert (0, 1, 0, "+y", 0) == Link(0, 1, 0, "+y").key()

