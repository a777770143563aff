"""MicroBatcher: a big batch runs off the event loop, and requests collect while it runs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest
from neural_actors.runtime import Actor, Caller, NoReply, Runtime, freeze

from neural_actors.batching import MicroBatcher, check_batching


class Doubler(Actor):
    """Doubles rows in batches; batches of 8 rows or more wait for ``gate`` on their thread."""

    def init(self, gate: threading.Event, calls: list[int]) -> None:
        def kernel(x: np.ndarray) -> np.ndarray:
            calls.append(len(x))
            if len(x) >= 8:
                gate.wait(timeout=10)
            return x * 2

        self.batcher = MicroBatcher(self, kernel, max_batch=64, max_wait=0.0, offload_from=8)

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if isinstance(msg, str):
            return self.batcher.statistics() if msg == "statistics" else "pong"
        self.batcher.add(caller, msg)
        return NoReply

    def handle_info(self, msg: Any) -> None:
        self.batcher.handle_info(msg)


@pytest.mark.asyncio
async def test_the_loop_serves_other_calls_while_a_big_batch_runs_on_its_thread() -> None:
    """While the big batch waits on its thread, the actor answers a ping and collects new
    requests; they run together as the next batch once the first is done."""
    gate, calls = threading.Event(), []
    async with Runtime(clock="virtual") as rt:
        pid = await rt.start(Doubler, gate, calls)
        big = asyncio.ensure_future(rt.call(pid, freeze(np.ones((8, 2), np.float32)), timeout=None))
        await asyncio.sleep(0)
        pong = await rt.call(pid, "ping")
        small = [asyncio.ensure_future(rt.call(pid, freeze(np.full((1, 2), i, np.float32)), timeout=None))
                 for i in range(3)]
        await asyncio.sleep(0)
        assert not big.done()
        gate.set()
        answers = await asyncio.gather(big, *small)
        stats = await rt.call(pid, "statistics")

    assert "pong" == pong
    assert [8, 3] == calls
    np.testing.assert_array_equal(np.full((8, 2), 2, np.float32), answers[0])
    assert [[[0, 0]], [[2, 2]], [[4, 4]]] == [a.tolist() for a in answers[1:]]
    assert (2, 1) == (stats.batches, stats.offloaded)


@pytest.mark.parametrize(("options", "message"), [
    ((0, 0.0, 1), "max_batch must be an int >= 1 (got 0)"),
    ((4, -1.0, 1), "max_wait must be finite seconds >= 0 (got -1.0)"),
    ((4, float("inf"), 1), "max_wait must be finite seconds >= 0 (got inf)"),
    ((4, 0.0, True), "offload_from must be an int >= 1 (got True)"),
])
def test_batching_options_are_checked(options, message) -> None:
    with pytest.raises(ValueError) as caught:
        check_batching(*options)

    assert message == str(caught.value)
