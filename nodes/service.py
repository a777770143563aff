"""A service spread over nodes: inference workers on every node behind one router, and a load
generator that accounts for every request (``configs/cluster.yaml`` runs it).

The **router** holds the global name ``router``. Each **worker** (the demo's FFF inference
worker) announces itself to the router when it starts, wherever its supervisor placed it, and
the router monitors it, across nodes. A request (``Infer``) goes to the next worker in turn;
when that worker's call fails (it crashed, or its node was lost: ``noconnection``) the request
is retried on the next one, and when no worker is there the router waits a little for one to
come back. A request is answered, or failed with ``ServiceUnavailable`` saying why: never
dropped silently. Each request runs in a task of the router's own (the router owns them and
cancels them when it stops), so one slow worker does not hold the others up.

The load generator (``generate_load``, run on a node) sends requests with a fixed number in
flight, checks every answer against the plain-numpy reference network, and reports how many
were answered, failed (by reason) or wrong. It can kill a node after some answers, to show that
losing a node mid-load loses nothing.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any, final

import numpy as np

from neural_actors.demo import FEATURES, Infer, InferenceWorker, make_weights
from neural_actors.kernels.fff_reference import fff_leaf_infer_reference
from neural_actors.runtime import Actor, ActorExited, CallTimeout, Caller, Down, NoReply, Pid, Runtime, freeze, message

from .cluster import register_global
from .errors import ServiceUnavailable
from .names import Global

__all__ = ["ROUTER", "LoadReport", "Ready", "Router", "Worker", "generate_load"]

#: The router's global name.
ROUTER = Global("router")


@final
@message
class Ready:
    """A worker telling the router it has started."""

    worker: Pid


class Worker(InferenceWorker):
    """The demo's FFF inference worker, which announces itself to the router when it starts."""

    def init(self, seed: int) -> None:
        type(self).warm_up()  # compiled (or loaded from numba's cache) before the first request
        super().init(seed)
        self.cast(ROUTER, Ready(self.pid))


class Router(Actor):
    """Sends each request to the next live worker, retrying on another when one fails.

    Args:
        attempts: workers a request is tried on before it fails.
        patience: seconds a request waits for a worker when none is up.
        timeout: seconds a worker has to answer one try.
    """

    async def init(self, attempts: int = 3, patience: float = 5.0, timeout: float = 5.0) -> None:
        self.attempts, self.patience, self.timeout = attempts, patience, timeout
        self.workers: dict[Pid, None] = {}
        self.turn = 0
        self.arrived = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()
        self.retried = 0
        await register_global(self.runtime, ROUTER.name, self.pid)

    def handle_cast(self, msg: Ready) -> None:
        self.workers[msg.worker] = None
        self.monitor(msg.worker)
        self.arrived.set()

    def handle_info(self, msg: Any) -> None:
        if type(msg) is Down:
            self.workers.pop(msg.pid, None)
        else:
            Actor.handle_info(self, msg)

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if msg == "statistics":
            return {"workers": len(self.workers), "retried": self.retried, "in_flight": len(self.tasks)}
        task = asyncio.get_running_loop().create_task(self.serve(msg, caller))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return NoReply

    async def serve(self, request: Any, caller: Caller) -> None:
        failures: list[str] = []
        while len(failures) < self.attempts:
            worker = await self.next_worker()
            if worker is None:
                failures.append(f"no worker up for {self.patience} s")
                break
            try:
                caller.reply(await self.call(worker, request, timeout=self.timeout))
                return
            except (ActorExited, CallTimeout) as error:
                self.workers.pop(worker, None)
                failures.append(str(error))
                self.retried += 1
        caller.fail(ServiceUnavailable(f"no worker answered after {len(failures)} tries: {'; '.join(failures)}"))

    async def next_worker(self) -> Pid | None:
        deadline = asyncio.get_running_loop().time() + self.patience
        while not self.workers:
            self.arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await self.arrived.wait()
            except TimeoutError:
                return None
        workers = list(self.workers)
        self.turn += 1
        return workers[self.turn % len(workers)]

    def terminate(self, reason: Any) -> None:
        for task in self.tasks:
            task.cancel()


@final
@message
class LoadReport:
    """What a load run saw: every request is answered (right or wrong) or failed."""

    requests: int
    answered: int
    wrong: int
    failed: tuple[tuple[str, int], ...]  # (error, how many), most frequent first
    seconds: float

    @property
    def accounted(self) -> bool:
        """Every request answered or failed with an error: none lost."""
        return self.answered + sum(count for _, count in self.failed) == self.requests

    def __str__(self) -> str:
        failed = sum(count for _, count in self.failed)
        lost = self.requests - self.answered - failed
        head = f"{self.requests} requests in {self.seconds:.2f} s: {self.answered} answered "
        lines = [head + f"({self.wrong} wrong), {failed} failed, {lost} lost"]
        lines += [f"  {count} x {error}" for error, count in self.failed]
        return "\n".join(lines)


async def generate_load(
    runtime: Runtime,
    requests: int,
    *,
    concurrency: int = 8,
    batch: int = 8,
    seed: int = 0,
    timeout: float = 30.0,
    after: int | None = None,
    action: Callable[[], Any] | None = None,
) -> LoadReport:
    """Send ``requests`` batches to the router, ``concurrency`` at a time; check each answer.

    Args:
        after, action: call ``action()`` once ``after`` requests have been answered (kill a
            node mid-load).
    """
    rng = np.random.default_rng(seed)
    weights = make_weights(seed)
    failures: collections.Counter[str] = collections.Counter()
    answered = wrong = 0
    queue = iter(range(requests))
    start = asyncio.get_running_loop().time()

    async def client() -> None:
        nonlocal answered, wrong
        for _ in queue:
            rows = freeze(rng.standard_normal((batch, FEATURES), dtype=np.float32))
            try:
                answer = await runtime.call(ROUTER, Infer(rows), timeout=timeout)
            except Exception as error:  # noqa: BLE001 - every failure is counted by its message
                failures[f"{type(error).__name__}: {error}"] += 1
                continue
            answered += 1
            wrong += not np.allclose(answer, fff_leaf_infer_reference(rows, *weights), rtol=1e-4, atol=1e-5)
            if action is not None and answered == after:
                action()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    seconds = asyncio.get_running_loop().time() - start
    return LoadReport(requests, answered, wrong, tuple(failures.most_common()), seconds)
