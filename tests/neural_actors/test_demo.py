"""The demo job: every request is answered correctly, on the FFF kernel, while workers are killed."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import structlog
from click.testing import CliRunner
from neural_actors.kernels.fff_reference import fff_leaf_infer_reference
from neural_actors.runtime import ActorExited, Runtime, freeze

from neural_actors.cli import main
from neural_actors.demo import FEATURES, Infer, InferenceWorker, make_weights, run_demo

#: The exit reason of a supervisor that gives up, as OTP's.
GAVE_UP = ("shutdown", "reached_max_restart_intensity")


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # the command configures logging for its process


@pytest.mark.asyncio
async def test_demo_serves_everything_through_kills_and_restarts() -> None:
    """Each kill is followed by a restart, and no request is lost or answered wrongly."""
    report = await run_demo(requests=300, workers=3, seed=1, chaos_interval=0.02)

    assert (300, 300, 1.0) == (report.requests, report.served, report.accuracy)
    assert report.kills > 0
    assert (report.kills, 0) == (report.restarts, report.supervisor_restarts)


@pytest.mark.asyncio
async def test_restarts_under_a_supervisor_that_gave_up_are_counted() -> None:
    """With one worker, its shard gives up and is replaced; every kill still counts a restart."""
    report = await run_demo(requests=400, workers=1, seed=0, chaos_interval=0.02)

    assert (20, 20) == (report.kills, report.restarts)
    assert report.supervisor_restarts >= 1


@pytest.mark.asyncio
async def test_workers_answer_with_the_fff_kernel_as_the_reference_does() -> None:
    """A worker's answer is the numpy reference's, up to float summation order."""
    rows = np.random.default_rng(3).standard_normal((32, FEATURES), dtype=np.float32)
    async with Runtime(clock="virtual") as rt:
        worker = await rt.start(InferenceWorker, 5)
        answer = await rt.call(worker, Infer(freeze(rows)))

    np.testing.assert_allclose(answer, fff_leaf_infer_reference(rows, *make_weights(5)), rtol=1e-5, atol=1e-6)


@pytest.mark.asyncio
async def test_demo_fails_with_the_roots_reason_when_the_root_gives_up() -> None:
    """With no restarts allowed, the first kill stops the root and the driver says so, not hangs."""
    with pytest.raises(ActorExited) as info:
        await run_demo(requests=300, workers=2, chaos_interval=0.02, intensity=0)

    assert GAVE_UP == info.value.reason


def test_cli_demo_prints_the_report_on_stdout_and_exits_zero() -> None:
    """``neural-actors demo`` prints what was served, killed and restarted, and nothing else."""
    result = CliRunner().invoke(main, ["demo", "--requests", "100", "--chaos-interval", "20ms", "--log-level", "info"])

    assert 0 == result.exit_code, result.output
    assert [
        "served 100/100 batches in 0.10 virtual s on the FFF kernel (fff_leaf_infer); 5 workers killed, 5 restarted "
        "(0 supervisor restarts), 0 requests retried; answers match the numpy reference on 100.0% of rows"
    ] == result.stdout.splitlines()
    assert "child_started" in result.stderr


def test_cli_exits_non_zero_with_the_reason_when_the_root_gives_up() -> None:
    """``neural-actors demo`` reports the root's exit reason and exits 1."""
    result = CliRunner().invoke(main, ["demo", "--requests", "300", "--chaos-interval", "0.02", "--intensity", "0"])

    assert (1, "") == (result.exit_code, result.stdout)
    assert result.stderr.endswith("the root supervisor gave up: shutdown (reached_max_restart_intensity)\n")
