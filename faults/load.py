"""Load for chaos runs: closed-loop clients calling a named actor, or a group's members, at a rate.

Each client is a task the ``LoadGenerator`` owns (not a process, so no fault plan can crash
it or strand it on a failed core: the load is the observer, the tree is what is tested). A
client calls, waits for the outcome, then starts its next call one interval after the last
one started (closed loop: a slow reply delays the next call rather than piling calls up).
Every outcome is counted:

- **ok**: a reply came (its latency is sampled);
- **failed with a clear error**: the call raised one of the runtime's errors that say what
  happened (``ActorExited`` and ``NoProcess``, ``CallTimeout``, ``MailboxFull``,
  ``Unreachable``), by error type;
- **unexpected**: it raised anything else (a bug in the tree or the load), by error type;
- **hung**: still waiting when the load was stopped and a grace past its timeout had passed.

A correct tree under any plan has no hung call: every caller gets a reply or a clear error.
Group members are chosen with the load's own generator, seeded from the run's seed, so a
seeded run on the virtual clock replays its load too.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Hashable, Sequence
from typing import Any, final

import attrs

from neural_actors.runtime import ActorExited, CallTimeout, MailboxFull, Runtime, Unreachable

from .errors import FaultPlanError
from .validators import count, hashable, seconds

__all__ = ["CLEAR_ERRORS", "Load", "LoadGenerator", "LoadStatistics"]

#: The errors a call may end with that say what happened: a caller getting one is not hung.
CLEAR_ERRORS = (ActorExited, CallTimeout, MailboxFull, Unreachable)


def _rate(_: Any, __: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise FaultPlanError("load.rate", value, "calls per second per client, a finite number > 0")


@final
@attrs.frozen
class Load:
    """Closed-loop clients calling ``target``.

    Args:
        target: a registered name, or a group key if ``group``.
        request: the request, an immutable message; or a callable taking the client's call
            number (0, 1, ...) and returning one (a message class with one int field will do).
        group: ``target`` is a group: each call goes to a member chosen at random (seeded).
        clients: how many clients.
        rate: calls per second each client starts, at most (closed loop).
        timeout: each call's timeout in seconds; ``None`` waits for ever (then a lost reply
            shows up as a hung call).

    Raises:
        FaultPlanError: naming the field, what was expected and what came.
    """

    target: Hashable = attrs.field(validator=hashable("load.target", optional=False))
    request: Any = None
    group: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    clients: int = attrs.field(default=1, validator=count("load.clients"))
    rate: float = attrs.field(default=10.0, validator=_rate)
    timeout: float | None = attrs.field(default=1.0, validator=seconds("load.timeout", optional=True, positive=True))


@final
@attrs.frozen
class LoadStatistics:
    """What the clients saw: outcomes, and latency percentiles of the calls that got a reply."""

    ok: int
    failed: tuple[tuple[str, int], ...]  # clear errors, by type
    unexpected: tuple[tuple[str, int], ...]  # other errors, by type
    hung: int
    latency: tuple[tuple[str, float], ...]  # ("p50", seconds), ("p90", ...), ("p99", ...), ("max", ...)

    @property
    def calls(self) -> int:
        """Calls that ended (or hung)."""
        return self.ok + self.failed_total + self.unexpected_total + self.hung

    @property
    def failed_total(self) -> int:
        return sum(n for _, n in self.failed)

    @property
    def unexpected_total(self) -> int:
        return sum(n for _, n in self.unexpected)


@final
class LoadGenerator:
    """Runs the clients of some ``Load`` values on a running runtime.

    Args:
        rt: the runtime.
        loads: what to run.
        seed: seeds the choice of group members and each client's start offset.
        samples: latencies kept for percentiles (a seeded reservoir beyond that).
    """

    def __init__(self, rt: Runtime, loads: Sequence[Load], *, seed: int = 0, samples: int = 100_000) -> None:
        self._rt = rt
        self._loads = tuple(loads)
        self._rng = random.Random(f"{seed}/load")
        self._samples = samples
        self._tasks: list[asyncio.Task[None]] = []
        self._in_call: dict[asyncio.Task[None], float] = {}
        self._stopping = False
        self._ok = 0
        self._seen = 0
        self._latencies: list[float] = []
        self._failed: dict[str, int] = {}
        self._unexpected: dict[str, int] = {}
        self._hung = 0

    def start(self) -> None:
        """Start every client (call from the runtime's loop)."""
        loop = asyncio.get_running_loop()
        for load in self._loads:
            for index in range(load.clients):
                task = loop.create_task(self._client(load), name=f"load {load.target!r} client {index}")
                self._tasks.append(task)

    async def stop(self, grace: float = 1.0) -> LoadStatistics:
        """Stop starting calls; wait for the calls in progress up to their timeout plus
        ``grace`` seconds; count those still waiting as hung, and cancel every client."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        for task in self._tasks:
            if task not in self._in_call:
                task.cancel()  # between calls: nothing to wait for
        longest = max((load.timeout for load in self._loads if load.timeout is not None), default=0.0)
        deadline = loop.time() + longest + grace
        while self._in_call and loop.time() < deadline:
            await asyncio.wait(list(self._in_call), timeout=deadline - loop.time())
        self._hung += len(self._in_call)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._in_call.clear()
        return self.statistics()

    def statistics(self) -> LoadStatistics:
        """A snapshot of the outcomes so far."""
        samples = sorted(self._latencies)
        ranks = (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        latency = tuple((name, _percentile(samples, q)) for name, q in ranks)
        return LoadStatistics(
            ok=self._ok,
            failed=tuple(sorted(self._failed.items())),
            unexpected=tuple(sorted(self._unexpected.items())),
            hung=self._hung,
            latency=latency,
        )

    async def _client(self, load: Load) -> None:
        loop = asyncio.get_running_loop()
        interval = 1.0 / load.rate
        request: Callable[[int], Any] | None = load.request if callable(load.request) else None
        task = asyncio.current_task()
        number = 0
        next_start = loop.time() + self._rng.uniform(0.0, interval)  # clients do not start in step
        while not self._stopping:
            await asyncio.sleep(max(0.0, next_start - loop.time()))
            started = loop.time()
            next_start = started + interval
            target = self._choose(load)
            if target is None:
                self._count(self._failed, "NoProcess")
                continue
            message = request(number) if request is not None else load.request
            number += 1
            self._in_call[task] = started  # type: ignore[index]
            try:
                await self._rt.call(target, message, timeout=load.timeout)
            except CLEAR_ERRORS as error:
                self._count(self._failed, type(error).__name__)
            except Exception as error:  # noqa: BLE001 - counted and reported: a bug to show, not hide
                self._count(self._unexpected, type(error).__name__)
            else:
                self._ok += 1
                self._sample(loop.time() - started)
            finally:
                self._in_call.pop(task, None)  # type: ignore[arg-type]

    def _choose(self, load: Load) -> Any:
        if not load.group:
            return load.target
        members = self._rt.members(load.target)
        return self._rng.choice(members) if members else None

    @staticmethod
    def _count(table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1

    def _sample(self, seconds: float) -> None:
        self._seen += 1
        if len(self._latencies) < self._samples:
            self._latencies.append(seconds)
            return
        slot = self._rng.randrange(self._seen)
        if slot < self._samples:
            self._latencies[slot] = seconds


def _percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of sorted ``samples`` (nearest rank), 0.0 for none."""
    if not samples:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(samples)))
    return samples[rank - 1]
