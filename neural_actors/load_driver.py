"""A load driver for the jobs: closed-loop clients sending held-out rows, then a report.

``LoadDriver`` runs ``clients`` closed-loop clients (``LoadClient``): each sends a request of
``batch`` held-out rows to its target (a model actor's name: a mixture's router, an FFF actor,
a sharded tree's root), waits for the answer, thinks ``think`` seconds and sends the next.
Answers are checked against the labels. When every request is done the driver stops the chaos
actor, gathers the figures (restarts from the tree's health; the router's and mitosis'
statistics when the target is a mixture; the mesh's link utilisation) and stops with
``("shutdown", LoadReport)``: as the root's significant child it ends the job, and
``neural-actors run`` prints the report.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, final

import numpy as np

from neural_actors.runtime import ActorExited, Actor, Pid, Stop, freeze, message
from neural_actors.supervisors import ChildHealth, tree_health

from .console import report_progress
from .errors import ExpertsUnavailable, SubtreeUnavailable
from .fff_actor import GetStatistics
from .inference import Infer
from .model_store import load_model
from .moe_layer import mitosis_name
from .moe_model import MoEModel
from .moe_router import RouterStatistics

__all__ = ["ClientDone", "LoadClient", "LoadDriver", "LoadReport"]


@final
@message
class LoadReport:
    """What one run of a job did. Times are virtual seconds. The mixture's figures (blocks
    re-sent, masked and late, replicas) are zero for other targets."""

    target: str
    requests: int
    served: int
    failed: int
    degraded: int
    rows: int
    accuracy: float
    latency_p50: float
    latency_p99: float
    kills: int
    restarts: int
    calls_retried: int
    retries: int
    blocks_failed: int
    late_replies: int
    replicas_spawned: int
    replicas_retired: int
    mesh_messages: int
    link_utilisation_max: float
    link_utilisation_mean: float
    mesh_latency_p99: float
    virtual_seconds: float

    def __str__(self) -> str:
        lines = [
            f"{self.target}: served {self.served}/{self.requests} requests ({self.rows:,} rows) in "
            f"{self.virtual_seconds:.2f} virtual s; {self.failed} failed, {self.degraded} answered without a part "
            "of the model",
            f"held-out accuracy {self.accuracy:.2%} of the rows served; latency p50 {self.latency_p50 * 1e3:.3f} ms, "
            f"p99 {self.latency_p99 * 1e3:.3f} ms",
            f"killed {self.kills}, restarted {self.restarts}; calls tried again while their target restarted "
            f"{self.calls_retried}",
        ]
        if self.retries or self.blocks_failed or self.late_replies or self.replicas_spawned:
            lines[-1] += (f"; expert blocks re-sent to a live replica {self.retries}, masked {self.blocks_failed}, "
                          f"late answers discarded {self.late_replies}")
            lines.append(f"mitosis: replicas spawned {self.replicas_spawned}, retired {self.replicas_retired}")
        if self.mesh_messages:
            lines.append(f"mesh: {self.mesh_messages:,} messages, link utilisation max {self.link_utilisation_max:.2%}, "
                         f"mean {self.link_utilisation_mean:.3%} over the links used, message latency p99 "
                         f"{self.mesh_latency_p99 * 1e6:.2f} us")
        return "\n".join(lines)


@final
@message
class _Next:
    """The client's next request is due."""


@final
@message
class _Report:
    """Every client is done: time to report."""


@final
@message
class ClientDone:
    """A client's figures: requests answered, failed and degraded, rows served and right, calls
    tried again while the target restarted, and each request's latency."""

    answered: int
    failed: int
    degraded: int
    rows: int
    correct: int
    retried: int
    latencies: tuple[float, ...]


#: Clients tell the driver how far they are every this many requests (for the progress bar).
PROGRESS_EVERY = 25

#: A client tries a request this many times while its target is being restarted, waiting
#: ``RETRY_AFTER`` seconds before the second try, doubling after each.
RETRIES = 8
RETRY_AFTER = 0.0001


@final
@message
class _Progressed:
    requests: int


class LoadClient(Actor):
    """One closed-loop client: a request of ``batch`` rows from each of ``starts`` to
    ``target``, one at a time, ``think`` seconds apart; then ``ClientDone`` to ``driver``."""

    def init(self, target: str, x: np.ndarray, labels: np.ndarray, starts: tuple[int, ...], batch: int,
             think: float, driver: Pid) -> None:
        self.target, self.x, self.labels, self.batch, self.think, self.driver = target, x, labels, batch, think, driver
        self.starts = iter(starts)
        self.answered = self.failed = self.degraded = self.rows = self.correct = self.retried = 0
        self.latencies: list[float] = []
        self.send(self.pid, _Next())

    async def handle_info(self, msg: _Next) -> None:
        start = next(self.starts, None)
        if start is None:
            self.cast(self.driver, ClientDone(self.answered, self.failed, self.degraded, self.rows, self.correct,
                                              self.retried, tuple(self.latencies)))
            raise Stop("normal")
        rows = self.x[start:start + self.batch]
        began = self.runtime.now()
        try:
            answer = await self._ask(Infer(rows))
        except (ExpertsUnavailable, SubtreeUnavailable, ActorExited):
            self.failed += 1
        else:
            self.answered += 1
            self.degraded += bool(answer.degraded)
            self.rows += len(rows)
            self.correct += int((answer.y.argmax(axis=1) == self.labels[start:start + len(rows)]).sum())
        self.latencies.append(self.runtime.now() - began)
        if len(self.latencies) % PROGRESS_EVERY == 0:
            self.cast(self.driver, _Progressed(PROGRESS_EVERY))
        self.send_after(self.think, self.pid, _Next())

    async def _ask(self, request: Infer) -> Any:
        """Call the target; while it is being restarted (its name free, or it dies holding the
        request), try again a little later, ``RETRIES`` times at most."""
        for attempt in range(RETRIES):
            try:
                return await self.call(self.target, request, timeout=None)
            except ActorExited:
                if attempt == RETRIES - 1:
                    raise
                self.retried += 1
                await asyncio.sleep(RETRY_AFTER * 2**attempt)
        raise AssertionError("unreachable")


class LoadDriver(Actor):
    """Drives ``requests`` requests of ``batch`` held-out rows through ``target`` from
    ``clients`` closed-loop clients, then reports and stops the job with
    ``("shutdown", LoadReport)``.

    Args (of ``init``):
        target: the model actor's registered name (a mixture's: its layer name).
        data: an ``MoEModel`` source, for its held-out set.
        requests, batch, clients: the load.
        think: seconds a client waits between an answer and its next request.
        chaos: the chaos actor's name, stopped before the report.
    """

    def init(self, target: str, data: str, *, requests: int = 2000, batch: int = 8, clients: int = 16,
             think: float = 0.005, chaos: str | None = None) -> None:
        x, labels = load_model(data, MoEModel.load).held_out()
        self.target, self.chaos, self.requests, self.clients = target, chaos, requests, clients
        self.done = 0
        self.finished_at = 0.0
        self.figures: list[ClientDone] = []
        starts = [(i * batch) % (len(x) - batch + 1) for i in range(requests)]
        frozen_x, frozen_labels = freeze(x), freeze(labels)
        for c in range(clients):
            self.spawn_link(LoadClient, target, frozen_x, frozen_labels, tuple(starts[c::clients]), batch, think,
                            self.pid)

    def handle_cast(self, msg: Any) -> None:
        if type(msg) is _Progressed:
            self.done += msg.requests
            report_progress(self.runtime, "requests", min(self.done, self.requests), self.requests)
        elif type(msg) is ClientDone:
            self.figures.append(msg)
            if len(self.figures) == self.clients:
                self.finished_at = self.runtime.now()
                self.send(self.pid, _Report())

    async def handle_info(self, msg: _Report) -> None:
        kills = await self.call(self.chaos, "stop") if self.chaos is not None else 0
        report_progress(self.runtime, "requests", self.requests, self.requests)
        raise Stop(("shutdown", await self._report(kills)))

    async def _report(self, kills: int) -> LoadReport:
        target = await self.call(self.target, GetStatistics())
        router = target if type(target) is RouterStatistics else None
        mitosis = None
        if router is not None and self.runtime.whereis(mitosis_name(self.target)) is not None:
            mitosis = await self.call(mitosis_name(self.target), GetStatistics())
        health = await tree_health(self.runtime, self.parent)
        f = self.figures
        latencies = np.array([t for c in f for t in c.latencies])
        rows, correct = sum(c.rows for c in f), sum(c.correct for c in f)
        links, messages, mesh_p99 = (), 0, 0.0
        if self.runtime.mesh is not None:
            mesh = self.runtime.mesh_statistics()
            links, messages, mesh_p99 = mesh.links, mesh.messages, mesh.latency_p99
        utilisation = [link.utilisation for link in links]
        return LoadReport(
            target=self.target,
            requests=self.requests,
            served=sum(c.answered for c in f),
            failed=sum(c.failed for c in f),
            degraded=sum(c.degraded for c in f),
            rows=rows,
            accuracy=correct / max(1, rows),
            latency_p50=float(np.percentile(latencies, 50)) if len(latencies) else 0.0,
            latency_p99=float(np.percentile(latencies, 99)) if len(latencies) else 0.0,
            kills=kills,
            restarts=sum(node.restarts for node in _walk(health.root) if node.type == "worker"),
            calls_retried=sum(c.retried for c in f),
            retries=router.retries if router is not None else 0,
            blocks_failed=router.blocks_failed if router is not None else 0,
            late_replies=router.late_replies if router is not None else 0,
            replicas_spawned=mitosis.spawned if mitosis is not None else 0,
            replicas_retired=mitosis.retired if mitosis is not None else 0,
            mesh_messages=messages,
            link_utilisation_max=max(utilisation, default=0.0),
            link_utilisation_mean=float(np.mean(utilisation)) if utilisation else 0.0,
            mesh_latency_p99=mesh_p99,
            virtual_seconds=self.finished_at,
        )


def _walk(node: ChildHealth) -> Iterator[ChildHealth]:
    yield node
    for child in node.children:
        yield from _walk(child)
