"""Progress reports reach a bar on a terminal, and cost nothing with nobody listening."""

from __future__ import annotations

import io

import pytest
from neural_actors.runtime import Runtime

from neural_actors.console import ProgressBar, report_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.asyncio
async def test_progress_is_drawn_as_a_bar_that_reaches_the_end() -> None:
    screen = Terminal()
    async with Runtime(clock="virtual") as rt:
        rt.spawn(ProgressBar, screen)
        await rt.wait_idle()
        for done in (10, 50, 100):
            report_progress(rt, "serving", done, 100)
        await rt.wait_idle()

    assert "serving" in screen.getvalue()
    assert "100%" in screen.getvalue()
    assert screen.getvalue().endswith("\n")


@pytest.mark.asyncio
async def test_progress_with_nobody_listening_is_dropped() -> None:
    async with Runtime(clock="virtual") as rt:
        report_progress(rt, "serving", 1, 2)

        assert 0 == rt.statistics().dead_letters
