"""The jobs of configs/: the MoE mesh job (the README's first command) and the FFF service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from neural_actors.runtime import Runtime
from neural_actors.supervisors import load_config, run_job

from neural_actors.load_driver import LoadReport

ROOT = Path(__file__).resolve().parents[2]


async def run(name: str) -> LoadReport:
    config = load_config(ROOT / "configs" / name)
    mesh = config.sections.get("mesh")
    async with Runtime(**config.runtime.options(), **(mesh.options() if mesh is not None else {})) as rt:
        outcome = await run_job(rt, config.tree)
    assert "finished" == outcome.ended, outcome
    ((_, report),) = outcome.results
    return report


@pytest.mark.asyncio
async def test_the_moe_mesh_job_serves_everything_through_kills_slowness_and_mitosis() -> None:
    """Every request answered while experts are killed and one is slowed: each kill restarted,
    the slow expert masked when late, a replica spawned for it and retired afterwards, the
    held-out accuracy kept, the mesh's links used."""
    report = await run("moe_mesh.yaml")

    assert (2000, 2000, 0) == (report.requests, report.served, report.failed)
    assert report.kills == report.restarts >= 20
    assert report.accuracy >= 0.965
    assert report.replicas_spawned >= 1 and report.replicas_retired >= 1
    assert report.blocks_failed == report.late_replies > 0
    assert report.latency_p99 <= 0.02  # forward_timeout
    assert 0 < report.link_utilisation_max < 1 and report.mesh_messages > 10_000
    assert report.virtual_seconds < 1.0


@pytest.mark.asyncio
async def test_the_fff_service_job_serves_everything_while_its_actor_is_killed() -> None:
    """Clients try again while the actor restarts: nothing fails, each kill is restarted."""
    report = await run("fff_service.yaml")

    assert (2000, 2000, 0) == (report.requests, report.served, report.failed)
    assert report.kills == report.restarts > 0 and report.calls_retried > 0
    assert report.accuracy >= 0.92


def test_the_readme_command_runs_the_moe_mesh_job_and_prints_its_report() -> None:
    script = Path(sys.executable).with_name("neural-actors")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "neural_actors"]
    done = subprocess.run([*command, "run", "configs/moe_mesh.yaml"], cwd=ROOT, capture_output=True, text=True,
                          timeout=100)

    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("digits: served 2000/2000 requests (16,000 rows) in 0.")
    assert lines[1].startswith("held-out accuracy 97.")
    assert lines[3].startswith("mitosis: replicas spawned ")
    assert lines[4].startswith("mesh: ")
    assert "MoELayer: compiling the MoE and FFF kernels" in done.stderr
