"""Load generators: closed-loop clients at a rate, counting ok, clear errors and hung calls."""

import asyncio

import pytest
from neural_actors.faults import FaultPlanError
from neural_actors.faults.load import Load, LoadGenerator, LoadStatistics
from neural_actors.runtime import Actor, Runtime

from .helpers import Echo, Ping, Silent


class Slow(Actor):
    """Answers after half a second (an async actor)."""

    async def handle_call(self, msg, caller):
        await asyncio.sleep(0.5)
        return msg


class Broken(Actor):
    def handle_call(self, msg, caller):
        raise KeyError("bug")


async def run_for(rt: Runtime, loads: list, seconds: float, seed: int = 0) -> LoadStatistics:
    generator = LoadGenerator(rt, loads, seed=seed)
    generator.start()
    await asyncio.sleep(seconds)
    return await generator.stop()


@pytest.mark.asyncio
async def test_clients_call_at_their_rate(actor_runtime: Runtime) -> None:
    """Two clients at 10 calls/s for 10 s make 200 calls, all answered."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    statistics = await run_for(rt, [Load("a", Ping(1), clients=2, rate=10)], 10)

    assert (200, (), (), 0) == (statistics.ok, statistics.failed, statistics.unexpected, statistics.hung)
    assert 200 == statistics.calls


@pytest.mark.asyncio
async def test_a_closed_loop_client_waits_for_each_reply(actor_runtime: Runtime) -> None:
    """At 10 calls/s against half-second replies a client makes 2 calls a second; latency 0.5 s."""
    rt = actor_runtime
    await rt.start(Slow, name="slow")
    statistics = await run_for(rt, [Load("slow", Ping(1), rate=10)], 10)

    assert 20 == statistics.ok
    assert (("p50", 0.5), ("p90", 0.5), ("p99", 0.5), ("max", 0.5)) == statistics.latency


@pytest.mark.asyncio
async def test_a_request_factory_gets_the_call_number(actor_runtime: Runtime) -> None:
    """A callable request is called with 0, 1, 2...: a one-field message class will do."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    await run_for(rt, [Load("a", Ping, rate=1)], 3.5)

    assert (("call", Ping(0)), ("call", Ping(1)), ("call", Ping(2))) == await rt.call("a", "seen")


@pytest.mark.asyncio
async def test_clear_errors_and_unexpected_ones_are_counted_apart(actor_runtime: Runtime) -> None:
    """A missing name is a clear error; a handler that raises kills its actor (``ActorExited`` for
    that call, ``NoProcess`` after); a timeout is clear too; a mutable request is the load's bug."""
    rt = actor_runtime
    await rt.start(Broken, name="broken")
    await rt.start(Silent, name="silent")
    await rt.start(Echo, name="a")
    statistics = await run_for(
        rt,
        [
            Load("nobody", Ping(1), rate=1),
            Load("broken", Ping(1), rate=1),
            Load("silent", Ping(1), rate=1, timeout=0.5),
            Load("a", lambda n: [n], rate=1),
        ],
        3,
    )

    assert 0 == statistics.ok
    assert (("ActorExited", 1), ("CallTimeout", 3), ("NoProcess", 5)) == statistics.failed
    assert (("TypeError", 3),) == statistics.unexpected
    assert 0 == statistics.hung


@pytest.mark.asyncio
async def test_a_call_that_never_ends_is_counted_hung(actor_runtime: Runtime) -> None:
    """A call without a timeout to an actor that never answers is hung when the load stops."""
    rt = actor_runtime
    await rt.start(Silent, name="silent")
    statistics = await run_for(rt, [Load("silent", Ping(1), timeout=None)], 2)

    assert (0, 1) == (statistics.calls - statistics.hung, statistics.hung)
    assert [] == rt.pending_calls()  # the hung caller was cancelled at stop


@pytest.mark.asyncio
async def test_a_group_load_spreads_over_the_members(actor_runtime: Runtime) -> None:
    """Calls to a group go to members chosen at random: each of three gets some."""
    rt = actor_runtime
    for _ in range(3):
        await rt.start(Echo, "pool")
    await run_for(rt, [Load("pool", Ping(1), group=True, rate=100)], 1)
    counts = [len(await rt.call(pid, "seen")) for pid in rt.members("pool")]

    assert 100 == sum(counts)
    assert all(counts)


@pytest.mark.asyncio
async def test_an_empty_group_is_a_clear_error(actor_runtime: Runtime) -> None:
    """No member to call: counted as ``NoProcess``."""
    statistics = await run_for(actor_runtime, [Load("nobody", Ping(1), group=True, rate=2)], 2)

    assert (("NoProcess", 4),) == statistics.failed


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"clients": 0}, "load.clients: expected an int >= 1 (got 0)"),
        ({"rate": 0}, "load.rate: expected calls per second per client, a finite number > 0 (got 0)"),
        ({"timeout": -1}, "load.timeout: expected finite seconds > 0 or None (got -1)"),
        ({"target": ["a"]}, "load.target: expected a hashable name (got ['a'])"),
        ({"target": None}, "load.target: expected a hashable name (got None)"),
    ],
)
def test_a_bad_load_is_refused_naming_the_field(options: dict, expected: str) -> None:
    with pytest.raises(FaultPlanError) as caught:
        Load(**({"target": "a"} | options))

    assert expected == str(caught.value)
