"""``run``: main or main(), the chosen clock, and SIGINT/SIGTERM stopping a program cleanly."""

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest
import neural_actors
from neural_actors.runtime import VirtualEventLoop, run

# A bound on waiting for a child process or thread: a passing test never reaches it, it only
# turns a hang into a failure.
BOUND = 60.0

CHILD = """
import asyncio
import structlog
import neural_actors as na

structlog.configure(
    processors=[structlog.processors.KeyValueRenderer(key_order=["event", "signal"])]
)

class Noisy(na.Actor):
    trap_exit = True

    async def terminate(self, reason):
        print("terminating", flush=True)
        await asyncio.sleep({terminate_seconds})
        print(f"terminated {{reason}}", flush=True)

async def main():
    async with na.Runtime() as rt:
        rt.spawn(Noisy, shutdown=300.0)
        await rt.wait_idle()
        print("ready", flush=True)
        await asyncio.Event().wait()

na.run(main)
print("not reached: run exits the program", flush=True)
"""


def same_package_env() -> dict[str, str]:
    """The environment, with the child importing the very ``neural_actors`` this test imported."""
    here = str(Path(neural_actors.__file__).parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": here if path is None else os.pathsep.join([here, path])}


class Child:
    """A Python child process running ``CHILD``, whose stdout lines arrive on a queue."""

    def __init__(self, terminate_seconds: float, stderr: IO[str], cwd: Path) -> None:
        script = CHILD.format(terminate_seconds=terminate_seconds)
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=same_package_env(),
        )
        self.stderr = stderr
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, expected: str) -> None:
        """Read stdout until the line ``expected``."""
        while (line := self.lines.get(timeout=BOUND)) != expected:
            assert line is not None, f"exited before printing {expected!r}: {self.errors()}"

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)

    def finish(self) -> tuple[int, list[str]]:
        """Wait for the exit: its status and the stdout lines not read yet."""
        status = self.process.wait(timeout=BOUND)
        rest = []
        while (line := self.lines.get(timeout=BOUND)) is not None:
            rest.append(line)
        return status, rest

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def kill(self) -> None:
        """End the child if it still runs and release its pipe."""
        self.process.kill()
        self.process.wait()
        self._reader.join(timeout=BOUND)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Callable[[float], Child]]:
    """Start children with ``child(terminate_seconds)``; any still running at the end is killed."""
    children: list[Child] = []
    with open(tmp_path / "stderr.txt", "w+") as stderr:

        def start(terminate_seconds: float) -> Child:
            children.append(Child(terminate_seconds, stderr, tmp_path))
            return children[-1]

        yield start
        for started in children:
            started.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda signum: signum.name)
def test_a_signal_shuts_the_runtime_down_and_exits_cleanly(
    child: Callable[[float], Child], signum: signal.Signals
) -> None:
    """SIGTERM or SIGINT cancels main: actors terminate, then the program exits 0, no traceback."""
    program = child(terminate_seconds=0)
    program.wait_for("ready")

    program.signal(signum)
    status, rest = program.finish()

    logged = f"event='shutdown_requested' signal='{signum.name}'"
    stopped = [logged, "terminating", "terminated shutdown"]
    assert (0, stopped) == (status, rest)
    assert "Traceback" not in program.errors()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda signum: signum.name)
def test_a_second_signal_during_shutdown_exits_at_once(
    child: Callable[[float], Child], signum: signal.Signals
) -> None:
    """While a slow terminate runs, a second signal ends the program with 128 + signal number."""
    program = child(terminate_seconds=600)
    program.wait_for("ready")
    program.signal(signum)
    program.wait_for("terminating")

    program.signal(signum)
    status, rest = program.finish()

    assert (128 + signum, []) == (status, rest)


async def answer() -> int:
    await asyncio.sleep(3600)
    return 42


def test_run_takes_an_async_function_or_its_coroutine() -> None:
    """``run(main)`` and ``run(main())`` both run main and return its result."""
    assert (42, 42) == (run(answer, clock="virtual"), run(answer(), clock="virtual"))


def test_run_uses_the_clock_asked_for() -> None:
    """``clock='virtual'`` runs main on a ``VirtualEventLoop``, ``'real'`` on a plain loop."""

    async def loop_type() -> type:
        return type(asyncio.get_running_loop())

    assert VirtualEventLoop is run(loop_type, clock="virtual")
    assert not issubclass(run(loop_type), VirtualEventLoop)


def test_run_restores_the_signal_handlers_it_replaced() -> None:
    """After ``run`` the SIGINT and SIGTERM handlers are the ones from before."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    run(answer, clock="virtual")

    assert before == (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))


def test_run_works_outside_the_main_thread() -> None:
    """Off the main thread, where signals cannot be handled, ``run`` runs main all the same."""
    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(run(answer, clock="virtual")))

    thread.start()
    thread.join(timeout=BOUND)

    assert [42] == results


def not_async() -> int:
    return 7


@pytest.mark.parametrize(
    ("main", "got"),
    [
        (42, "42 that is a <class 'int'>"),
        (not_async, "not_async, which returned 7; define it with 'async def'"),
    ],
)
def test_run_refuses_what_is_not_an_async_function_or_coroutine(main: object, got: str) -> None:
    """Anything but an async function or a coroutine is a ``TypeError`` saying what to pass."""
    with pytest.raises(TypeError) as err:
        run(main)  # type: ignore[arg-type]

    expected = "main must be an async function or a coroutine, as in run(main) or run(main())"
    assert f"{expected} (got {got})" == str(err.value)


def test_run_refuses_an_unknown_clock() -> None:
    """A clock other than 'real' or 'virtual' is a ``ValueError`` naming what came."""
    with pytest.raises(ValueError) as err:
        run(answer(), clock="wall")  # type: ignore[arg-type]

    assert "clock must be 'real' or 'virtual' (got 'wall')" == str(err.value)


def test_run_refuses_to_run_inside_a_running_loop() -> None:
    """Called from async code, ``run`` says to await main instead, and starts nothing."""

    async def nested() -> None:
        run(answer)

    with pytest.raises(RuntimeError) as err:
        run(nested, clock="virtual")

    expected = "run() cannot be called from a running event loop; await main() there instead"
    assert expected == str(err.value)
