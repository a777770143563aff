"""The demo job: inference workers in a supervision tree, with faults injected, serving requests.

A three-level tree: the root supervisor runs a pool supervisor and a chaos monkey; the pool
runs shard supervisors; each shard runs inference workers, each holding its own read-only copy
of a small two-layer network. The monkey kills a random worker every so often (seeded, so a
run replays). A shard restarts its workers; a shard that sees too many deaths gives up and the
pool restarts it; past the pool's intensity the root restarts the pool, and past the root's the
job ends with the root's reason. A driver sends batches round-robin and retries a
request whose worker died; the supervisor restarts the dead. The report says what was served,
what failed over, and what was restarted: the point is that every request is answered.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import attrs
import numpy as np
import structlog

from neural_actors.runtime import Actor, ActorExited, Pid, Runtime, freeze, message
from neural_actors.supervisors import (
    ChildSpec,
    Supervisor,
    SupervisorFlags,
    count_children,
    which_children,
)

__all__ = ["DemoReport", "Infer", "InferenceWorker", "run_demo"]

log = structlog.get_logger("neural_actors.demo")

WORKERS_GROUP = "inference-workers"
SHARDS = 2


@message
class Infer:
    """A batch of feature rows to classify."""

    batch: np.ndarray


@attrs.frozen
class DemoReport:
    """What one demo run did."""

    requests: int
    served: int
    retried: int
    kills: int
    restarts: int
    accuracy: float
    virtual_seconds: float


FEATURES, HIDDEN, CLASSES = 16, 64, 4


def make_weights(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The network's two read-only weight matrices, the same for every worker of a seed."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((FEATURES, HIDDEN), dtype=np.float32) / np.float32(np.sqrt(FEATURES))
    w2 = rng.standard_normal((HIDDEN, CLASSES), dtype=np.float32) / np.float32(np.sqrt(HIDDEN))
    return freeze(w1), freeze(w2)


def classify(batch: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """Labels of a batch: argmax of a two-layer ReLU network."""
    return freeze(np.argmax(np.maximum(batch @ w1, 0.0) @ w2, axis=1))


class InferenceWorker(Actor):
    """Classifies batches; joins the workers group so the driver can find it."""

    def init(self, seed: int) -> None:
        self.w1, self.w2 = make_weights(seed)
        self.runtime.join(WORKERS_GROUP, self.pid)

    def handle_call(self, msg: Infer, caller: Any) -> np.ndarray:
        return classify(msg.batch, self.w1, self.w2)


class ChaosMonkey(Actor):
    """Kills a random worker every ``interval`` seconds, from a seeded generator."""

    def init(self, interval: float, seed: int) -> None:
        self.interval = interval
        self.rng = random.Random(seed)
        self.kills = 0
        self.send_after(interval, self.pid, "strike")

    def handle_info(self, msg: str) -> None:
        workers = self.runtime.members(WORKERS_GROUP)
        if workers:
            self.exit(self.rng.choice(workers), "kill")
            self.kills += 1
        self.send_after(self.interval, self.pid, "strike")

    def handle_call(self, msg: str, caller: Any) -> int:
        return self.kills


def tree(workers: int, seed: int, chaos_interval: float, intensity: int | None) -> list[ChildSpec]:
    """The root supervisor's children: a pool supervisor over shard supervisors over the
    workers (three levels, so a failure that a shard cannot absorb escalates), then the chaos
    monkey. Each supervisor allows ``intensity`` restarts per chaos interval (default: one per
    child)."""

    def flags(children: int) -> SupervisorFlags:
        allowed = children if intensity is None else intensity
        return SupervisorFlags(strategy="one_for_one", intensity=allowed, period=chaos_interval)

    shards = [list(range(workers))[k::SHARDS] for k in range(min(SHARDS, workers))]
    shard_specs = [
        ChildSpec(
            id=f"shard-{k}",
            start=(Supervisor, (flags(len(ids)), [ChildSpec(id=f"worker-{i}", start=(InferenceWorker, (seed,))) for i in ids])),
            type="supervisor",
        )
        for k, ids in enumerate(shards)
    ]
    return [
        ChildSpec(id="pool", start=(Supervisor, (flags(len(shard_specs)), shard_specs)), type="supervisor"),
        ChildSpec(id="chaos", start=(ChaosMonkey, (chaos_interval, seed)), restart="temporary"),
    ]


async def restarts_in_tree(rt: Runtime, supervisor: Any) -> int:
    """Restarts done by ``supervisor`` and every supervisor below it."""
    total = (await count_children(rt, supervisor))["restarts"]
    for _, pid, kind in await which_children(rt, supervisor):
        if kind == "supervisor" and isinstance(pid, Pid):
            total += await restarts_in_tree(rt, pid)
    return total


async def run_demo(
    *,
    requests: int = 2000,
    workers: int = 4,
    batch: int = 32,
    seed: int = 0,
    chaos_interval: float = 0.05,
    intensity: int | None = None,
) -> DemoReport:
    """Run the supervised inference job and return its report.

    Args:
        requests: batches to serve, one every millisecond of virtual time.
        workers: inference workers under the root supervisor.
        batch: rows per batch.
        seed: seeds the data, the weights and the chaos monkey.
        chaos_interval: virtual seconds between kills.
        intensity: restarts the root allows per ``chaos_interval`` (default: one per worker).

    Raises:
        ActorExited: the root supervisor gave up (its reason is the exception's reason).
    """
    rng = np.random.default_rng(seed)
    w1, w2 = make_weights(seed)
    async with Runtime(clock="virtual", seed=seed) as rt:
        flags = SupervisorFlags(strategy="one_for_one", intensity=1 if intensity is None else intensity, period=chaos_interval)
        root = await rt.start(Supervisor, flags, tree(workers, seed, chaos_interval, intensity), name="root")
        root_exit = asyncio.ensure_future(rt.wait_exit(root))
        chaos = next(pid for child_id, pid, _ in await which_children(rt, root) if child_id == "chaos")
        served = retried = correct = 0
        for i in range(requests):
            rows = freeze(rng.standard_normal((batch, FEATURES), dtype=np.float32))
            labels, retries = await _serve(rt, i, Infer(rows), root_exit)
            served += 1
            retried += retries
            correct += int(np.sum(labels == classify(rows, w1, w2)))
            await asyncio.sleep(0.001)
        kills = await rt.call(chaos, "kills")
        restarts = await restarts_in_tree(rt, root)
        report = DemoReport(
            requests=requests,
            served=served,
            retried=retried,
            kills=kills,
            restarts=restarts,
            accuracy=correct / (requests * batch),
            virtual_seconds=rt.now(),
        )
    log.info("demo_finished", **attrs.asdict(report))
    return report


async def _serve(rt: Runtime, index: int, request: Infer, root_exit: asyncio.Future[Any]) -> tuple[np.ndarray, int]:
    """Send ``request`` round-robin; if its worker dies first, try the next one."""
    retries = 0
    while True:
        if root_exit.done():
            raise ActorExited(rt.whereis("root") or "root", root_exit.result())
        members = rt.members(WORKERS_GROUP)
        if members:
            try:
                return await rt.call(members[(index + retries) % len(members)], request), retries
            except ActorExited:
                pass
        retries += 1
        await asyncio.sleep(0.0001)  # give the supervisor a moment to restart the pool
