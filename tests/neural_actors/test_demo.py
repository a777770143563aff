"""The demo job: every request is answered correctly while workers are killed and restarted."""

import pytest
import structlog
from click.testing import CliRunner
from neural_actors.runtime import ActorExited

from neural_actors.cli import main
from neural_actors.demo import run_demo


@pytest.mark.asyncio
async def test_demo_serves_everything_through_kills_and_restarts() -> None:
    """Each kill is followed by a restart, and no request is lost or answered wrongly."""
    report = await run_demo(requests=300, workers=3, seed=1, chaos_interval=0.02)

    assert (300, 1.0) == (report.served, report.accuracy)
    assert report.kills > 0
    assert report.kills == report.restarts


def test_cli_demo_prints_the_report_and_exits_zero() -> None:
    """``neural-actors demo`` prints what was served, killed and restarted."""
    try:
        result = CliRunner().invoke(main, ["demo", "--requests", "100", "--chaos-interval", "0.02"])
    finally:
        structlog.reset_defaults()  # the command configures logging for its process

    assert 0 == result.exit_code, result.output
    # The supervisors report each killed worker at error level, before the report line.
    assert result.output.splitlines()[-1].startswith("served 100/100 batches in 0.10 virtual s; 5 workers killed, 5 restarted")


@pytest.mark.asyncio
async def test_demo_fails_with_the_roots_reason_when_the_root_gives_up() -> None:
    """With no restarts allowed, the first kill stops the root and the driver says so, not hangs."""
    with pytest.raises(ActorExited) as info:
        await run_demo(requests=300, workers=2, chaos_interval=0.02, intensity=0)

    assert "shutdown" == info.value.reason


def test_cli_exits_non_zero_with_the_reason_when_the_root_gives_up() -> None:
    """``neural-actors demo`` reports the root's exit reason and exits 1."""
    try:
        result = CliRunner().invoke(main, ["demo", "--requests", "300", "--chaos-interval", "0.02", "--intensity", "0"])
    finally:
        structlog.reset_defaults()

    assert 1 == result.exit_code
    assert "the root supervisor gave up: shutdown" == result.output.splitlines()[-1]
