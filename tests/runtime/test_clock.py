"""The virtual clock: time jumps when idle, stands still during real thread work."""

import asyncio
import time

import pytest
from neural_actors.runtime import VirtualEventLoop


@pytest.mark.asyncio
async def test_sleeping_a_day_takes_no_real_time() -> None:
    """A day of ``asyncio.sleep`` completes at once, at virtual time 86400."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    await asyncio.sleep(86_400)

    assert 86_400 == loop.time() - start


@pytest.mark.asyncio
async def test_timeouts_fire_at_their_virtual_deadline() -> None:
    """``asyncio.timeout`` raises exactly at its deadline."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.sleep(3600)

    assert 30 == loop.time() - start


@pytest.mark.asyncio
async def test_thread_work_is_not_skipped_over() -> None:
    """While an executor thread works, virtual time does not jump past a pending timer."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    timer = asyncio.ensure_future(asyncio.sleep(1000))

    await loop.run_in_executor(None, time.sleep, 0.01)

    assert not timer.done()
    assert loop.time() - start < 1000
    timer.cancel()


def test_advance_moves_time_forward_and_refuses_negative() -> None:
    """``advance`` adds to virtual time and rejects going back."""
    loop = VirtualEventLoop()
    try:
        loop.advance(5)
        assert 5.0 == loop.time()
        with pytest.raises(ValueError, match=r"seconds must be >= 0 \(got -1\)"):
            loop.advance(-1)
    finally:
        loop.close()
