"""The ``neural-actors`` command line."""

from __future__ import annotations

import logging
import sys

import click
import structlog

from neural_actors.runtime import ActorExited, format_reason, run


@click.group()
@click.version_option(package_name="neural-actors")
def main() -> None:
    """Erlang/OTP-style supervision trees on asyncio for neural actors."""


@main.command()
@click.option("--requests", default=2000, show_default=True, help="Batches to serve.")
@click.option("--workers", default=4, show_default=True, help="Inference workers under the root supervisor.")
@click.option("--seed", default=0, show_default=True, help="Seeds data, weights and the chaos monkey.")
@click.option("--chaos-interval", default=0.05, show_default=True, help="Virtual seconds between kills.")
@click.option("--intensity", type=int, default=None, help="Restarts each supervisor allows per chaos interval [root: 1, others: one per child].")
@click.option(
    "--log-level",
    default="warning",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Least level of structured events shown (info shows every supervisor report).",
)
def demo(requests: int, workers: int, seed: int, chaos_interval: float, intensity: int | None, log_level: str) -> None:
    """Serve inference requests from a supervised worker pool while workers are killed."""
    from neural_actors.demo import run_demo

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(log_level.upper())))
    try:
        report = run(
            lambda: run_demo(
                requests=requests, workers=workers, seed=seed, chaos_interval=chaos_interval, intensity=intensity
            ),
            clock="virtual",
        )
    except ActorExited as exited:
        click.echo(f"the root supervisor gave up: {format_reason(exited.reason)}", err=True)
        sys.exit(1)
    click.echo(
        f"served {report.served}/{report.requests} batches in {report.virtual_seconds:.2f} virtual s; "
        f"{report.kills} workers killed, {report.restarts} restarted, {report.retried} requests retried; "
        f"answers match the reference network on {report.accuracy:.1%} of rows"
    )
    if report.served != report.requests or report.accuracy != 1.0:
        sys.exit(1)
