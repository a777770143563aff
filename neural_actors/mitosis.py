"""Expert mitosis: a hot expert splits into replicas, and replicas left idle are retired.

``Mitosis`` watches one layer's router (its ``RouterStatistics``) every ``every`` seconds. An
expert is *hot* at a check when the blocks in flight per replica reach ``queue``, or when its
answers in the last interval took ``latency`` seconds or more on average. Hot for ``window``
checks in a row, it gets a replica: ``start_dynamic_child`` on the layer's replica pool (a
``DynamicSupervisor``), which the runtime places on a free core (placement counts the
replica's declared weight bytes). The router balances between an expert's replicas by itself
(the one with the fewest blocks in flight gets the next), since a replica joins the expert's
group. A replica that took no block for ``idle`` checks in a row is retired
(``terminate_child``). At most ``max_per_expert`` replicas per expert and ``max_total`` in all.

Every change is a structured log event (``replica_spawned``, ``replica_retired``) and a
``MitosisEvent`` in ``statistics()``.
"""

from __future__ import annotations

from typing import Any, Literal, final

import attrs

from neural_actors.runtime import ActorExited, Actor, Caller, NoReply, Pid, message
from neural_actors.supervisors import SupervisorError, start_dynamic_child, terminate_child

from .fff_actor import GetStatistics

__all__ = ["Mitosis", "MitosisEvent", "MitosisStatistics"]


@final
@message
class MitosisEvent:
    """One change: at ``time``, a replica of ``expert`` ``spawned`` or ``retired``, on ``core``,
    and why (the figures that decided it)."""

    time: float
    kind: Literal["spawned", "retired"]
    expert: int
    pid: Pid
    core: int
    reason: str


@final
@message
class MitosisStatistics:
    """Replicas spawned and retired so far, each expert's live extra replicas, and the events."""

    spawned: int
    retired: int
    replicas: tuple[int, ...]
    events: tuple[MitosisEvent, ...]


@final
@message
class _Check:
    """Time for the next look at the router."""


@attrs.define(eq=False)
class _Replica:
    pid: Pid
    requests: int = 0  # blocks it had taken at the last check
    idle: int = 0  # checks in a row without a new block


class Mitosis(Actor):
    """Spawns and retires replicas of the experts of ``layer``.

    Args (of ``init``):
        layer: the layer's name (its router's registered name).
        pool: the replica pool's registered name (default ``{layer}/replicas``).
        every: seconds between checks.
        window: checks in a row an expert must be hot to get a replica.
        queue: blocks in flight per replica from which an expert is hot.
        latency: average seconds per block from which an expert is hot (None: not used).
        idle: checks in a row without a block after which a replica is retired.
        max_per_expert, max_total: the most extra replicas per expert and in all.
    """

    async def init(
        self,
        layer: str,
        *,
        pool: str | None = None,
        every: float = 0.01,
        window: int = 3,
        queue: float = 4.0,
        latency: float | None = None,
        idle: int = 10,
        max_per_expert: int = 2,
        max_total: int = 8,
    ) -> None:
        for name, value in (("window", window), ("idle", idle), ("max_per_expert", max_per_expert),
                            ("max_total", max_total)):
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name.startswith("max") else 1):
                raise ValueError(f"{name} must be an int >= {0 if name.startswith('max') else 1} (got {value!r})")
        for name, value in (("every", every), ("queue", queue), ("latency", latency)):
            if value is None and name == "latency":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")
        self.layer = layer
        self.pool = pool if pool is not None else f"{layer}/replicas"
        self.every, self.window, self.queue, self.latency, self.idle = every, window, queue, latency, idle
        self.max_per_expert, self.max_total = max_per_expert, max_total
        self.hot: dict[int, int] = {}
        self.answered: dict[int, int] = {}
        self.replicas: dict[int, list[_Replica]] = {}
        self.events: list[MitosisEvent] = []
        self.spawned = self.retired = 0
        self.send_after(every, self.pid, _Check())

    async def handle_info(self, msg: Any) -> None:
        if type(msg) is not _Check:
            return
        try:
            stats = await self.call(self.layer, GetStatistics())
        except ActorExited:
            stats = None  # the router is restarting: look next time
        if stats is not None:
            for load in stats.experts:
                await self._check_expert(load)
        self.send_after(self.every, self.pid, _Check())

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if type(msg) is GetStatistics:
            return self.statistics()
        caller.fail(TypeError(f"Mitosis answers GetStatistics (got {type(msg).__name__})"))
        return NoReply

    def statistics(self) -> MitosisStatistics:
        count = 1 + max(self.replicas, default=-1)
        replicas = tuple(len(self.replicas.get(e, ())) for e in range(count))
        return MitosisStatistics(self.spawned, self.retired, replicas, tuple(self.events))

    # One expert ----------------------------------------------------------------------------

    async def _check_expert(self, load: Any) -> None:
        e = load.expert
        answered = load.answered - self.answered.get(e, 0)
        self.answered[e] = load.answered
        pressure = load.in_flight / max(1, load.replicas)
        slow = self.latency is not None and answered > 0 and load.latency >= self.latency
        hot = pressure >= self.queue or slow
        self.hot[e] = self.hot.get(e, 0) + 1 if hot else 0
        mine = self.replicas.setdefault(e, [])
        mine[:] = [r for r in mine if self.runtime.is_alive(r.pid)]  # killed ones are gone (temporary)
        total = sum(len(r) for r in self.replicas.values())
        if self.hot[e] >= self.window and len(mine) < self.max_per_expert and total < self.max_total:
            self.hot[e] = 0
            reason = f"in flight per replica {pressure:.1f}, latency {load.latency * 1e3:.3f} ms"
            await self._spawn(e, reason)
        elif not hot:
            await self._retire_idle(e, mine)

    async def _spawn(self, e: int, reason: str) -> None:
        try:
            pid = await start_dynamic_child(self.runtime, self.pool, e)
        except (SupervisorError, ActorExited) as error:
            self.log.warning("replica_not_spawned", layer=self.layer, expert=e, reason=str(error))
            return
        if not isinstance(pid, Pid):
            return
        self.replicas[e].append(_Replica(pid))
        self.spawned += 1
        self._event("spawned", e, pid, reason)

    async def _retire_idle(self, e: int, mine: list[_Replica]) -> None:
        for replica in list(mine):
            try:
                requests = (await self.call(replica.pid, GetStatistics())).batching.requests
            except ActorExited:
                mine.remove(replica)
                continue
            replica.idle = replica.idle + 1 if requests == replica.requests else 0
            replica.requests = requests
            if replica.idle >= self.idle:
                mine.remove(replica)
                await terminate_child(self.runtime, self.pool, replica.pid)
                self.retired += 1
                self._event("retired", e, replica.pid, f"no block for {replica.idle} checks")

    def _event(self, kind: Literal["spawned", "retired"], e: int, pid: Pid, reason: str) -> None:
        event = MitosisEvent(self.runtime.now(), kind, e, pid, pid.core, reason)
        self.events.append(event)
        self.log.info(f"replica_{kind}", layer=self.layer, expert=e, pid=repr(pid), core=pid.core, reason=reason)
