"""Timers on virtual time: ``send_after`` and ``cancel_timer``."""

import asyncio

import pytest
from neural_actors.runtime import Runtime

from .helpers import Get, Recorder


@pytest.mark.asyncio
async def test_send_after_delivers_at_the_virtual_time(actor_runtime: Runtime) -> None:
    """The message arrives after the delay, in ``handle_info``, even hours later."""
    pid = actor_runtime.spawn(Recorder)
    actor_runtime.send_after(7200.0, pid, "tick")
    await asyncio.sleep(7199)
    assert () == await actor_runtime.call(pid, Get())
    await asyncio.sleep(1)

    assert ("tick",) == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_cancel_timer_returns_time_left_and_stops_delivery(actor_runtime: Runtime) -> None:
    """A cancelled timer never fires; cancelling twice returns ``None``."""
    pid = actor_runtime.spawn(Recorder)
    ref = actor_runtime.send_after(10.0, pid, "tick")
    await asyncio.sleep(4)

    assert 6.0 == actor_runtime.cancel_timer(ref)
    assert actor_runtime.cancel_timer(ref) is None
    await asyncio.sleep(20)
    assert () == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_timer_to_a_name_resolves_when_it_fires(actor_runtime: Runtime) -> None:
    """A name is looked up at fire time, as ``erlang:send_after`` does."""
    actor_runtime.send_after(1.0, "later", "tick")
    pid = actor_runtime.spawn(Recorder, name="later")
    await asyncio.sleep(2)

    assert ("tick",) == await actor_runtime.call(pid, Get())
