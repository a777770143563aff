"""Messaging between nodes on Ray, beside local messaging and beside bare Ray actor calls.

Everything is measured from inside node 0 (a Ray actor process), in the same run:

- **tell**: N casts from node 0, counted by an actor that answers once it has them all:
  to an actor on node 0 itself (local), to one on node 1 (remote: batched, one Ray call per
  destination and loop turn), and N fire-and-forget ``.remote()`` calls to a bare async Ray
  actor (one Ray call per message, what a naive transport would do).
- **ask**: sequential calls, one at a time (latency per call, p50 and p99): local, remote, and
  ``await actor.echo.remote(x)`` on the bare Ray actor.
- **ask, pipelined**: the same calls with ``CONCURRENCY`` in flight at once (throughput).

Each round runs every case once, rotating which goes first; figures are medians over rounds,
and each ratio is the median of the per-round ratios (which are printed too). Payloads are
small ints, so the figures are the cost of messaging itself. The bare Ray cases send a tenth
as many tells and a quarter as many pipelined asks (at some 2,000 calls/s they would take
minutes otherwise); the figures are rates, so they compare.

    python benchmarks/nodes.py            # full sizes (about two minutes, a quarter of it Ray starting)
    python benchmarks/nodes.py --quick    # small sizes (CI smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import ray

from neural_actors.nodes import cluster
from neural_actors.runtime import Actor, NoReply, Pid, Runtime

CONCURRENCY = 64


class Counter(Actor):
    """Counts casts; ``("until", n)`` is answered once ``n`` have come; echoes other calls."""

    def init(self) -> None:
        self.count = 0
        self.waiting: list[tuple[int, Any]] = []

    def handle_cast(self, msg: Any) -> None:
        self.count += 1
        if self.waiting and self.count >= self.waiting[0][0]:
            for _, caller in self.waiting:
                caller.reply(self.count)
            self.waiting = []

    def handle_call(self, msg: Any, caller: Any) -> Any:
        if type(msg) is tuple and msg[0] == "until":
            if self.count >= msg[1]:
                return self.count
            self.waiting.append((msg[1], caller))
            return NoReply
        if msg == "reset":
            self.count = 0
            return 0
        return msg


class Sink:
    """A bare async Ray actor: counts ``tell``s, answers ``until`` when enough came, echoes."""

    def __init__(self) -> None:
        self.count = 0
        self.last = -1
        self.overtaken = 0  # tells that ran before one sent earlier: Ray's order, not ours
        self.target = 0
        self.reached: asyncio.Event | None = None

    async def tell(self, msg: Any) -> None:
        self.count += 1
        self.overtaken += msg < self.last
        self.last = msg
        if self.reached is not None and self.count >= self.target:
            self.reached.set()

    async def until(self, count: int) -> int:
        if self.count < count:
            self.target, self.reached = count, asyncio.Event()
            await self.reached.wait()
            self.reached = None
        return self.count

    async def reset(self) -> None:
        self.count = 0
        self.last = -1

    async def disorder(self) -> int:
        return self.overtaken

    async def echo(self, msg: Any) -> Any:
        return msg


# What node 0 runs (each returns its own timings) ---------------------------------------------


async def tell(runtime: Runtime, counter: Pid, count: int) -> float:
    """Seconds for ``count`` casts to ``counter`` to be counted."""
    await runtime.call(counter, "reset")
    start = time.perf_counter()
    for i in range(count):
        runtime.cast(counter, i)
    await runtime.call(counter, ("until", count), timeout=None)
    return time.perf_counter() - start


async def tell_ray(runtime: Runtime, sink: Any, count: int) -> float:
    """Seconds for ``count`` fire-and-forget Ray calls to be counted by the bare actor."""
    await sink.reset.remote()
    start = time.perf_counter()
    for i in range(count):
        sink.tell.remote(i)
    await sink.until.remote(count)
    return time.perf_counter() - start


async def ask(runtime: Runtime, target: Pid, count: int) -> list[float]:
    """Seconds of each of ``count`` calls made one after another."""
    times = []
    for i in range(count):
        start = time.perf_counter()
        await runtime.call(target, i)
        times.append(time.perf_counter() - start)
    return times


async def ask_ray(runtime: Runtime, sink: Any, count: int) -> list[float]:
    times = []
    for i in range(count):
        start = time.perf_counter()
        await sink.echo.remote(i)
        times.append(time.perf_counter() - start)
    return times


async def pipelined(runtime: Runtime, target: Pid, count: int) -> float:
    """Seconds for ``count`` calls made by ``CONCURRENCY`` callers at once."""

    async def caller(n: int) -> None:
        for i in range(n):
            await runtime.call(target, i)

    start = time.perf_counter()
    await asyncio.gather(*(caller(count // CONCURRENCY) for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


async def pipelined_ray(runtime: Runtime, sink: Any, count: int) -> float:
    async def caller(n: int) -> None:
        for i in range(n):
            await sink.echo.remote(i)

    start = time.perf_counter()
    await asyncio.gather(*(caller(count // CONCURRENCY) for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


# The run ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--rounds", type=int, default=None)
    options = parser.parse_args()
    tells, asks, pipes, rounds = (2_000, 200, 1_280, 2) if options.quick else (50_000, 2_000, 12_800, 5)
    rounds = options.rounds or rounds
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with cluster(2, runtime={"log_level": "error"}) as nodes:
        local = nodes.start(0, Counter)
        remote = nodes.start(1, Counter)
        # The bare actor runs where node 1 does not: Ray places it; both are one hop from node 0.
        sink = ray.remote(Sink).options(num_cpus=0).remote()
        ray.get(sink.reset.remote())
        cases = {
            "tell local": lambda: tells / nodes.run(0, tell, local, tells),
            "tell remote": lambda: tells / nodes.run(0, tell, remote, tells),
            "tell bare Ray": lambda: tells // 10 / nodes.run(0, tell_ray, sink, tells // 10),
            "ask local": lambda: nodes.run(0, ask, local, asks),
            "ask remote": lambda: nodes.run(0, ask, remote, asks),
            "ask bare Ray": lambda: nodes.run(0, ask_ray, sink, asks),
            "pipelined remote": lambda: pipes / nodes.run(0, pipelined, remote, pipes),
            "pipelined bare Ray": lambda: pipes // 4 / nodes.run(0, pipelined_ray, sink, pipes // 4),
        }
        for case in cases.values():  # warm up: imports, connections, first batches
            case()
        results: dict[str, list[Any]] = {name: [] for name in cases}
        names = list(cases)
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                results[name].append(cases[name]())
        statistics_ = nodes.statistics(0)
        overtaken = ray.get(sink.disorder.remote())
    report(results, tells, asks, pipes, rounds, statistics_)
    print(f"bare Ray: {overtaken:,} tells ran before one sent earlier by the same caller (Ray keeps no order "
          "for async actors; the route's sequence numbers do)")


def report(results: dict[str, list[Any]], tells: int, asks: int, pipes: int, rounds: int, route: Any) -> None:
    def median(name: str) -> float:
        return statistics.median(results[name])

    def latency(name: str, fraction: float) -> list[float]:
        return [sorted(times)[int(fraction * (len(times) - 1))] * 1e6 for times in results[name]]

    def ratio(ours: list[float], base: list[float]) -> tuple[float, list[float]]:
        each = [a / b for a, b in zip(ours, base)]
        return statistics.median(each), each

    print(f"nodes benchmark: {rounds} rounds; {tells} tells, {asks} sequential asks, {pipes} pipelined asks "
          f"({CONCURRENCY} in flight); from node 0")
    print("\ntell (messages/s, higher is better)")
    for name in ("tell local", "tell remote", "tell bare Ray"):
        print(f"  {name:<18} {median(name):>12,.0f}")
    beat, each = ratio(results["tell remote"], results["tell bare Ray"])
    print(f"  remote / bare Ray: {beat:.1f}x  (per round: {', '.join(f'{r:.1f}' for r in each)})")
    share, _ = ratio(results["tell remote"], results["tell local"])
    print(f"  remote / local:    {share:.2f}x")
    print("\nask, one at a time (microseconds per call, lower is better)")
    for name in ("ask local", "ask remote", "ask bare Ray"):
        p50 = statistics.median(latency(name, 0.5))
        p99 = statistics.median(latency(name, 0.99))
        print(f"  {name:<18} p50 {p50:>9,.0f}   p99 {p99:>9,.0f}")
    slower, each = ratio(latency("ask remote", 0.5), latency("ask bare Ray", 0.5))
    print(f"  remote / bare Ray p50: {slower:.2f}x  (per round: {', '.join(f'{r:.2f}' for r in each)})")
    print(f"\nask, pipelined ({CONCURRENCY} in flight; calls/s, higher is better)")
    for name in ("pipelined remote", "pipelined bare Ray"):
        print(f"  {name:<18} {median(name):>12,.0f}")
    beat, each = ratio(results["pipelined remote"], results["pipelined bare Ray"])
    print(f"  remote / bare Ray: {beat:.2f}x  (per round: {', '.join(f'{r:.2f}' for r in each)})")
    per_batch = route.records_sent / max(1, route.batches_sent)
    print(f"\nnode 0 sent {route.records_sent:,} records in {route.batches_sent:,} batches "
          f"({per_batch:.1f} per Ray call)")


if __name__ == "__main__":
    main()
