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


def compare(op: Callable[[], object], baseline: Callable[[], object], runs: int, repeat: int) -> tuple[float, float]:
    """Medians of ``op`` and ``baseline``, timed alternately ``runs`` times, ``repeat`` calls a
    time, in nanoseconds per call: alternating keeps the ratio honest on a busy machine."""
    ours, base = [], []
    for _ in range(runs):
        for fn, times in ((op, ours), (baseline, base)):
            start = time.perf_counter_ns()
            for _ in range(repeat):
                fn()
            times.append((time.perf_counter_ns() - start) / repeat)
    return statistics.median(ours), statistics.median(base)


def touch(items: object) -> None:
    """The baseline for a walk: visit each item once in a Python loop."""
    for _ in items:  # type: ignore[attr-defined]
        pass


def row(name: str, times: tuple[float, float], per: int, unit: str, base_name: str) -> None:
    ours, baseline = times
    print(
        f"{name:<40} {ours / per:>10,.1f} ns/{unit:<8} {base_name:<22} {baseline / per:>10,.1f} ns/{unit:<8}"
        f" ratio {ours / baseline:6.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000-element payloads")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    runs = args.runs
    print(f"immutability check and freeze: medians of {runs} runs, payloads of {n:,} elements")

    ints = tuple(range(n))
    row("check: tuple of ints", compare(lambda: check_immutable(ints), lambda: touch(ints), runs, 1),
        n, "element", "for-loop over it")
    pairs = tuple((i, str(i)) for i in range(n))
    row("check: tuple of (int, str) tuples", compare(lambda: check_immutable(pairs), lambda: touch(pairs), runs, 1),
        n, "element", "for-loop over it")
    data = {str(i): i for i in range(n)}
    fresh = iter([FrozenDict(data) for _ in range(runs)])
    row("check: FrozenDict str->int, first send",
        compare(lambda: check_immutable(next(fresh)), lambda: touch(data.items()), runs, 1),
        n, "element", "for-loop over items")
    cached = FrozenDict(data)
    check_immutable(cached)
    row("check: same FrozenDict, later sends", compare(lambda: check_immutable(cached), lambda: Tell(1), runs, 1000),
        1, "send", "constructing Tell(1)")
    tell = Tell(1)
    row("check: Tell(n=1)", compare(lambda: check_immutable(tell), lambda: Tell(1), runs, 10_000),
        1, "send", "constructing Tell(1)")
    infer = Infer(freeze(np.ones((512, 512), np.float32)))
    row("check: Infer(frozen 1 MB array)", compare(lambda: check_immutable(infer), lambda: Tell(1), runs, 10_000),
        1, "send", "constructing Tell(1)")

    listed = list(range(n))
    row("freeze: list of ints", compare(lambda: freeze(listed), lambda: tuple(listed), runs, 1),
        n, "element", "tuple(list)")
    small = np.arange(16, dtype=np.float32)
    row("freeze: writable 64-byte float32 array", compare(lambda: freeze(small), small.copy, runs, 1000),
        1, "array", "array.copy()")
    array = np.ones((512, 512), np.float32)
    row("freeze: writable 1 MB float32 array", compare(lambda: freeze(array), array.copy, runs, 20),
        1, "array", "array.copy()")


if __name__ == "__main__":
    main()
