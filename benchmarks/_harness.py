"""Shared measuring for the runtime benchmarks: interleaved rounds, fresh interpreters, ratios.

Every benchmark compares our runtime with a baseline written in plain asyncio, in the same run.
A noisy machine (other work, frequency changes) shifts whole stretches of time, so the sides
take turns: each round runs every side once, back to back, and the order rotates by round
(with two sides: ours-raw, raw-ours, ...), so no side always gets the warmer or quieter slot. Each
figure is a median over rounds, and each ratio is the median of the per-round ratios, which are
printed too: their spread says how far to trust the figure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Self

Figures = Mapping[str, Any]
Better = Literal["higher", "lower"]


#: Whether ``Stopwatch`` pauses the cyclic garbage collector while it runs (``--gc`` clears it).
pause_collector = True


class Stopwatch:
    """Wall-clock and CPU seconds of a stretch of code, which may span awaits.

    CPU time is this thread's (``time.thread_time``): on a shared machine a busy neighbour can
    take the core away mid-measurement, which adds to wall time but not to CPU time. The loops
    measured here never wait on I/O or timers, so unloaded, the two agree; when their ratios
    disagree, the machine was busy.

    The cyclic collector is paused inside (after a full collection before): whether a full
    collection of some 100,000 objects lands inside a 20 ms measurement or just after it swung
    single figures 2-4x. Pausing favours the baseline, whose tasks, coroutines and queues are
    more objects for the collector than our idle processes.
    """

    __slots__ = ("_cpu0", "_paused", "_wall0", "cpu", "wall")

    def __enter__(self) -> Self:
        self._paused = pause_collector and gc.isenabled()
        if self._paused:
            gc.collect()
            gc.disable()
        self._wall0 = time.perf_counter()
        self._cpu0 = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.thread_time() - self._cpu0
        self.wall = time.perf_counter() - self._wall0
        if self._paused:
            gc.enable()

    def figures(self, **extra: float) -> Figures:
        """``wall`` and ``cpu`` seconds, with any other figures of the same run."""
        return {"wall": self.wall, "cpu": self.cpu, **extra}


def interleave(rounds: int, sides: Mapping[str, Callable[[], Figures]]) -> dict[str, list[Figures]]:
    """Run each side once per round, in an order that rotates by round.

    Args:
        rounds: how many times each side runs.
        sides: name -> a measurement returning named figures.

    Returns:
        name -> that side's figures, one entry per round, in round order.
    """
    names = list(sides)
    results: dict[str, list[Figures]] = {name: [] for name in names}
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()  # nobody pays for the previous side's garbage
            results[name].append(sides[name]())
    return results


def run_async(measure: Callable[[], Awaitable[Figures]]) -> Callable[[], Figures]:
    """A side that runs ``measure`` on a fresh event loop in this process."""
    return lambda: asyncio.run(measure())


def run_fresh(measure: Callable[..., Awaitable[Figures]], *args: Any) -> Callable[[], Figures]:
    """A side that runs ``measure(*args)`` on a fresh event loop in a fresh interpreter.

    For memory figures: a fresh interpreter has no arenas left over from earlier rounds, so an
    RSS delta counts what this side allocated and nothing else. ``measure`` must be a
    module-level function (it is pickled by name).
    """

    def side() -> Figures:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(_run, measure, args).result()

    return side


def _run(measure: Callable[..., Awaitable[Figures]], args: tuple[Any, ...]) -> Figures:
    return asyncio.run(measure(*args))


def column(results: list[Figures], figure: str) -> list[float]:
    """One figure across rounds."""
    return [result[figure] for result in results]


def per_second(results: list[Figures], count: float) -> tuple[list[float], list[float]]:
    """``count`` per second in each round, by wall-clock time and by CPU time."""
    return [count / r["wall"] for r in results], [count / r["cpu"] for r in results]


def milliseconds(results: list[Figures]) -> tuple[list[float], list[float]]:
    """Each round's wall-clock and CPU milliseconds."""
    return [r["wall"] * 1e3 for r in results], [r["cpu"] * 1e3 for r in results]


def compare(
    title: str,
    unit: str,
    better: Better,
    ours: list[float],
    base: list[float],
    *,
    cpu: tuple[list[float], list[float]] | None = None,
    base_name: str = "raw",
) -> None:
    """Print medians of both sides, the median per-round ratio ours/base, and each round's ratio.

    Args:
        title: what was measured.
        unit: the unit of the printed figures.
        better: whether a higher or a lower figure is the better one.
        ours, base: one figure per round, paired by round (wall-clock based for times).
        cpu: the same figures computed from CPU time (ours, base); adds their median ratio.
        base_name: the baseline's label.
    """
    ratio = _median_ratio(ours, base)
    by_cpu = f"  (CPU time {_median_ratio(*cpu):5.2f}x)" if cpu is not None else " " * 18
    rounds = " ".join(f"{o / b:.2f}" for o, b in zip(ours, base))
    ours_median, base_median = _fmt(statistics.median(ours)), _fmt(statistics.median(base))
    medians = f"ours {ours_median:>11}   {base_name} {base_median:>11}"
    print(f"{title:<66} {unit}, {better} is better")
    print(f"    {medians}   ours/{base_name} {ratio:5.2f}x{by_cpu}   per round {rounds}")


def _median_ratio(ours: list[float], base: list[float]) -> float:
    return statistics.median(o / b for o, b in zip(ours, base, strict=True))


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]
