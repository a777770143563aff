"""The ``neural-actors`` command line: run, check and draw supervision trees written in YAML.

Reports go to stdout; logs, progress and status lines go to stderr, so ``neural-actors run x.yaml
> report.txt`` keeps the report clean. Exit status: 0 when a run ended normally or by request,
1 when the root supervisor gave up, 2 for a config or usage error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import attrs
import click
import structlog

from neural_actors.faults import DEFAULT_PLAN, FaultPlanError, run_chaos_seeds
from neural_actors.mesh_command import mesh
from neural_actors.runtime import Deadlock, Runtime, StartFailed, format_reason
from neural_actors.runtime import run as run_main
from neural_actors.supervisors import (
    ChildSpec,
    Config,
    ConfigError,
    Outcome,
    RuntimeSection,
    check_config,
    config_json_schema,
    load_config,
    run_job,
    walk_tree,
)
from neural_actors.supervisors.config_format import SupervisorNode, WorkerNode
from neural_actors.supervisors.units import format_duration, parse_duration

__all__ = ["main"]

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class Duration(click.ParamType):
    """A command-line duration: ``30s``, ``250ms``, ``2m`` or seconds; greater than zero."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value
        else:
            text = str(value)
            try:
                seconds = parse_duration(float(text)) if _is_number(text) else parse_duration(text)
            except ValueError as error:
                self.fail(f"{text!r} is not a duration: {error}", param, ctx)
        if seconds <= 0:
            self.fail(f"{value!r} is not a duration > 0", param, ctx)
        return seconds


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


DURATION = Duration()

_log_level = click.option(
    "--log-level", type=click.Choice(LOG_LEVELS), default=None,
    help="Least level of the events logged to stderr (info shows every supervisor report). [config: warning]",
)
_log_format = click.option(
    "--log-format", type=click.Choice(["console", "json"]), default=None,
    help="console: for people; json: one object per line, for tools. [config: console]",
)


@click.group()
@click.version_option(package_name="neural-actors")
def main() -> None:
    """Erlang/OTP-style supervision trees on asyncio for neural actors."""


# run ---------------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed the scheduling order. [config]")
@click.option("--duration", type=DURATION, default=None, help="Stop after this long (30s, 2m), in the clock's time.")
@click.option("--clock", type=click.Choice(["virtual", "real"]), default=None, help="Real or virtual time. [config]")
@_log_level
@_log_format
def run(file: str, seed: int | None, duration: float | None, clock: str | None, log_level: str | None,
        log_format: str | None) -> None:
    """Run the supervision tree of FILE until it ends, Ctrl-C, SIGTERM or --duration.

    Exits 0 when the run ended normally or by request, 1 when the root supervisor gave up,
    2 when FILE has problems (all are listed). A second Ctrl-C kills at once.
    """
    config = _load(file)
    overrides = {"seed": seed, "clock": clock, "log_level": log_level, "log_format": log_format}
    section = attrs.evolve(config.runtime, **{k: v for k, v in overrides.items() if v is not None})
    mesh = config.sections.get("mesh")
    sys.exit(_report(_execute(config.tree, section, duration, mesh.options() if mesh is not None else {})))


def _load(file: str) -> Config:
    """The config of ``file``, or exit 2 with every problem on stderr."""
    _import_from_cwd()
    try:
        return load_config(file)
    except ConfigError as error:
        click.echo(str(error), err=True)
        sys.exit(2)


def _import_from_cwd() -> None:
    """Let ``actor:`` name modules of the project in the working directory, as ``python -m`` does."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _execute(tree: ChildSpec, section: RuntimeSection, duration: float | None,
             options: dict[str, Any] | None = None) -> Outcome:
    """Run ``tree`` as a job with the logging, warm-up and progress a terminal user expects;
    ``options`` are more of ``Runtime``'s arguments (a ``mesh:`` section's)."""
    configure_logging(section.log_level, section.log_format)
    _warm_up(tree, section.log_format)

    async def job() -> Outcome:
        async with Runtime(**section.options(), **(options or {})) as rt:
            if sys.stderr.isatty():
                from neural_actors.console import ProgressBar

                rt.spawn(ProgressBar, sys.stderr)
            return await run_job(rt, tree, duration=duration)

    try:
        return run_main(job, clock=section.clock)
    except SystemExit:
        _status("stopped on request; the tree was shut down in order", section.log_format)
        raise
    except Deadlock:
        _status("nothing left to happen on the virtual clock: give --duration, or a tree whose job ends",
                section.log_format)
        sys.exit(1)


def _report(outcome: Outcome) -> int:
    """Print how the run ended (results on stdout, the rest on stderr); the exit status."""
    if outcome.ended == "gave_up":
        click.echo(f"the root supervisor gave up: {format_reason(outcome.reason)}", err=True)
        return 1
    if outcome.ended == "duration":
        click.echo("stopped at the end of --duration; the tree was shut down in order", err=True)
    for _, result in outcome.results:
        click.echo(str(result))
    return 0


def configure_logging(level: str, log_format: str) -> None:
    """Send structlog's events to stderr, at ``level`` and up, for people or as JSON lines.

    Every process's runtime, supervisor and actor events go through structlog; the runtime's own
    level gate (``Runtime(log_level=...)``) is set to the same level by the caller.
    """
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
    ]
    if log_format == "json":
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def _warm_up(tree: ChildSpec, log_format: str) -> None:
    """Call each actor class's ``warm_up`` once before the tree starts, saying so on stderr.

    A class may define ``warm_up()`` (a classmethod) to do slow one-time work, such as compiling
    its kernels, before its first instance starts; its docstring's first line says what it does.
    """
    seen: set[type] = set()
    for spec in walk_tree(tree):
        cls = spec.actor
        warm_up = getattr(cls, "warm_up", None)
        if cls in seen or not callable(warm_up):
            continue
        seen.add(cls)
        what = (warm_up.__doc__ or "warming up").strip().splitlines()[0]
        started = time.perf_counter()
        _status(f"{cls.__qualname__}: {what}...", log_format, newline=False)
        warm_up()
        _status(f" {time.perf_counter() - started:.1f} s", log_format, continued=True)


def _status(text: str, log_format: str, *, newline: bool = True, continued: bool = False) -> None:
    """A line for the person watching, on stderr (a JSON object in JSON log format)."""
    if log_format == "json":
        click.echo(json.dumps({"event": "status", "message": text.strip()}), err=True)
    else:
        click.echo(text, err=True, nl=newline or continued)


# serve -------------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--host", default=None, help="The address to listen on. [config service.host: 127.0.0.1]")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="The port to listen on; 0 picks a free one. [config service.port: 8000]")
@_log_level
@_log_format
def serve(file: str, host: str | None, port: int | None, log_level: str | None, log_format: str | None) -> None:
    """Serve the tree of FILE over HTTP: POST /infer, GET /health, /ready, /tree, /metrics.

    FILE needs a service: section naming the model actor (see docs/embedding.md). SIGTERM or
    Ctrl-C stops accepting requests, lets those in flight finish (up to service.grace), stops
    the tree in order and exits 0. Exits 1 when the tree fails to start, 2 when FILE has
    problems. Needs the service extra: pip install 'neural-actors[service]'.
    """
    config = _load(file)
    if "service" not in config.sections:
        click.echo(f"{file}: no service: section; add one naming the model actor, e.g. service: {{model: model}}",
                   err=True)
        sys.exit(2)
    try:
        from neural_actors.service import serve as serve_config
    except ImportError as missing:
        click.echo(str(missing), err=True)
        sys.exit(2)
    overrides = {"log_level": log_level, "log_format": log_format}
    section = attrs.evolve(config.runtime, **{k: v for k, v in overrides.items() if v is not None})
    configure_logging(section.log_level, section.log_format)
    _warm_up(config.tree, section.log_format)

    def listening(url: str) -> None:
        _status(f"serving {file} on {url}; SIGTERM or Ctrl-C stops", section.log_format)

    status = serve_config(attrs.evolve(config, runtime=section), host=host, port=port,
                          log_level=section.log_level, on_listening=listening)
    if status:
        _status("the tree failed to start", section.log_format)
    else:
        _status("stopped on request; the tree was shut down in order", section.log_format)
    sys.exit(status)


# validate, tree, schema --------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one list of problems, each with file, line, column, path and message.")
def validate(files: tuple[str, ...], output: str) -> None:
    """Check config FILES without starting anything; list every problem of every file.

    Exits 2 if any file has a problem.
    """
    _import_from_cwd()
    problems = [problem for file in files for problem in check_config(file)]
    if output == "json":
        click.echo(json.dumps([_problem_json(p) for p in problems], indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
        bad = len({p.mark.file for p in problems if p.mark is not None})
        summary = f"{len(files)} file{'s' if len(files) != 1 else ''} checked"
        click.echo(f"{summary}: {len(problems)} problems in {bad}" if problems else f"{summary}: no problems", err=True)
    if problems:
        sys.exit(2)


def _problem_json(problem: Any) -> dict[str, Any]:
    mark = problem.mark
    return {"file": mark and mark.file, "line": mark and mark.line, "column": mark and mark.column,
            "path": problem.path, "message": problem.message}


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def tree(file: str) -> None:
    """Draw the supervision tree of FILE: strategies, intensities, restart types, shutdowns."""
    config = _load(file)
    assert config.root is not None  # a loaded config keeps the tree as written
    for line in draw_tree(config.root):
        click.echo(line)


def draw_tree(root: SupervisorNode) -> list[str]:
    """The tree as indented lines, with what each node does."""
    return list(_draw(root, "", "", root=True))


def _draw(node: WorkerNode | SupervisorNode, first: str, rest: str, *, root: bool = False) -> Iterator[str]:
    name = click.style(node.id, bold=True) + (f" ×{node.replicas}" if node.replicas else "")
    yield f"{first}{name}  {_describe(node, root)}"
    children: tuple[Any, ...] = ()
    if isinstance(node, SupervisorNode):
        children = (node.template,) if node.dynamic and node.template is not None else (node.children or ())
    for index, child in enumerate(children):
        last = index == len(children) - 1
        yield from _draw(child, rest + ("└── " if last else "├── "), rest + ("    " if last else "│   "))


def _describe(node: WorkerNode | SupervisorNode, root: bool) -> str:
    parts: list[str] = []
    if isinstance(node, WorkerNode):
        parts.append(click.style(f"{node.actor.__module__}:{node.actor.__qualname__}", fg="cyan"))
        shutdown = node.shutdown if node.shutdown is not None else 5.0
    else:
        dynamic = node.dynamic
        kind = "dynamic supervisor" if dynamic else f"supervisor {node.strategy or 'one_for_one'}"
        intensity = node.intensity if node.intensity is not None else (3 if dynamic else 1)
        period = node.period if node.period is not None else 5.0
        parts.append(click.style(kind, fg="magenta"))
        parts.append(f"intensity {intensity}/{_duration(period)}")
        if node.auto_shutdown not in (None, "never"):
            parts.append(f"auto_shutdown {node.auto_shutdown}")
        if node.max_children is not None:
            parts.append(f"max_children {node.max_children}")
        shutdown = node.shutdown if node.shutdown is not None else "infinity"
    child = [] if root else [node.restart, f"shutdown {_duration(shutdown)}"]
    if node.significant:
        child.append(click.style("significant", fg="yellow"))
    if node.backoff is not None:
        child.append(f"backoff {_duration(node.backoff.min)}..{_duration(node.backoff.max)}")
    if node.name is not None:
        child.append(f"name {node.name}")
    if child:
        parts.append("[" + ", ".join(child) + "]")
    return "  ".join(parts)


def _duration(value: float | str) -> str:
    return value if isinstance(value, str) else str(format_duration(value))


@main.command()
def schema() -> None:
    """Print the JSON Schema (draft 2020-12) of config files, for editors and tools."""
    click.echo(json.dumps(config_json_schema(), indent=2))


# chaos -------------------------------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--duration", type=DURATION, default="60s", show_default=True,
              help="Faults and load for this long (30s, 2m), in the clock's time.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="The first run's seed. [config, else 0]")
@click.option("--runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many runs, with seeds seed, seed+1, ...")
@click.option("--clock", type=click.Choice(["virtual", "real"]), default="virtual", show_default=True,
              help="virtual: fast, and a run replays exactly; real: wall time.")
@click.option("--mesh", default=None, help="Run on an emulated mesh preset (wormhole, mesh:4x4...), for mesh faults.")
@click.option("--settle", type=DURATION, default="5s", show_default=True,
              help="After the faults, how long calls may take to end before they count as hung.")
@_log_level
@_log_format
def chaos(file: str, duration: float, seed: int | None, runs: int, clock: str, mesh: str | None, settle: float,
          log_level: str | None, log_format: str | None) -> None:
    """Run the tree of FILE under its fault plan (faults:) and load (load:), then check every invariant.

    Each run: faults and load for --duration, then the faults heal and the tree settles, then
    the invariants: no call left pending, no dead registry entry, every message accounted for,
    restarts within each supervisor's intensity, nothing running after shutdown. Without a
    faults: section the tree is tried under a default plan (workers crashed and killed at
    random, messages delayed, reordered and a few dropped). Prints each run's report; exits 1 if
    an invariant broke, with the command that replays the run, 2 if FILE has problems.
    """
    config = _load(file)
    faults, load = config.sections.get("faults"), config.sections.get("load")
    plan = faults.fault_plan() if faults is not None else DEFAULT_PLAN
    log_format = log_format or config.runtime.log_format
    configure_logging(log_level or "critical", log_format)
    _warm_up(config.tree, log_format)
    first = seed if seed is not None else (config.runtime.seed or 0)
    options = {"mesh": mesh} if mesh is not None else {}

    def replay(run_seed: int) -> str:
        extra = (f" --mesh {mesh}" if mesh else "") + (f" --settle {format_duration(settle)}" if settle != 5 else "")
        return (f"neural-actors chaos {file} --seed {run_seed} --duration {format_duration(duration)} "
                f"--clock {clock}{extra}")

    reports = run_chaos_seeds(
        config.tree, plan, range(first, first + runs), clock=clock, replay=replay, load=load.loads() if load else (),
        duration=duration, settle=settle, runtime={**options, "log_level": log_level or "error"},
        progress=_chaos_progress(log_format, duration) if runs == 1 else None,
    )
    broken = 0
    try:
        for report in reports:
            broken += not report.ok
            if runs == 1 or not report.ok:
                click.echo(report.render())
            if runs > 1:
                verdict = "every invariant holds" if report.ok else f"{len(report.violations)} invariant(s) broke"
                _status(f"seed {report.seed}: {verdict}" + (f", digest {report.digest}" if report.digest else ""),
                        log_format)
    except FaultPlanError as error:
        click.echo(f"{file}: {error}" + (" (give --mesh)" if "mesh" in str(error) else ""), err=True)
        sys.exit(2)
    except StartFailed as error:
        click.echo(f"the tree failed to start: {error}", err=True)
        sys.exit(1)
    if runs > 1:
        click.echo(f"{runs} runs: {runs - broken} kept every invariant, {broken} broke one")
    sys.exit(1 if broken else 0)


def _chaos_progress(log_format: str, duration: float) -> Any:
    """Progress of a run on stderr, on one rewritten line, when a person is watching."""
    if not sys.stderr.isatty() or log_format == "json":
        return None

    def show(done: float, load: Any) -> None:
        click.echo(f"\r{format_duration(round(done, 3))} of {format_duration(duration)}: {load.ok} calls ok, "
                   f"{load.failed_total} failed, {load.hung} hung  ", err=True, nl=done >= duration)

    return show


# demo --------------------------------------------------------------------------------------


@main.command()
@click.option("--requests", type=click.IntRange(min=1), default=2000, show_default=True, help="Batches to serve.")
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True, help="Inference workers.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seeds data, weights, scheduling and the chaos monkey.")
@click.option("--chaos-interval", type=DURATION, default="50ms", show_default=True,
              help="Virtual time between kills (50ms, 0.05).")
@click.option("--intensity", type=click.IntRange(min=0), default=None,
              help="Restarts each supervisor allows per chaos interval [root: 1, others: one per child].")
@_log_level
@_log_format
def demo(requests: int, workers: int, seed: int, chaos_interval: float, intensity: int | None,
         log_level: str | None, log_format: str | None) -> None:
    """Serve inference requests from a supervised FFF worker pool while workers are killed.

    The same job as ``neural-actors run configs/demo.yaml``, sized by these options.
    """
    from neural_actors.demo import DemoReport
    from neural_actors.demo import tree as demo_tree

    spec = demo_tree(requests=requests, workers=workers, seed=seed, chaos_interval=chaos_interval, intensity=intensity)
    section = RuntimeSection(clock="virtual", seed=seed, log_level=log_level or "critical",
                             log_format=log_format or "console")
    outcome = _execute(spec, section, None)
    status = _report(outcome)
    reports = [result for _, result in outcome.results if isinstance(result, DemoReport)]
    if status == 0 and not all(r.served == r.requests and r.accuracy == 1.0 for r in reports):
        status = 1
    sys.exit(status)


main.add_command(mesh)
