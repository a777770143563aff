"""Cost of the send-time immutability check and of ``freeze``, against same-run baselines.

The check runs on every send, so its cost per message and per element is what a sender pays.
Each row times one operation and a baseline doing comparable plain-Python work on the same
data in the same process, and prints both with their ratio; each figure is the median of
``--runs`` runs.

    python benchmarks/messages.py            # 100,000-element payloads (a few seconds)
    python benchmarks/messages.py --quick    # 10,000 elements
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from neural_actors.runtime import FrozenDict, check_immutable, freeze, message


@message
class Tell:
    n: int


@message
class Infer:
    batch: object
    tag: str = ""


def median_ns(fn: Callable[[], object], runs: int, repeat: int = 1) -> float:
    """Median over ``runs`` of the time of ``repeat`` calls, per call, in nanoseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        for _ in range(repeat):
            fn()
        times.append((time.perf_counter_ns() - start) / repeat)
    return statistics.median(times)


def touch(items: object) -> None:
    """The baseline for a walk: visit each item once in a Python loop."""
    for _ in items:  # type: ignore[attr-defined]
        pass


def row(name: str, ours: float, baseline: float, per: int, unit: str, base_name: str) -> None:
    print(
        f"{name:<42} {ours / per:>10,.1f} ns/{unit:<8} {base_name:<24} {baseline / per:>10,.1f} ns/{unit:<8}"
        f" ratio {ours / baseline:6.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000-element payloads")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    runs = args.runs
    print(f"immutability check and freeze: medians of {runs} runs, payloads of {n:,} elements")

    ints = tuple(range(n))
    row("check: tuple of ints", median_ns(lambda: check_immutable(ints), runs), median_ns(lambda: touch(ints), runs),
        n, "element", "for-loop over it")

    pairs = tuple((i, str(i)) for i in range(n))
    row("check: tuple of (int, str) tuples", median_ns(lambda: check_immutable(pairs), runs),
        median_ns(lambda: touch(pairs), runs), n, "element", "for-loop over it")

    data = {str(i): i for i in range(n)}
    fresh = [FrozenDict(data) for _ in range(runs)]
    first = statistics.median(_time_each(check_immutable, fresh))
    row("check: FrozenDict str->int, first send", first, median_ns(lambda: touch(data.items()), runs), n,
        "element", "for-loop over items")
    cached = fresh[0]
    row("check: same FrozenDict, later sends", median_ns(lambda: check_immutable(cached), runs, 1000),
        median_ns(lambda: Tell(1), runs, 1000), 1, "send", "constructing Tell(1)")

    tell = Tell(1)
    row("check: Tell(n=1)", median_ns(lambda: check_immutable(tell), runs, 10_000),
        median_ns(lambda: Tell(1), runs, 10_000), 1, "send", "constructing Tell(1)")
    weights = freeze(np.ones((512, 512), np.float32))
    infer = Infer(weights)
    row("check: Infer(frozen 1 MB array)", median_ns(lambda: check_immutable(infer), runs, 10_000),
        median_ns(lambda: Tell(1), runs, 10_000), 1, "send", "constructing Tell(1)")

    listed = list(range(n))
    row("freeze: list of ints", median_ns(lambda: freeze(listed), runs), median_ns(lambda: tuple(listed), runs),
        n, "element", "tuple(list)")
    array = np.ones((512, 512), np.float32)
    row("freeze: writable 1 MB float32 array", median_ns(lambda: freeze(array), runs, 20),
        median_ns(lambda: array.copy(), runs, 20), 1, "array", "array.copy()")


def _time_each(fn: Callable[[object], object], values: list[object]) -> list[float]:
    """The time of ``fn`` on each value once, in nanoseconds (for work that caches its result)."""
    times = []
    for value in values:
        start = time.perf_counter_ns()
        fn(value)
        times.append(time.perf_counter_ns() - start)
    return times


if __name__ == "__main__":
    main()
