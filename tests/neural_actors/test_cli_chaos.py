"""``neural-actors chaos``: a config's tree under its fault plan and load, the report, the exit
status, and the replay command of a run that broke an invariant."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result

from neural_actors.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = "tests/faults/fixtures"


@pytest.fixture(autouse=True)
def _in_root_with_logging_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Configs name actors of this repository's tests; commands configure structlog."""
    monkeypatch.chdir(ROOT)
    yield
    structlog.reset_defaults()


def chaos(*args: str) -> Result:
    return CliRunner().invoke(main, ["chaos", *args])


def test_a_run_prints_its_report_and_exits_zero_when_every_invariant_holds() -> None:
    """Faults by kind, restarts, requests, latency, messages, the digest; twice the same."""
    first = chaos(f"{FIXTURES}/chaos.yaml", "--duration", "2s")
    second = chaos(f"{FIXTURES}/chaos.yaml", "--duration", "2s")

    assert 0 == first.exit_code, first.output
    lines = first.stdout.splitlines()
    assert "chaos run: seed 3, virtual clock, 2 s of faults and load (2.000 s in all)" == lines[0]
    assert lines[1].startswith("faults injected: crash ")
    assert "invariants: all hold" == lines[-1]
    assert first.stdout == second.stdout


def test_a_broken_invariant_exits_one_with_a_replay_command_that_replays_it() -> None:
    """The hung call is reported with the command; that command gives the same report."""
    result = chaos(f"{FIXTURES}/hung.yaml", "--duration", "1s", "--seed", "4")
    command = result.stdout.splitlines()[-1]

    assert 1 == result.exit_code
    assert "  pending_calls: 1 load call(s) hung: no reply and no error past their timeout" in result.stdout.splitlines()
    assert f"replay: neural-actors chaos {FIXTURES}/hung.yaml --seed 4 --duration 1s --clock virtual" == command
    replayed = chaos(*shlex.split(command.removeprefix("replay: neural-actors chaos ")))
    assert (1, result.stdout) == (replayed.exit_code, replayed.stdout)


def test_many_runs_print_a_line_each_and_the_reports_of_the_broken_ones() -> None:
    """``--runs 3``: seeds 4, 5, 6, one status line each on stderr, then a summary."""
    result = chaos(f"{FIXTURES}/hung.yaml", "--duration", "500ms", "--seed", "4", "--runs", "3")

    assert 1 == result.exit_code
    assert ["seed 4: 1 invariant(s) broke", "seed 5: 1 invariant(s) broke", "seed 6: 1 invariant(s) broke"] == [
        line.split(", digest")[0] for line in result.stderr.splitlines() if line.startswith("seed ")
    ]
    assert "3 runs: 0 kept every invariant, 3 broke one" == result.stdout.splitlines()[-1]
    assert 3 == result.stdout.count("replay: ")


def test_mesh_faults_need_a_mesh() -> None:
    """Without ``--mesh`` the plan is refused (exit 2); with one, the run goes."""
    refused = chaos(f"{FIXTURES}/mesh.yaml", "--duration", "1s")
    meshed = chaos(f"{FIXTURES}/mesh.yaml", "--duration", "1s", "--mesh", "mesh:4x4")

    assert 2 == refused.exit_code
    assert (
        f"{FIXTURES}/mesh.yaml: faults[0]: expected a runtime with a mesh (Runtime(mesh=...)) for this fault "
        "(got 'fail_core') (give --mesh)\n"
    ) == refused.stderr
    assert 0 == meshed.exit_code, meshed.output
    assert "fail_core" in meshed.stdout.splitlines()[1]


def test_a_config_without_a_plan_runs_under_the_default_plan() -> None:
    """configs/every_strategy.yaml has no faults: section: workers are crashed and killed."""
    result = chaos("configs/every_strategy.yaml", "--duration", "2s")

    assert 0 == result.exit_code, result.output
    assert "crash" in result.stdout.splitlines()[1]


def test_a_config_with_problems_exits_two() -> None:
    """Problems are listed as ``validate`` lists them."""
    result = chaos(f"{FIXTURES}/broken.yaml")

    assert 2 == result.exit_code
    assert "9 problems in the config:" in result.stderr
