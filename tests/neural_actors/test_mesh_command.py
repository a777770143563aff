"""``neural-actors mesh``: the simulator's latency/throughput table for a preset, and its plot."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from neural_actors.cli import main


def test_mesh_prints_a_row_per_offered_load() -> None:
    result = CliRunner().invoke(main, ["mesh", "mesh:4x4", "--rates", "0.05,0.1"])

    assert 0 == result.exit_code, result.output
    lines = result.output.splitlines()
    assert lines[0] == "mesh:4x4: mesh 4x4, uniform traffic, 4-flit packets, bound 1.0000 flits/cycle/node"
    rows = [line.split() for line in lines if line.strip().startswith("0.")]
    assert ["0.0500", "0.1000"] == [row[0] for row in rows]
    assert all(abs(float(row[1]) - float(row[0])) < 0.02 for row in rows)  # far below saturation: carried


def test_mesh_refuses_an_unknown_preset_in_one_line() -> None:
    result = CliRunner().invoke(main, ["mesh", "hypercube"])

    assert 2 == result.exit_code
    assert "expected wormhole, blackhole, mesh:KXxKY, torus:KXxKY or noc:KXxKY; got 'hypercube'" in result.output


def test_mesh_refuses_a_rate_out_of_range() -> None:
    result = CliRunner().invoke(main, ["mesh", "mesh:4x4", "--rates", "0.1,1.5"])

    assert 2 == result.exit_code
    assert "each rate must be in (0, 1] flits per cycle per node" in result.output


def test_mesh_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra: pip install 'neural-actors[plot]'")
    out = tmp_path / "curve.png"

    result = CliRunner().invoke(main, ["mesh", "torus:4x4", "--rates", "0.1", "--plot", str(out)])

    assert 0 == result.exit_code, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
