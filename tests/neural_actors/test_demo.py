"""The demo job: every request is answered correctly while workers are killed and restarted."""

import pytest
import structlog
from click.testing import CliRunner

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
    assert result.output.startswith("served 100/100 batches in 0.10 virtual s; 5 workers killed, 5 restarted")
