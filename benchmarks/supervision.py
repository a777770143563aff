"""Supervision benchmark: restart latency per strategy, a restart as a client by name sees it,
and memory across many restarts.

Restart latency is measured from the crash to the restarted child answering a call, as a
client sees it. Two comparisons, each in the same run:

- per strategy, against the cheapest possible "restart": spawning a fresh actor by hand and
  calling it, with no supervisor in between (supervisor reports filtered out);
- one_for_one with the child registered by name, against a hand-written asyncio supervisor (a
  task awaiting a worker task, restarting it on an exception and registering it in a dict by
  name); with reports filtered, and with structlog's default configuration writing to
  /dev/null, so the crash reports are formatted as a default user's are, but not shown.

The sides take turns: each round runs every side once, each on a fresh loop, in an order that
rotates by round. See docs/benchmarks.md.

    python benchmarks/supervision.py            # 10,000 restarts per side, RSS over 100,000
    python benchmarks/supervision.py --quick    # small sizes, a few seconds (CI smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import logging
import os
import statistics
import time
from collections.abc import Awaitable, Callable, Hashable

import psutil
import structlog
from _harness import Figures, column, compare, interleave, percentile
from neural_actors.runtime import Actor, ActorExited, Runtime
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags

STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
ROUNDS = 5


class Target(Actor):
    """Registers as ``target`` when it starts if asked; crashes on any cast; answers calls."""

    def init(self, register: bool = False) -> None:
        if register:
            self.runtime.register("target", self.pid)

    def handle_cast(self, msg: object) -> None:
        raise RuntimeError("crash")

    def handle_call(self, msg: object, caller: object) -> str:
        return "pong"


# Per strategy: crash -> the new child answers a call by pid --------------------------------


async def restart_latencies(strategy: str, restarts: int) -> Figures:
    """Microseconds from each crash to the new child's reply."""
    async with Runtime() as rt:
        children = [ChildSpec(id="target", start=(Target, (True,)))]
        children += [ChildSpec(id=f"sibling-{i}", start=(Target, ())) for i in range(2)]
        flags = SupervisorFlags(strategy=strategy, intensity=restarts + 1, period=3600)
        await rt.start(Supervisor, flags, children)
        latencies = []
        for _ in range(restarts):
            old = rt.whereis("target")
            start = time.perf_counter_ns()
            rt.cast(old, "crash")
            pid = rt.whereis("target")
            while pid is None or pid == old:
                await asyncio.sleep(0)
                pid = rt.whereis("target")
            await rt.call(pid, "ping")
            latencies.append((time.perf_counter_ns() - start) / 1e3)
        return {"latencies": latencies}


async def respawn_latencies(restarts: int) -> Figures:
    """The baseline: kill and respawn by hand, then call."""
    async with Runtime() as rt:
        pid = rt.spawn(Target)
        latencies = []
        for _ in range(restarts):
            start = time.perf_counter_ns()
            rt.exit(pid, "kill")
            pid = rt.spawn(Target)
            await rt.call(pid, "ping")
            latencies.append((time.perf_counter_ns() - start) / 1e3)
        return {"latencies": latencies}


# one_for_one as a client by name sees it ---------------------------------------------------
#
# The client crashes the child with a cast by name and at once calls it by name. That call
# lands behind the crash and fails; so do calls made while the name is unregistered; the
# client retries each failed call after one yield, until the restarted child answers. Both
# sides run this same client; the time is from the crash to the answer.


async def _client_restarts(
    restarts: int,
    crash: Callable[[], None],
    call: Callable[[], Awaitable[object]],
    failure: type[Exception],
) -> Figures:
    latencies = []
    failed = 0
    for _ in range(restarts):
        start = time.perf_counter_ns()
        crash()
        while True:
            try:
                await call()
                break
            except failure:
                failed += 1
                await asyncio.sleep(0)
        latencies.append((time.perf_counter_ns() - start) / 1e3)
    return {"latencies": latencies, "failed": failed / restarts}


async def by_name_ours(restarts: int) -> Figures:
    async with Runtime() as rt:
        flags = SupervisorFlags(intensity=restarts + 1, period=3600)
        await rt.start(
            Supervisor, flags, [ChildSpec(id="worker", start=(Target, ()), name="worker")]
        )
        return await _client_restarts(
            restarts,
            lambda: rt.cast("worker", "crash"),
            lambda: rt.call("worker", "ping"),
            ActorExited,
        )


class WorkerExited(Exception):
    """Raised when the baseline's worker is not running, or exits while a call is pending."""


class RawWorker:
    """The baseline's child: a task reading a queue, registered by name while it runs.

    When it exits it frees its name and fails its pending calls, as our runtime does, so a
    client never waits on a dead worker.
    """

    def __init__(self, name: Hashable, registry: dict[Hashable, RawWorker]) -> None:
        self.name = name
        self.registry = registry
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self.run())
        registry[name] = self

    async def run(self) -> None:
        queue = self.queue
        try:
            while True:
                msg = await queue.get()
                if type(msg) is tuple:  # a call: (request, reply future)
                    msg[1].set_result("pong")
                else:
                    raise RuntimeError("crash")
        finally:
            if self.registry.get(self.name) is self:
                del self.registry[self.name]
            while not queue.empty():
                item = queue.get_nowait()
                if type(item) is tuple and not item[1].done():
                    item[1].set_exception(WorkerExited(self.name))


async def raw_supervisor(name: Hashable, registry: dict[Hashable, RawWorker], log: bool) -> None:
    """Restart the worker whenever it raises; with ``log``, log each crash as an error."""
    logger = structlog.get_logger("raw_supervisor").bind(child=name) if log else None
    while True:
        worker = RawWorker(name, registry)
        try:
            await worker.task
        except Exception as exc:  # a crash of the child is what we supervise
            if logger is not None:
                logger.error("child_crashed", exc_info=exc)
        else:
            return


async def by_name_raw(restarts: int, log: bool = False) -> Figures:
    registry: dict[Hashable, RawWorker] = {}
    supervisor = asyncio.get_running_loop().create_task(raw_supervisor("worker", registry, log))
    await asyncio.sleep(0)  # the first worker is running

    def crash() -> None:
        registry["worker"].queue.put_nowait("crash")

    async def call() -> object:
        worker = registry.get("worker")
        if worker is None:
            raise WorkerExited("worker")
        reply = asyncio.get_running_loop().create_future()
        worker.queue.put_nowait(("ping", reply))
        return await reply

    figures = await _client_restarts(restarts, crash, call, WorkerExited)
    supervisor.cancel()
    try:
        await supervisor
    except asyncio.CancelledError:
        pass
    return figures


# Logging configurations --------------------------------------------------------------------

DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - the sink for the whole run


def filtered_logging() -> None:
    """Reports at a level below CRITICAL cost a bare return: the machinery alone is timed."""
    structlog.reset_defaults()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def default_logging() -> None:
    """structlog's defaults (ConsoleRenderer, tracebacks formatted), printed to /dev/null."""
    structlog.reset_defaults()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(DEVNULL))


def side(
    configure: Callable[[], None], measure: Callable[[], Awaitable[Figures]]
) -> Callable[[], Figures]:
    def run() -> Figures:
        configure()
        return asyncio.run(measure())

    return run


# Memory across restarts --------------------------------------------------------------------


async def rss_growth(restarts: int) -> tuple[float, float]:
    """RSS (MiB) after a warm-up of restarts, and after ``restarts`` more."""
    async with Runtime() as rt:
        # A short period keeps the intensity window (one timestamp per restart) small, so any
        # growth measured here is a leak, not the window doing its job.
        flags = SupervisorFlags(intensity=10 * restarts, period=0.1)
        await rt.start(Supervisor, flags, [ChildSpec(id="target", start=(Target, (True,)))])

        async def crash(times: int) -> None:
            for _ in range(times):
                old = rt.whereis("target")
                rt.cast(old, "crash")
                while rt.whereis("target") in (None, old):
                    await asyncio.sleep(0)

        await crash(restarts // 10)
        gc.collect()
        before = psutil.Process().memory_info().rss / 2**20
        await crash(restarts)
        gc.collect()
        return before, psutil.Process().memory_info().rss / 2**20


# Report ------------------------------------------------------------------------------------


def latency(title: str, ours: list[Figures], base: list[Figures], base_name: str) -> None:
    """Compare per-round median latencies, then print p50 and p99 over all restarts."""
    ours_medians = [statistics.median(r["latencies"]) for r in ours]
    base_medians = [statistics.median(r["latencies"]) for r in base]
    compare(title, "us", "lower", ours_medians, base_medians, base_name=base_name)
    print(f"      over all restarts: ours {_tail(ours)}; {base_name} {_tail(base)}")


def _tail(rounds: list[Figures]) -> str:
    latencies = [x for r in rounds for x in r["latencies"]]
    return f"p50 {percentile(latencies, 0.5):.1f} us, p99 {percentile(latencies, 0.99):.1f} us"


HEADER = """\
{restarts:,} restarts per side in {rounds} rounds on the real clock. Each round runs every side
once, each on a fresh loop, in an order that rotates by round. Figures are medians of the
per-round median latencies; ours/base is the median of the per-round ratios, and "per round"
lists them. Garbage collector on (pauses show in p99).
"""

STRATEGY_NOTE = """\
restart latency per strategy: crash -> the new child answers a call by pid; reports filtered
  baseline: no supervisor; kill the child and spawn a new one by hand, then call it"""

BY_NAME_NOTE = """\
one_for_one restart as seen by a client by name: the client crashes the child (a cast by name)
and calls it by name, retrying each failed call after one yield; time from crash to answer
  raw: a hand-written asyncio supervisor task awaiting a worker task (a queue), restarting it
  on an exception and registering it by name in a dict; it logs nothing unless stated"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes, a few seconds")
    args = parser.parse_args()
    restarts, soak = (500, 5_000) if args.quick else (10_000, 100_000)
    n = restarts // ROUNDS
    started = time.perf_counter()
    quick = " (--quick: smoke sizes, figures not to be quoted)" if args.quick else ""
    print(f"neural-actors supervision benchmark{quick}")
    print(HEADER.format(restarts=restarts, rounds=ROUNDS))

    print(STRATEGY_NOTE)
    sides = {"baseline": side(filtered_logging, functools.partial(respawn_latencies, n))}
    for strategy in STRATEGIES:
        sides[strategy] = side(filtered_logging, functools.partial(restart_latencies, strategy, n))
    runs = interleave(ROUNDS, sides)
    for strategy in STRATEGIES:
        latency(f"  {strategy} (3 children)", runs[strategy], runs["baseline"], "baseline")

    print(f"\n{BY_NAME_NOTE}")
    runs = interleave(
        ROUNDS,
        {
            "ours filtered": side(filtered_logging, functools.partial(by_name_ours, n)),
            "ours default": side(default_logging, functools.partial(by_name_ours, n)),
            "raw": side(filtered_logging, functools.partial(by_name_raw, n)),
            "raw logging": side(default_logging, functools.partial(by_name_raw, n, log=True)),
        },
    )
    default = runs["ours default"]
    latency("  ours, reports filtered", runs["ours filtered"], runs["raw"], "raw")
    latency("  ours, structlog's default configuration, to /dev/null", default, runs["raw"], "raw")
    latency(
        "  the same, raw logging each crash (structlog defaults)",
        default,
        runs["raw logging"],
        "raw+log",
    )
    failed = ", ".join(
        f"{name} {statistics.mean(column(r, 'failed')):.2f}" for name, r in runs.items()
    )
    print(f"  failed calls per restart, as the client saw them: {failed}")

    filtered_logging()
    before, after = asyncio.run(rss_growth(soak))
    growth = f"{before:.1f} MiB -> {after:.1f} MiB ({after - before:+.1f} MiB)"
    print(f"\nRSS over {soak:,} one_for_one restarts, reports filtered: {growth}")
    print(f"\ntook {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
