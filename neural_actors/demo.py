"""The demo job: FFF inference workers in a supervision tree, with faults injected, serving requests.

A three-level tree: the root supervisor runs a pool supervisor, a chaos monkey and a driver; the
pool runs shard supervisors; each shard runs inference workers, each holding its own read-only
copy of a small FFF network (a tree of node classifiers over ReLU leaves) that it runs with the
project's numba kernel, ``kernels.fff.fff_leaf_infer``. The monkey kills a random worker every
so often (seeded, so a run replays). A shard restarts its workers; a shard that sees too many
deaths gives up and the pool restarts it; past the pool's intensity the root restarts the pool,
and past the root's the job ends with the root's reason.

The driver sends batches round-robin, retries a request whose worker died, and checks every
answer against the plain-numpy reference (``kernels.fff_reference``). When it has served them
all it stops with ``("shutdown", report)``: it is the root's significant child, so the root
shuts down (``auto_shutdown: any_significant``) and the job's runner prints the report.

The same tree is ``configs/demo.yaml``; ``tree()`` builds it in Python (a test checks they are
equal).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numba
import numpy as np

from neural_actors.kernels import fff
from neural_actors.kernels.fff_reference import fff_leaf_infer_reference
from neural_actors.runtime import Actor, ActorExited, Runtime, Stop, freeze, message
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags, run_job

from .console import report_progress
from .fff_model import FFFLeafWeights

__all__ = ["ChaosMonkey", "DemoReport", "Driver", "Infer", "InferenceWorker", "run_demo", "tree"]

WORKERS_GROUP = "inference-workers"
#: Workers tell this group when they start, so the driver counts restarts that the counts of
#: supervisors which gave up (and were replaced) would lose.
STARTS_GROUP = "inference-worker-starts"
SHARDS = 2
FEATURES, CLASSES, DEPTH, LEAF_WIDTH = 16, 4, 3, 16
BATCH = 32


@message
class Infer:
    """A batch of feature rows to run through the network."""

    batch: np.ndarray


@message
class WorkerStarted:
    """A worker has started (an incarnation, first or restarted)."""


@message
class DemoReport:
    """What one demo run did."""

    requests: int
    served: int
    retried: int
    kills: int
    restarts: int
    supervisor_restarts: int
    accuracy: float
    virtual_seconds: float

    def __str__(self) -> str:
        return (
            f"served {self.served}/{self.requests} batches in {self.virtual_seconds:.2f} virtual s "
            f"on the FFF kernel (fff_leaf_infer); {self.kills} workers killed, {self.restarts} restarted "
            f"({self.supervisor_restarts} supervisor restarts), {self.retried} requests retried; "
            f"answers match the numpy reference on {self.accuracy:.1%} of rows"
        )


def make_weights(seed: int) -> tuple[np.ndarray, ...]:
    """The network's six read-only arrays (``fff_leaf_infer``'s order), the same for a seed."""
    weights = FFFLeafWeights.init(FEATURES, CLASSES, DEPTH, LEAF_WIDTH, seed)
    return tuple(freeze(np.ascontiguousarray(array)) for array in weights.arrays().values())


class InferenceWorker(Actor):
    """Runs batches through its copy of the FFF network; joins the workers group so the driver
    finds it."""

    @classmethod
    def warm_up(cls) -> None:
        """compiling the FFF kernel, once (numba caches it for later runs)"""
        # Only the level-by-level entry: the demo's batches are far above the walk's sizes.
        fff.fff_leaf_infer(np.zeros((BATCH, FEATURES), np.float32), *make_weights(0))

    def init(self, seed: int) -> None:
        self.weights = make_weights(seed)
        self.runtime.join(WORKERS_GROUP, self.pid)
        self.runtime.dispatch(STARTS_GROUP, WorkerStarted())

    def handle_call(self, msg: Infer, caller: Any) -> np.ndarray:
        # One numba thread: a batch this small gains nothing from more, the workers are the
        # parallelism, and on a busy machine a parallel region waits for descheduled threads
        # (16 ms a call here instead of 9 us). The count is the loop thread's, so it is put back.
        threads = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return freeze(fff.fff_leaf_infer(msg.batch, *self.weights))
        finally:
            numba.set_num_threads(threads)


class ChaosMonkey(Actor):
    """Kills a random worker every ``interval`` seconds, from a seeded generator; ``"stop"``
    ends the strikes and answers how many it made."""

    def init(self, interval: float, seed: int) -> None:
        self.interval = interval
        self.rng = random.Random(seed)
        self.kills = 0
        self.timer = self.send_after(interval, self.pid, "strike")

    def handle_info(self, msg: str) -> None:
        workers = self.runtime.members(WORKERS_GROUP)
        if workers:
            self.exit(self.rng.choice(workers), "kill")
            self.kills += 1
        self.timer = self.send_after(self.interval, self.pid, "strike")

    def handle_call(self, msg: str, caller: Any) -> int:
        if msg == "stop":
            self.cancel_timer(self.timer)
        return self.kills


@message
class _Next:
    """The driver's next request is due."""


@message
class _Report:
    """The restarts caused by the last kills are done: the driver reports and stops."""


class Driver(Actor):
    """Sends ``requests`` batches, one every millisecond, round-robin over the workers, checks
    each answer against the numpy reference, and stops with ``("shutdown", DemoReport)``."""

    def init(self, requests: int, batch: int = BATCH, seed: int = 0, monkey: str = "chaos-monkey") -> None:
        self.requests, self.batch, self.monkey = requests, batch, monkey
        self.rng = np.random.default_rng(seed)
        self.weights = make_weights(seed)
        self.served = self.retried = self.correct = self.restarts = self.kills = 0
        self.finished_at = 0.0
        self.spawned = self.runtime.statistics().spawned
        self.step = max(1, requests // 200)
        self.runtime.join(STARTS_GROUP, self.pid)
        self.send(self.pid, _Next())

    def handle_cast(self, msg: WorkerStarted) -> None:
        self.restarts += 1

    async def handle_info(self, msg: Any) -> None:
        if type(msg) is _Report:
            raise Stop(("shutdown", self.report()))
        if self.served == self.requests:
            self.kills = await self.call(self.monkey, "stop")
            self.finished_at = self.runtime.now()
            self.send_after(0.001, self.pid, _Report())
            return
        rows = freeze(self.rng.standard_normal((self.batch, FEATURES), dtype=np.float32))
        answer = await self.serve(Infer(rows))
        expected = fff_leaf_infer_reference(rows, *self.weights)
        self.correct += int(np.sum(np.all(np.isclose(answer, expected, rtol=1e-4, atol=1e-5), axis=1)))
        self.served += 1
        if self.served % self.step == 0 or self.served == self.requests:
            report_progress(self.runtime, "serving", self.served, self.requests)
        self.send_after(0.001, self.pid, _Next())

    async def serve(self, request: Infer) -> np.ndarray:
        """Send ``request`` round-robin; if its worker dies first, try the next one."""
        attempt = 0
        while True:
            members = self.runtime.members(WORKERS_GROUP)
            if members:
                try:
                    return await self.call(members[(self.served + attempt) % len(members)], request)
                except ActorExited:
                    pass
            attempt += 1
            self.retried += 1
            await asyncio.sleep(0.0001)  # give the supervisors a moment to restart the worker

    def report(self) -> DemoReport:
        respawned = self.runtime.statistics().spawned - self.spawned
        return DemoReport(
            requests=self.requests,
            served=self.served,
            retried=self.retried,
            kills=self.kills,
            restarts=self.restarts,
            supervisor_restarts=respawned - self.restarts,
            accuracy=self.correct / max(1, self.requests * self.batch),
            virtual_seconds=self.finished_at,
        )


def tree(
    *, requests: int = 2000, workers: int = 4, batch: int = BATCH, seed: int = 0, chaos_interval: float = 0.05,
    intensity: int | None = None,
) -> ChildSpec:
    """The demo's root supervisor: a pool supervisor over shard supervisors over the workers (three
    levels, so a failure that a shard cannot absorb escalates), the chaos monkey and the driver.

    Each supervisor allows ``intensity`` restarts per chaos interval (default: one per child,
    and one for the root).
    """

    def flags(children: int, **options: Any) -> SupervisorFlags:
        allowed = children if intensity is None else intensity
        return SupervisorFlags(intensity=allowed, period=chaos_interval, **options)

    sizes = [len(range(workers)[k::SHARDS]) for k in range(min(SHARDS, workers))]
    shards = tuple(
        ChildSpec(
            id=f"shard-{k}",
            start=(Supervisor, (flags(size), tuple(ChildSpec(id=f"worker-{i}", start=(InferenceWorker, (seed,)))
                                                  for i in range(size)))),
            type="supervisor",
        )
        for k, size in enumerate(sizes)
    )
    driver = {"requests": requests, "batch": batch, "seed": seed, "monkey": "chaos-monkey"}
    children = (
        ChildSpec(id="pool", start=(Supervisor, (flags(len(shards)), shards)), type="supervisor"),
        ChildSpec(id="chaos", start=(ChaosMonkey, (chaos_interval, seed)), restart="temporary", name="chaos-monkey"),
        ChildSpec(id="driver", start=(Driver, (), driver), restart="temporary", significant=True),
    )
    root_flags = flags(1, auto_shutdown="any_significant")
    return ChildSpec(id="root", start=(Supervisor, (root_flags, children)), type="supervisor", name="root")


async def run_demo(**options: Any) -> DemoReport:
    """Run the demo tree (``tree(**options)``) on the virtual clock and return its report.

    Raises:
        ActorExited: the root supervisor gave up (its reason is the exception's reason).
    """
    async with Runtime(clock="virtual", seed=options.get("seed", 0)) as rt:
        outcome = await run_job(rt, tree(**options))
    if outcome.ended != "finished":
        raise ActorExited("root", outcome.reason)
    return outcome.results[0][1]
