"""The fault injector: a ``FaultPlan`` applied to a running ``Runtime``.

It hooks the runtime only through its two public doors, the delivery seam's transport
(``Runtime.set_transport``: the plan's ``FaultTransport`` wraps the mesh's, or none) and the
process hooks (``Runtime.set_hooks``). Without a plan the runtime pays one check per message.

Determinism: every random choice (victims, cores, links, splits, whether an event happens,
which message is hit, a delay's jitter) is drawn from one ``random.Random(seed)``, in the order
events happen; firings, heals and held messages wait on the plan's own timelines, ordered by
(time, creation). On the virtual clock, with the runtime seeded too, a run is a pure function of
(tree, load, plan, seed): the trace, which records every fault with its target, replays to the
same digest.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any, final

import attrs

from neural_actors.runtime import Pid, Runtime

from .accounting import MessageAccounting
from .errors import FaultPlanError
from .hooks import ArmedInit, FaultHooks, identity
from .plan import FAULT_KINDS, FaultPlan
from .restarts import RestartLedger
from .targets import Target, route_links
from .timeline import Timeline
from .transport import FaultTransport

__all__ = ["FaultInjector", "FaultStatistics"]

#: Real-clock slack of the restart ledger's intensity window (see ``restarts.py``).
REAL_CLOCK_SLACK = 0.01


@final
@attrs.frozen
class FaultStatistics:
    """A snapshot of what an installed plan did."""

    seed: int
    injected: tuple[tuple[str, int], ...]  # faults injected, by kind, in FAULT_KINDS order
    dropped: tuple[tuple[str, int], ...]  # messages dropped by a fault, by reason
    accounting: MessageAccounting
    restarts: tuple[tuple[str, int], ...]  # per supervisor name
    escalations: tuple[tuple[str, float], ...]  # supervisors that gave up, and when


@final
class FaultInjector:
    """Applies a ``FaultPlan`` to a running runtime; made by ``FaultPlan.install``.

    Args:
        rt: a running runtime.
        plan: the plan.
        seed: the seed of every choice; ``None``: the plan's, else the runtime's, else 0.

    Raises:
        FaultPlanError: a fault needs a mesh the runtime lacks, names a core it lacks, or a
            plan is already installed.
        RuntimeError: the runtime is not running.
    """

    def __init__(self, rt: Runtime, plan: FaultPlan, *, seed: int | None = None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "install a fault plan from the runtime's event loop, inside 'async with Runtime() as rt'"
            ) from None
        if isinstance(rt.transport, FaultTransport):
            raise FaultPlanError("plan", plan, "one plan per runtime: uninstall() the installed plan first")
        _check_fits(rt, plan)
        self.rt = rt
        self.plan = plan
        self.seed = next(s for s in (seed, plan.seed, rt.seed, 0) if s is not None)
        self.rng = random.Random(self.seed)
        self.started = rt.now()
        self.healed = False
        self.installed = True
        self._injected = dict.fromkeys(FAULT_KINDS, 0)
        self._firings = Timeline(loop)
        self._schedules: dict[int, Iterator[float]] = {i: f.schedule.firings() for i, f in enumerate(plan.faults)}
        self._conditions: dict[int, Callable[[], None]] = {}  # token -> restore
        self._tokens = itertools.count()
        self._failed_cores: set[int] = set()
        self._dead_letters_at_install = rt.statistics().dead_letters
        self.ledger = RestartLedger(rt, slack=0.0 if rt.clock == "virtual" else REAL_CLOCK_SLACK)
        self.transport = FaultTransport(rt, rt.transport, Timeline(loop), self.rng, self._message_hit)
        self.transport.on_timer = self.ledger.note_timer
        self.hooks = FaultHooks(rt, rt.hooks, self.ledger, self._process_hit)
        rt.set_transport(self.transport)
        rt.set_hooks(self.hooks)
        rt.record_event("fault.plan", self.seed, len(plan.faults))
        for index in self._schedules:
            self._schedule_next(index)

    def __repr__(self) -> str:
        state = "healed" if self.healed else "active"
        return f"<FaultInjector seed {self.seed}, {len(self.plan.faults)} faults, {state}>"

    # Lifetime ----------------------------------------------------------------------------------

    def heal(self) -> None:
        """Stop injecting: no more firings; cores, links and slowed cores restored; windows
        closed, partitions ended, armed crashes and inits forgotten. Messages already delayed
        or held still arrive at their time (``Runtime.wait_idle`` waits for them). The plan
        stays installed, so accounting goes on."""
        if self.healed:
            return
        self.healed = True
        self._firings.close()
        for restore in self._conditions.values():
            restore()
        self._conditions.clear()
        self.transport.close_all()
        self.hooks.disarm()
        self.rt.record_event("fault.heal")

    def uninstall(self) -> None:
        """Heal, then give the runtime back its transport and hooks. Uninstall once the runtime
        is idle: a message still held by the plan arrives, but ``wait_idle`` no longer waits for it."""
        self.heal()
        if not self.installed:
            return
        self.installed = False
        if self.rt.transport is self.transport:
            self.rt.set_transport(self.transport.inner)
        if self.rt.hooks is self.hooks:
            self.rt.set_hooks(self.hooks.previous)

    # Reports ---------------------------------------------------------------------------------------

    def accounting(self) -> MessageAccounting:
        """Where the messages sent since install went (see ``accounting.py``)."""
        dead_letters = self.rt.statistics().dead_letters - self._dead_letters_at_install
        return self.transport.accounting(dead_at_send=dead_letters - self.transport.dead_letters)

    def statistics(self) -> FaultStatistics:
        """A snapshot: faults injected by kind, drops by reason, accounting, restarts."""
        return FaultStatistics(
            seed=self.seed,
            injected=tuple((kind, n) for kind, n in self._injected.items() if n),
            dropped=tuple(sorted(self.transport.dropped.items())),
            accounting=self.accounting(),
            restarts=tuple(self.ledger.restarts().items()),
            escalations=tuple(self.ledger.escalations()),
        )

    # Firing ----------------------------------------------------------------------------------------

    def _schedule_next(self, index: int) -> None:
        when = next(self._schedules[index], None)
        if when is not None:
            self._firings.at(self.started + when, self._fire, index)

    def _fire(self, index: int) -> None:
        self._schedule_next(index)  # first, so ties with what this firing schedules keep plan order
        self.hooks.prune()
        self.ledger.prune()
        fault = self.plan.faults[index]
        if fault.category == "message":
            self._open_window(index, fault)
            return
        if fault.schedule.probability < 1.0 and self.rng.random() >= fault.schedule.probability:
            return
        getattr(self, f"_{fault.kind}")(index, fault)

    def _victims(self, target: Target) -> list[Pid]:
        candidates = target.candidates(self.rt)
        if target.pick is None:
            return candidates
        return self.rng.sample(candidates, min(target.pick, len(candidates)))

    def _record(self, kind: str, index: int, *fields: Any) -> None:
        self.rt.record_event(f"fault.{kind}", index, *fields)

    def _name(self, pid: Pid) -> Any:
        process = self.rt.delivery.resolve(pid)
        return process.name if process is not None else None

    # Events on processes -----------------------------------------------------------------------

    def _crash(self, index: int, fault: Any) -> None:
        for pid in self._victims(fault.target):
            self.hooks.crashes[pid] = index
            self._record("crash_armed", index, pid, self._name(pid))

    def _kill(self, index: int, fault: Any) -> None:
        for pid in self._victims(fault.target):
            self._process_hit("kill", index, pid)
            self.rt.exit(pid, "kill")

    def _fail_init(self, index: int, fault: Any) -> None:
        identities = None
        if fault.target.pick is not None:
            resolve = self.rt.delivery.resolve
            identities = frozenset(identity(resolve(pid)) for pid in self._victims(fault.target))
            if not identities:
                return
        self.hooks.inits.append(ArmedInit(index, fault.target, identities, fault.inits))
        self._record("fail_init_armed", index, fault.inits, sorted(map(repr, identities or ())))

    def _crash_after(self, index: int, fault: Any) -> None:
        for pid in self._victims(fault.target):
            self.hooks.countdowns[pid] = [fault.after, index]
            self._record("crash_after_armed", index, pid, self._name(pid), fault.after)

    def _process_hit(self, kind: str, index: int, pid: Pid) -> None:
        self._injected[kind] += 1
        self._record(kind, index, pid, self._name(pid))

    # Message faults ----------------------------------------------------------------------------

    def _open_window(self, index: int, fault: Any) -> None:
        messages = fault.messages
        senders = self._picked(messages.sender)
        receivers = self._picked(messages.receiver)
        self.transport.open(index, fault, senders, receivers)
        self._record("window_open", index, sorted(senders or ()), sorted(receivers or ()))
        if fault.schedule.duration is not None:
            self._firings.at(self.rt.now() + fault.schedule.duration, self._close_window, index)

    def _picked(self, target: Target | None) -> frozenset[Pid] | None:
        if target is None or target.pick is None:
            return None
        return frozenset(self._victims(target))

    def _close_window(self, index: int) -> None:
        self.transport.close(index)
        self._record("window_close", index)

    def _message_hit(self, kind: str, index: int, sender: Pid, target: Pid, message: Any) -> None:
        if kind != "partition":  # a partition counts once, when it starts; its drops by reason
            self._injected[kind] += 1
        self._record(kind, index, sender, target, type(message).__name__)

    # Conditions of the mesh ----------------------------------------------------------------------

    def _condition(self, index: int, fault: Any, restore: Callable[[], None]) -> None:
        """Note how to undo a condition; undo it after the schedule's duration, if any."""
        self._injected[fault.kind] += 1
        token = next(self._tokens)
        self._conditions[token] = restore
        if fault.schedule.duration is not None:
            self._firings.at(self.rt.now() + fault.schedule.duration, self._restore, index, token)

    def _restore(self, index: int, token: int) -> None:
        restore = self._conditions.pop(token, None)
        if restore is not None:
            restore()
            self._record("restored", index)

    def _cores_in_use(self) -> list[int]:
        return sorted({pid.core for pid in self.rt.processes()} - self._failed_cores)

    def _choose_core(self, fault: Any) -> int | None:
        if fault.core is not None:
            return fault.core  # type: ignore[no-any-return]
        if fault.target is not None:
            pids = fault.target.candidates(self.rt)
            return self.rng.choice(pids).core if pids else None
        cores = self._cores_in_use()
        return self.rng.choice(cores) if cores else None

    def _fail_core(self, index: int, fault: Any) -> None:
        core = self._choose_core(fault)
        if core is None or core in self._failed_cores:
            self._record("skipped", index, "no live core to fail" if core is None else f"core {core} already failed")
            return
        self._failed_cores.add(core)
        victims = self.rt.fail_core(core)
        self._record("fail_core", index, core, victims)

        def restore() -> None:
            self._failed_cores.discard(core)
            self.rt.restore_core(core)

        self._condition(index, fault, restore)

    def _fail_link(self, index: int, fault: Any) -> None:
        link = fault.link.key() if fault.link is not None else self._random_link()
        if link is None:
            self._record("skipped", index, "no route between two cores in use")
            return
        self.rt.fail_link(*link)
        self._record("fail_link", index, link)
        self._condition(index, fault, lambda: self.rt.restore_link(*link))

    def _random_link(self) -> tuple[int, int, int, str, int] | None:
        mesh = self.rt.mesh
        cores = self._cores_in_use()
        pairs = [(a, b) for a in cores for b in cores if a != b and route_links(mesh, a, b)]  # type: ignore[arg-type]
        if not pairs:
            return None
        a, b = self.rng.choice(pairs)
        return self.rng.choice(sorted(route_links(mesh, a, b)))  # type: ignore[arg-type]

    def _slow_core(self, index: int, fault: Any) -> None:
        core = self._choose_core(fault)
        if core is None:
            self._record("skipped", index, "no live core to slow")
            return
        self.rt.slow_core(core, float(fault.factor))
        self._record("slow_core", index, core, fault.factor)
        self._condition(index, fault, lambda: self.rt.slow_core(core, 1.0))

    def _partition(self, index: int, fault: Any) -> None:
        sides = fault.sides
        if sides is None:
            cores = self._cores_in_use()
            if len(cores) < 2:
                self._record("skipped", index, "fewer than two cores in use")
                return
            self.rng.shuffle(cores)
            half = len(cores) // 2
            sides = (tuple(sorted(cores[:half])), tuple(sorted(cores[half:])))
        token = next(self._tokens)
        self.transport.partitions[token] = (index, {core: side for side, group in enumerate(sides) for core in group})
        self._record("partition", index, sides)
        self._condition(index, fault, lambda: self.transport.partitions.pop(token, None))


def _check_fits(rt: Runtime, plan: FaultPlan) -> None:
    """Refuse at install what the runtime cannot do: mesh faults without a mesh, unknown cores."""
    mesh = rt.mesh
    for index, fault in enumerate(plan.faults):
        needs_mesh = fault.category == "condition" or (
            fault.category == "message" and (fault.messages.link is not None or fault.messages.cores is not None)
        )
        if needs_mesh and mesh is None:
            expected = "a runtime with a mesh (Runtime(mesh=...)) for this fault"
            raise FaultPlanError(f"faults[{index}]", fault.kind, expected)
        for core in _cores_named(fault):
            if not 0 <= core < mesh.core_count:  # type: ignore[union-attr]
                last = mesh.core_count - 1  # type: ignore[union-attr]
                raise FaultPlanError(f"faults[{index}].core", core, f"a core of this mesh, 0..{last}")


def _cores_named(fault: Any) -> list[int]:
    cores = [getattr(fault, "core", None)]
    sides = getattr(fault, "sides", None)
    if sides:
        cores.extend(core for side in sides for core in side)
    if fault.category == "message" and fault.messages.cores is not None:
        cores.extend(fault.messages.cores)
    return [core for core in cores if core is not None]
