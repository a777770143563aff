"""Messaging benchmark: neural-actors against a minimal raw-asyncio actor, in one run.

The baseline is the smallest honest actor on asyncio: an ``asyncio.Queue`` and one task per
actor. Both sides do the same work (count casts, answer calls, start, stop) and take turns:
each round runs ours and raw back to back in this process, each on a fresh event loop, and
which goes first alternates by round (ours-raw, raw-ours, ...). Memory is measured the same
way but each side runs in a fresh interpreter, so one side's arenas never count for the other.
Each figure is the median over rounds; each ratio is the median of the per-round ratios, and
the per-round ratios are printed beside it. See docs/benchmarks.md.

    python benchmarks/messaging.py            # full sizes (well under a minute)
    python benchmarks/messaging.py --quick    # small sizes, a few seconds (CI smoke run)
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import time
import tracemalloc
from collections.abc import Awaitable, Callable

import _harness
import attrs
import psutil
from _harness import (
    Figures,
    Stopwatch,
    column,
    compare,
    interleave,
    milliseconds,
    per_second,
    percentile,
    run_async,
    run_fresh,
)
from neural_actors.runtime import Actor, Runtime, message


@message
class Tell:
    n: int


@message
class Ask:
    n: int


# The actors under test ---------------------------------------------------------------------


class Counter(Actor):
    """Counts casts; resolves ``done`` when ``expected`` have arrived; answers calls."""

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

    def ask(self, request: Ask) -> asyncio.Future[int]:
        reply = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((request, reply))
        return reply


async def stop_raw_actors(actors: list[RawActor]) -> None:
    """Cancel every task first, then await each: they all finish in the same loop pass.

    Awaiting each in turn beats ``gather`` and ``asyncio.wait`` here (measured at 10,000 idle
    tasks: about 22 ms against 35 ms for either), since after the first await every other task
    is already done and costs no callback.
    """
    tasks = [actor.task for actor in actors]
    for task in tasks:
        task.cancel()
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # we were cancelled ourselves: pass it on
                raise


# tell: one sender casts n messages to one actor --------------------------------------------


async def tell_ours(n: int) -> Figures:
    async with Runtime() as rt:
        done = asyncio.get_running_loop().create_future()
        pid = rt.spawn(Counter, n, done)
        messages = [Tell(i) for i in range(n)]
        with Stopwatch() as watch:
            for msg in messages:
                rt.cast(pid, msg)
            await done
        return watch.figures()


async def tell_raw(n: int) -> Figures:
    done = asyncio.get_running_loop().create_future()
    actor = RawActor(n, done)
    messages = [Tell(i) for i in range(n)]
    with Stopwatch() as watch:
        for msg in messages:
            actor.queue.put_nowait(msg)
        await done
    await stop_raw_actors([actor])
    return watch.figures()


# ask: n round trips, one at a time ---------------------------------------------------------


async def ask_ours(n: int) -> Figures:
    async with Runtime() as rt:
        pid = rt.spawn(Counter)
        return await _time_asks(n, lambda i: rt.call(pid, Ask(i)))


async def ask_raw(n: int) -> Figures:
    actor = RawActor()
    figures = await _time_asks(n, lambda i: actor.ask(Ask(i)))
    await stop_raw_actors([actor])
    return figures


async def _time_asks(n: int, ask: Callable[[int], Awaitable[int]]) -> Figures:
    latencies = []
    clock = time.perf_counter_ns
    with Stopwatch() as watch:
        for i in range(n):
            t0 = clock()
            await ask(i)
            latencies.append(clock() - t0)
    return watch.figures(
        p50=percentile(latencies, 0.5) / 1e3, p99=percentile(latencies, 0.99) / 1e3
    )


# spawn: n idle actors, until every one has started -----------------------------------------


async def spawn_ours(n: int) -> Figures:
    async with Runtime() as rt:
        with Stopwatch() as watch:
            for _ in range(n):
                rt.spawn(Counter)
            await rt.wait_idle()  # every init has run: the actors are alive and idle
        return watch.figures()


async def spawn_raw(n: int) -> Figures:
    with Stopwatch() as watch:
        actors = [RawActor() for _ in range(n)]
        await asyncio.sleep(0)  # every task has started and waits on its queue
    await stop_raw_actors(actors)
    return watch.figures()


# stop: n idle actors ------------------------------------------------------------------------


async def stop_ours_shutdown(n: int) -> Figures:
    rt = Runtime()
    await rt.start_runtime()
    for _ in range(n):
        rt.spawn(Counter)
    await rt.wait_idle()
    with Stopwatch() as watch:
        await rt.shutdown()
    return watch.figures()


async def stop_ours_each(n: int) -> Figures:
    async with Runtime() as rt:
        pids = [rt.spawn(Counter) for _ in range(n)]
        await rt.wait_idle()
        with Stopwatch() as watch:
            for pid in pids:
                await rt.stop(pid)
        return watch.figures()


async def stop_raw(n: int) -> Figures:
    actors = [RawActor() for _ in range(n)]
    await asyncio.sleep(0)
    with Stopwatch() as watch:
        await stop_raw_actors(actors)
    return watch.figures()


# fan-out: one sender casts to many actors, round after round -------------------------------
#
# Two shapes. "Yield per round": the sender yields to the loop after each round, as a sender
# that does other work between rounds would; every raw task then wakes once per message (a
# task switch each), while our scheduler runs all woken actors in one callback. "Batch then
# drain": the sender casts every round without yielding and then waits; each raw task wakes
# once and drains its queue, so this shape shows the per-message cost without the wake-ups.


async def fanout_ours(actors: int, rounds: int, yield_per_round: bool) -> Figures:
    async with Runtime() as rt:
        loop = asyncio.get_running_loop()
        done = [loop.create_future() for _ in range(actors)]
        pids = [rt.spawn(Counter, rounds, d) for d in done]
        await rt.wait_idle()
        msg = Tell(0)
        with Stopwatch() as watch:
            for _ in range(rounds):
                for pid in pids:
                    rt.cast(pid, msg)
                if yield_per_round:
                    await asyncio.sleep(0)
            await asyncio.gather(*done)
        return watch.figures()


async def fanout_raw(actors: int, rounds: int, yield_per_round: bool) -> Figures:
    loop = asyncio.get_running_loop()
    done = [loop.create_future() for _ in range(actors)]
    raws = [RawActor(rounds, d) for d in done]
    await asyncio.sleep(0)
    msg = Tell(0)
    with Stopwatch() as watch:
        for _ in range(rounds):
            for raw in raws:
                raw.queue.put_nowait(msg)
            if yield_per_round:
                await asyncio.sleep(0)
        await asyncio.gather(*done)
    await stop_raw_actors(raws)
    return watch.figures()


# memory per actor: idle, then after one call to each ----------------------------------------
#
# Run in a fresh interpreter each. ``traced`` counts live Python bytes with tracemalloc (what
# the objects hold); otherwise the figure is the RSS delta (what the OS charges, including the
# allocator's slack and arenas kept after temporaries are freed). tracemalloc's own
# bookkeeping would inflate RSS, so the two never run in the same interpreter.


def _memory_probe(traced: bool) -> Callable[[], int]:
    """Bytes in use after a full collection: traced live bytes, or this process's RSS."""
    if traced:
        tracemalloc.start()
    process = psutil.Process(os.getpid())

    def measure() -> int:
        gc.collect()
        return tracemalloc.get_traced_memory()[0] if traced else process.memory_info().rss

    return measure


async def memory_ours(n: int, traced: bool) -> Figures:
    measure = _memory_probe(traced)
    async with Runtime() as rt:
        before = measure()
        pids = [rt.spawn(Counter) for _ in range(n)]
        await rt.wait_idle()
        idle = measure()
        for pid in pids:
            await rt.call(pid, Ask(0))
        called = measure()
        return {"idle": (idle - before) / n, "called": (called - before) / n}


async def memory_raw(n: int, traced: bool) -> Figures:
    measure = _memory_probe(traced)
    before = measure()
    actors = [RawActor() for _ in range(n)]
    await asyncio.sleep(0)
    idle = measure()
    for actor in actors:
        await actor.ask(Ask(0))
    called = measure()
    await stop_raw_actors(actors)
    return {"idle": (idle - before) / n, "called": (called - before) / n}


# Report ------------------------------------------------------------------------------------


@attrs.frozen
class Sizes:
    tells: int
    asks: int
    spawns: int
    stops: int
    fan: int
    fan_rounds: int
    memory: int
    rounds: int
    memory_rounds: int


FULL = Sizes(200_000, 20_000, 10_000, 10_000, 1_000, 50, 10_000, rounds=7, memory_rounds=3)
QUICK = Sizes(20_000, 2_000, 2_000, 2_000, 1_000, 10, 2_000, rounds=3, memory_rounds=1)


def rates(title: str, unit: str, count: int, ours: list[Figures], raw: list[Figures]) -> None:
    (ours_wall, ours_cpu), (raw_wall, raw_cpu) = per_second(ours, count), per_second(raw, count)
    compare(title, unit, "higher", ours_wall, raw_wall, cpu=(ours_cpu, raw_cpu))


def pair(
    rounds: int, ours: Callable[[], Figures], raw: Callable[[], Figures]
) -> tuple[list[Figures], list[Figures]]:
    results = interleave(rounds, {"ours": ours, "raw": raw})
    return results["ours"], results["raw"]


HEADER = """\
baseline: a raw asyncio actor (an asyncio.Queue and a task). Each round runs ours and raw back
to back in this process, each on a fresh loop; who goes first alternates (ours-raw, raw-ours).
{rounds} rounds; figures are medians over rounds; ours/raw is the median of the per-round ratios
of wall-clock figures, and "per round" lists them; "CPU time" is the same ratio by this thread's
CPU time, which a busy neighbour cannot inflate. Garbage collector: {gc}.
"""

FANOUT_NOTE = """\
  (yield per round: the sender yields after each round, so each raw task wakes once per message;
   batch then drain: all rounds are cast before the sender yields, so each raw task wakes once)"""

MEMORY_NOTE = """\
  (RSS delta: what the OS charges, allocator slack included; tracemalloc: bytes of live Python
   objects, in an interpreter of its own since tracing inflates RSS)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke sizes, a few seconds")
    parser.add_argument("--rounds", type=int, help="rounds per figure (medians reported)")
    parser.add_argument("--gc", action="store_true", help="keep the collector on when timing")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.rounds:
        sizes = attrs.evolve(sizes, rounds=args.rounds, memory_rounds=args.rounds)
    _harness.pause_collector = not args.gc
    rounds = sizes.rounds
    started = time.perf_counter()

    quick = " (--quick: smoke sizes, figures not to be quoted)" if args.quick else ""
    print(f"neural-actors messaging benchmark{quick}")
    print(
        HEADER.format(
            rounds=rounds, gc="on" if args.gc else "paused in timed sections (--gc keeps it on)"
        )
    )

    def timed(measure: Callable[..., Awaitable[Figures]], *params: object) -> Callable[[], Figures]:
        return run_async(functools.partial(measure, *params))

    n = sizes.tells
    ours, raw = pair(rounds, timed(tell_ours, n), timed(tell_raw, n))
    rates(f"tell: {n:,} casts, 1 sender -> 1 actor", "msg/s", n, ours, raw)

    n = sizes.asks
    ours, raw = pair(rounds, timed(ask_ours, n), timed(ask_raw, n))
    rates(f"ask: {n:,} calls, one at a time", "ask/s", n, ours, raw)
    compare("ask latency p50 (wall clock)", "us", "lower", column(ours, "p50"), column(raw, "p50"))
    compare("ask latency p99 (wall clock)", "us", "lower", column(ours, "p99"), column(raw, "p99"))

    n = sizes.spawns
    ours, raw = pair(rounds, timed(spawn_ours, n), timed(spawn_raw, n))
    rates(f"spawn: {n:,} idle actors, until all have started", "spawn/s", n, ours, raw)

    n, fan_rounds = sizes.fan, sizes.fan_rounds
    for label, yield_per_round in (("yield per round", True), ("batch then drain", False)):
        ours, raw = pair(
            rounds,
            timed(fanout_ours, n, fan_rounds, yield_per_round),
            timed(fanout_raw, n, fan_rounds, yield_per_round),
        )
        title = f"fan-out, {label}: {n:,} actors x {fan_rounds} rounds"
        rates(title, "msg/s", n * fan_rounds, ours, raw)
    print(FANOUT_NOTE)

    n = sizes.stops
    sides = {"shutdown": stop_ours_shutdown, "each": stop_ours_each, "raw": stop_raw}
    stops = interleave(rounds, {name: timed(measure, n) for name, measure in sides.items()})
    raw_wall, raw_cpu = milliseconds(stops["raw"])
    for name, how in (("shutdown", "rt.shutdown()"), ("each", "await rt.stop(pid) each")):
        ours_wall, ours_cpu = milliseconds(stops[name])
        title = f"stop {n:,} idle actors, ours: {how}"
        compare(title, "ms", "lower", ours_wall, raw_wall, cpu=(ours_cpu, raw_cpu))
    print("  (raw: cancel every task, then await each; rounds rotate shutdown / each / raw)")

    n = sizes.memory
    print(f"memory per actor, {n:,} actors, each side in a fresh interpreter:")
    for traced, what in ((False, "RSS delta"), (True, "tracemalloc live bytes")):
        ours, raw = pair(
            sizes.memory_rounds, run_fresh(memory_ours, n, traced), run_fresh(memory_raw, n, traced)
        )
        for figure, when in (
            ("idle", "idle, before any message"),
            ("called", "after one call to each"),
        ):
            ours_kib = [b / 1024 for b in column(ours, figure)]
            raw_kib = [b / 1024 for b in column(raw, figure)]
            compare(f"  {what}, {when}", "KiB", "lower", ours_kib, raw_kib)
    print(MEMORY_NOTE)

    print(f"\ntook {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
