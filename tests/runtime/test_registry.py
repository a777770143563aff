"""Names and groups: unique names, conflicts, cleanup at exit, dispatch to members."""

import pytest
from neural_actors.runtime import NameTaken, NoProcess, Runtime

from .helpers import Get, Recorder


@pytest.mark.asyncio
async def test_name_resolves_and_is_released_at_exit(actor_runtime: Runtime) -> None:
    """A spawned name resolves to the pid until the process exits."""
    pid = actor_runtime.spawn(Recorder, name="db")

    assert pid == actor_runtime.whereis("db")
    await actor_runtime.stop(pid)
    assert actor_runtime.whereis("db") is None


@pytest.mark.asyncio
async def test_conflicting_name_raises_name_taken(actor_runtime: Runtime) -> None:
    """A second process cannot take a live name; the error names the holder."""
    holder = actor_runtime.spawn(Recorder, name="db")

    with pytest.raises(NameTaken) as info:
        actor_runtime.spawn(Recorder, name="db")

    assert ("db", holder) == (info.value.name, info.value.holder)
    assert "name 'db' is already registered to <0.0.1>" == str(info.value)
    assert [holder] == actor_runtime.processes()


@pytest.mark.asyncio
async def test_register_and_unregister(actor_runtime: Runtime) -> None:
    """``register`` names a live pid; ``unregister`` frees the name; dead pids cannot register."""
    pid = actor_runtime.spawn(Recorder)
    actor_runtime.register("x", pid)
    actor_runtime.unregister("x")
    await actor_runtime.stop(pid)

    assert actor_runtime.whereis("x") is None
    with pytest.raises(NoProcess):
        actor_runtime.register("x", pid)


@pytest.mark.asyncio
async def test_cast_to_unknown_name_raises(actor_runtime: Runtime) -> None:
    """Casting to a name nobody holds raises ``NoProcess``."""
    with pytest.raises(NoProcess, match="no process is registered as 'ghost'"):
        actor_runtime.cast("ghost", 1)


@pytest.mark.asyncio
async def test_groups_dispatch_to_every_live_member(actor_runtime: Runtime) -> None:
    """``dispatch`` casts to all members; members that exit leave the group."""
    pids = [actor_runtime.spawn(Recorder) for _ in range(3)]
    for pid in pids:
        actor_runtime.join("shard", pid)
    await actor_runtime.stop(pids[1])

    assert (pids[0], pids[2]) == actor_runtime.dispatch("shard", "hello").delivered
    assert [pids[0], pids[2]] == actor_runtime.members("shard")
    assert ("hello",) == await actor_runtime.call(pids[2], Get())
    actor_runtime.leave("shard", pids[0])
    assert [pids[2]] == actor_runtime.members("shard")
