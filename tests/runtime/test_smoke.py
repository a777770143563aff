"""The runtime starts, answers a call and stops on virtual time."""

import pytest

from neural_actors.runtime import Actor, Runtime, message


@message
class Ping:
    n: int


class Echo(Actor):
    def handle_call(self, msg, caller):
        return msg.n + 1


@pytest.mark.asyncio
async def test_call_round_trip(actor_runtime: Runtime) -> None:
    """A call to a live actor returns its handler's result."""
    pid = actor_runtime.spawn(Echo)

    assert 2 == await actor_runtime.call(pid, Ping(1))
