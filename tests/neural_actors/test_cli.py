"""The ``neural-actors`` command line: run, validate, tree, schema, and the checks on its options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner, Result
from neural_actors.supervisors import check_config, config_json_schema

import neural_actors
from neural_actors.cli import main

ROOT = Path(__file__).resolve().parents[2]
ACTORS = "tests.supervisors.fixtures.actors"


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Commands configure structlog for their process; tests put it back."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def command() -> list[str]:
    script = Path(sys.executable).with_name("neural-actors")
    return [str(script)] if script.exists() else [sys.executable, "-m", "neural_actors"]


def spawn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *args], cwd=ROOT, capture_output=True, text=True, timeout=100)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tree.yaml"
    path.write_text(text)
    return str(path)


# run, as a user runs it ---------------------------------------------------------------------


def test_run_demo_config_prints_the_report_and_exits_zero() -> None:
    """The README's first command: the demo job finishes by itself and prints its report."""
    done = spawn("run", "configs/demo.yaml")

    assert 0 == done.returncode, done.stderr
    assert done.stdout.startswith("served 2000/2000 batches in 2.00 virtual s on the FFF kernel (fff_leaf_infer); 40 workers killed, 40 restarted")
    assert done.stdout.endswith("answers match the numpy reference on 100.0% of rows\n")
    assert "InferenceWorker: compiling the FFF kernel, once (numba caches it for later runs)..." in done.stderr


def test_sigterm_during_a_real_clock_run_stops_the_tree_in_order_and_exits_zero(tmp_path: Path) -> None:
    """With --duration on the real clock, SIGTERM shuts children down in reverse start order."""
    config = write(
        tmp_path,
        f"""
tree:
  id: root
  children:
    - {{id: first, actor: "{ACTORS}:Sleeper", args: [0.01]}}
    - {{id: second, actor: "{ACTORS}:Sleeper", args: [0.01]}}
    - {{id: third, actor: "{ACTORS}:Sleeper"}}
""",
    )
    process = subprocess.Popen(
        [*command(), "run", config, "--clock", "real", "--duration", "30s", "--log-level", "info", "--log-format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    events = []
    for line in process.stderr:  # wait until the last child has started
        events.append(json.loads(line))
        if events[-1].get("event") == "child_started" and events[-1].get("child") == "third":
            break
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    events += [json.loads(line) for line in err.splitlines() if line.startswith("{")]

    assert 0 == process.returncode, err
    stopped = [e["child"] for e in events if e.get("event") == "child_terminated" and e.get("on_purpose")]
    assert ["third", "second", "first"] == stopped
    assert {"event": "status", "message": "stopped on request; the tree was shut down in order"} in events
    assert "" == out


def test_a_root_that_gives_up_exits_one_with_its_reason(tmp_path: Path) -> None:
    """Restarts past the root's intensity: exit 1, the reason on stderr, nothing on stdout."""
    config = write(
        tmp_path,
        f"""
runtime: {{clock: virtual}}
tree:
  id: root
  intensity: 2
  period: 1s
  children:
    - {{id: job, actor: "{ACTORS}:Job", args: [10], restart: permanent}}
""",
    )

    done = spawn("run", config)

    assert (1, "") == (done.returncode, done.stdout)
    assert 3 == done.stderr.count("crash_report")  # the first run and its two restarts
    assert done.stderr.endswith("\nthe root supervisor gave up: shutdown (reached_max_restart_intensity)\n")


def test_a_broken_file_exits_two_and_prints_every_problem() -> None:
    """Nothing starts; every problem of the file is on stderr, as ``validate`` lists them."""
    name = "tests/supervisors/fixtures/broken/unknown_keys.yaml"
    expected = "\n".join(["5 problems in the config:", *(str(p) for p in check_config(ROOT / name))])

    done = spawn("run", name)

    assert (2, "", expected.replace(str(ROOT) + "/", "") + "\n") == (done.returncode, done.stdout, done.stderr)


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "neural_actors", "--version"], capture_output=True, text=True, timeout=60)

    assert f"neural-actors, version {neural_actors.__version__}\n" == done.stdout


# run, in process ----------------------------------------------------------------------------


def test_run_to_a_duration_on_the_virtual_clock_exits_zero(tmp_path: Path) -> None:
    """--duration stops a tree that would run for ever, in the config's clock's time."""
    config = write(tmp_path, f'runtime: {{clock: virtual}}\ntree: {{id: root, children: [{{id: a, actor: "{ACTORS}:Echo", args: [hi]}}]}}\n')

    result = invoke("run", config, "--duration", "10m")

    assert (0, "") == (result.exit_code, result.stdout)
    assert "stopped at the end of --duration; the tree was shut down in order\n" == result.stderr


def test_a_finished_job_prints_its_result_on_stdout_and_logs_on_stderr(tmp_path: Path) -> None:
    """Reports and logs never mix: the result is stdout's only line."""
    config = write(
        tmp_path,
        f"""
runtime: {{clock: virtual, log_level: info}}
tree:
  id: root
  auto_shutdown: any_significant
  children:
    - {{id: job, actor: "{ACTORS}:Job", kwargs: {{result: all done}}, restart: temporary, significant: true}}
""",
    )

    result = invoke("run", config)

    assert (0, "all done\n") == (result.exit_code, result.stdout)
    assert "auto_shutdown" in result.stderr


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--duration", "0"], "Invalid value for '--duration': '0' is not a duration > 0"),
        (["--duration", "5 parsecs"], "Invalid value for '--duration': '5 parsecs' is not a duration: unknown unit 'parsecs'; expected one of h, m, s, ms, us"),
        (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0."),
        (["--clock", "wall"], "Invalid value for '--clock': 'wall' is not one of 'virtual', 'real'."),
        (["--log-format", "xml"], "Invalid value for '--log-format': 'xml' is not one of 'console', 'json'."),
    ],
)
def test_run_refuses_bad_options_in_one_line(args: list[str], error: str) -> None:
    """Bad options exit 2 with click's one-line error, never a traceback."""
    result = invoke("run", "configs/demo.yaml", *args)

    assert 2 == result.exit_code
    assert f"Error: {error}\n" == result.stderr.splitlines(keepends=True)[-1]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--workers", "0"], "Invalid value for '--workers': 0 is not in the range x>=1."),
        (["--requests", "0"], "Invalid value for '--requests': 0 is not in the range x>=1."),
        (["--requests", "-5"], "Invalid value for '--requests': -5 is not in the range x>=1."),
        (["--seed", "-1"], "Invalid value for '--seed': -1 is not in the range x>=0."),
        (["--chaos-interval", "0"], "Invalid value for '--chaos-interval': '0' is not a duration > 0"),
        (["--intensity", "-1"], "Invalid value for '--intensity': -1 is not in the range x>=0."),
    ],
)
def test_demo_refuses_bad_options_in_one_line(args: list[str], error: str) -> None:
    """The options that used to hang or print tracebacks are refused up front."""
    result = invoke("demo", *args)

    assert 2 == result.exit_code
    assert f"Error: {error}\n" == result.stderr.splitlines(keepends=True)[-1]


# validate, tree, schema ---------------------------------------------------------------------


def test_validate_lists_every_problem_of_every_file_and_exits_two(in_root: None) -> None:
    names = ["tests/supervisors/fixtures/broken/enum_typos.yaml", "configs/demo.yaml", "tests/supervisors/fixtures/broken/bad_flags.yaml"]
    expected = [str(p) for name in names for p in check_config(name)]

    result = invoke("validate", *names)

    assert (2, expected) == (result.exit_code, result.stdout.splitlines())
    assert "3 files checked: 7 problems in 2\n" == result.stderr


def test_validate_json_gives_tools_each_problems_parts(in_root: None) -> None:
    result = invoke("validate", "--format", "json", "tests/supervisors/fixtures/broken/bad_flags.yaml")

    assert 2 == result.exit_code
    assert [
        {"file": "tests/supervisors/fixtures/broken/bad_flags.yaml", "line": 3, "column": 14, "path": "tree.intensity",
         "message": "must be an int >= 0; got -1"}
    ] == json.loads(result.stdout)


def test_validate_passes_the_examples(in_root: None) -> None:
    result = invoke("validate", "configs/demo.yaml", "configs/workers.yaml", "configs/every_strategy.yaml")

    assert (0, "", "3 files checked: no problems\n") == (result.exit_code, result.stdout, result.stderr)


def test_tree_draws_the_tree_with_strategies_intensities_and_restart_types(in_root: None) -> None:
    result = invoke("tree", "configs/demo.yaml")

    assert 0 == result.exit_code
    assert [
        "root  supervisor one_for_one  intensity 1/50ms  auto_shutdown any_significant  [name root]",
        "├── pool  supervisor one_for_one  intensity 2/50ms  [permanent, shutdown infinity]",
        "│   └── shard ×2  supervisor one_for_one  intensity 2/50ms  [permanent, shutdown infinity]",
        "│       └── worker ×2  neural_actors.demo:InferenceWorker  [permanent, shutdown 5s]",
        "├── chaos  neural_actors.demo:ChaosMonkey  [temporary, shutdown 5s, name chaos-monkey]",
        "└── driver  neural_actors.demo:Driver  [temporary, shutdown 5s, significant]",
    ] == result.stdout.splitlines()


def test_schema_prints_the_json_schema() -> None:
    result = invoke("schema")

    assert config_json_schema() == json.loads(result.stdout)


def test_a_config_naming_a_module_of_the_working_directory_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As with ``python -m``, ``actor:`` may name modules of the project being run."""
    (tmp_path / "my_project_actors.py").write_text("from neural_actors import Actor\n\nclass Mine(Actor):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", os.getcwd())])
    config = write(tmp_path, "tree: {id: root, children: [{id: a, actor: 'my_project_actors:Mine'}]}\n")

    result = invoke("validate", config)

    assert 0 == result.exit_code, result.stdout
