"""Messaging benchmark: neural-actors against a minimal raw-asyncio actor, in one run.

The baseline is the smallest honest actor on asyncio: an ``asyncio.Queue`` and one task per
actor. Both sides do the same work (count casts, answer calls) and are timed in the same
process, alternating, so the ratios hold on a noisy machine; each figure is the median of
``--runs`` runs.

    python benchmarks/messaging.py            # full sizes (about a minute)
    python benchmarks/messaging.py --quick    # small sizes, a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import gc
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable

import psutil
from neural_actors.runtime import Actor, Runtime, message


@message
class Tell:
    n: int


@message
class Ask:
    n: int


# The actors under test ---------------------------------------------------------------------


class Counter(Actor):
    """Counts casts; resolves ``done`` when ``expected`` have arrived."""

    def init(self, expected: int = 0, done: asyncio.Future[None] | None = None) -> None:
        self.count = 0
        self.expected = expected
        self.done = done

    def handle_cast(self, msg: Tell) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set_result(None)

    def handle_call(self, msg: Ask, caller: object) -> int:
        return msg.n


class RawActor:
    """The baseline: one queue, one task, a loop of ``await queue.get()``."""

    def __init__(self, expected: int = 0, done: asyncio.Future[None] | None = None) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.count = 0
        self.expected = expected
        self.done = done
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        queue = self.queue
        while True:
            msg = await queue.get()
            if type(msg) is tuple:  # an ask: (request, reply future)
                msg[1].set_result(msg[0].n)
            else:
                self.count += 1
                if self.count == self.expected:
                    self.done.set_result(None)


# Measurements ------------------------------------------------------------------------------


async def tell_ours(n: int) -> float:
    async with Runtime() as rt:
        done = asyncio.get_running_loop().create_future()
        pid = rt.spawn(Counter, n, done)
        messages = [Tell(i) for i in range(n)]
        start = time.perf_counter()
        for msg in messages:
            rt.cast(pid, msg)
        await done
        return n / (time.perf_counter() - start)


async def tell_raw(n: int) -> float:
    done = asyncio.get_running_loop().create_future()
    actor = RawActor(n, done)
    messages = [Tell(i) for i in range(n)]
    start = time.perf_counter()
    for msg in messages:
        actor.queue.put_nowait(msg)
    await done
    elapsed = time.perf_counter() - start
    actor.task.cancel()
    return n / elapsed


async def ask_ours(n: int) -> tuple[float, float, float]:
    async with Runtime() as rt:
        pid = rt.spawn(Counter)
        return await _time_asks(n, lambda i: rt.call(pid, Ask(i)))


async def ask_raw(n: int) -> tuple[float, float, float]:
    actor = RawActor()
    loop = asyncio.get_running_loop()

    def ask(i: int) -> asyncio.Future[int]:
        reply = loop.create_future()
        actor.queue.put_nowait((Ask(i), reply))
        return reply

    result = await _time_asks(n, ask)
    actor.task.cancel()
    return result


async def _time_asks(n: int, ask: Callable[[int], Awaitable[int]]) -> tuple[float, float, float]:
    latencies = []
    clock = time.perf_counter_ns
    start = time.perf_counter()
    for i in range(n):
        t0 = clock()
        await ask(i)
        latencies.append(clock() - t0)
    elapsed = time.perf_counter() - start
    latencies.sort()
    return n / elapsed, latencies[len(latencies) // 2] / 1e3, latencies[int(len(latencies) * 0.99)] / 1e3


async def spawn_ours(n: int) -> tuple[float, float]:
    async with Runtime() as rt:
        gc.collect()
        rss0 = psutil.Process().memory_info().rss
        start = time.perf_counter()
        for _ in range(n):
            rt.spawn(Counter)
        await rt.wait_idle()  # every init has run: the actors are alive and idle
        elapsed = time.perf_counter() - start
        gc.collect()
        per_actor = (psutil.Process().memory_info().rss - rss0) / n
        return n / elapsed, per_actor


async def spawn_raw(n: int) -> tuple[float, float]:
    gc.collect()
    rss0 = psutil.Process().memory_info().rss
    start = time.perf_counter()
    actors = [RawActor() for _ in range(n)]
    await asyncio.sleep(0)  # every task has started and waits on its queue
    elapsed = time.perf_counter() - start
    gc.collect()
    per_actor = (psutil.Process().memory_info().rss - rss0) / n
    for actor in actors:
        actor.task.cancel()
    await asyncio.sleep(0)
    return n / elapsed, per_actor


async def fanout_ours(actors: int, rounds: int) -> float:
    async with Runtime() as rt:
        loop = asyncio.get_running_loop()
        done = [loop.create_future() for _ in range(actors)]
        pids = [rt.spawn(Counter, rounds, d) for d in done]
        await rt.wait_idle()
        msg = Tell(0)
        start = time.perf_counter()
        for _ in range(rounds):
            for pid in pids:
                rt.cast(pid, msg)
            await asyncio.sleep(0)
        await asyncio.gather(*done)
        return actors * rounds / (time.perf_counter() - start)


async def fanout_raw(actors: int, rounds: int) -> float:
    loop = asyncio.get_running_loop()
    done = [loop.create_future() for _ in range(actors)]
    raws = [RawActor(rounds, d) for d in done]
    await asyncio.sleep(0)
    msg = Tell(0)
    start = time.perf_counter()
    for _ in range(rounds):
        for raw in raws:
            raw.queue.put_nowait(msg)
        await asyncio.sleep(0)
    await asyncio.gather(*done)
    elapsed = time.perf_counter() - start
    for raw in raws:
        raw.task.cancel()
    return actors * rounds / elapsed


# Report ------------------------------------------------------------------------------------


def median_of(runs: int, measure: Callable[[], Awaitable[object]], fresh: bool = False) -> object:
    """Median of ``runs`` runs; ``fresh`` runs each in a new interpreter (for RSS figures)."""
    if fresh:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, max_tasks_per_child=1) as pool:
            results = [pool.submit(_run_fresh, measure).result() for _ in range(runs)]
    else:
        results = [asyncio.run(measure()) for _ in range(runs)]
    if isinstance(results[0], tuple):
        return tuple(statistics.median(column) for column in zip(*results))
    return statistics.median(results)  # type: ignore[type-var]


def _run_fresh(measure: Callable[[], Awaitable[object]]) -> object:
    return asyncio.run(measure())


def line(name: str, ours: float, raw: float, unit: str, target: str = "") -> None:
    ratio = ours / raw if raw else float("nan")
    print(f"{name:<34} ours {ours:>12,.1f} {unit:<9} raw {raw:>12,.1f} {unit:<9} ratio {ratio:5.2f}x  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median reported)")
    args = parser.parse_args()
    tells, asks, spawns, fan, rounds = (20_000, 2_000, 2_000, 200, 10) if args.quick else (200_000, 20_000, 10_000, 1_000, 50)
    runs = 3 if args.quick else args.runs

    print(f"neural-actors messaging benchmark: medians of {runs} runs (baseline: raw asyncio.Queue actor)")
    ours = median_of(runs, lambda: tell_ours(tells))
    raw = median_of(runs, lambda: tell_raw(tells))
    line(f"tell, 1 sender, {tells:,} msgs", ours, raw, "msg/s", "target >= 0.70x")

    ours_rate, ours_p50, ours_p99 = median_of(runs, lambda: ask_ours(asks))
    raw_rate, raw_p50, raw_p99 = median_of(runs, lambda: ask_raw(asks))
    line(f"ask round trips, {asks:,}", ours_rate, raw_rate, "ask/s", "target >= 0.70x")
    line("ask latency p50", ours_p50, raw_p50, "us")
    line("ask latency p99", ours_p99, raw_p99, "us")

    ours_rate, ours_rss = median_of(runs, functools.partial(spawn_ours, spawns), fresh=True)
    raw_rate, raw_rss = median_of(runs, functools.partial(spawn_raw, spawns), fresh=True)
    line(f"spawn {spawns:,} idle actors", ours_rate, raw_rate, "spawn/s", "target >= 50,000/s")
    line("RSS per idle actor", ours_rss / 1024, raw_rss / 1024, "KiB", "target <= 3 KiB")

    ours = median_of(runs, lambda: fanout_ours(fan, rounds))
    raw = median_of(runs, lambda: fanout_raw(fan, rounds))
    line(f"fan-out to {fan:,} actors x {rounds}", ours, raw, "msg/s")


if __name__ == "__main__":
    main()
