"""The supervisor against a pure model of OTP's rules, under random histories (hypothesis).

The model knows only the rules: restart types by exit reason, the strategy, and the intensity
window on virtual time. Children can also be broken (every start fails) and fixed: a restart
that has to start a broken child is retried at once, each attempt counting, until the
intensity is spent. After every step the real supervisor must agree with the model on which
children exist, which are running, and whether the supervisor itself is alive.
"""

from __future__ import annotations

import asyncio
import itertools

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from neural_actors.runtime import Actor, Runtime, Stop
from neural_actors.supervisors import (
    ChildSpec,
    Supervisor,
    SupervisorError,
    SupervisorFlags,
    restart_child,
    terminate_child,
    which_children,
)


#: Keys of the children whose next starts fail (a spec's arguments must be immutable).
BROKEN: set[str] = set()
_machines = itertools.count()


class Crashable(Actor):
    """Exits as told: ``normal`` and ``shutdown`` by stopping, anything else by crashing."""

    def init(self, key: str) -> None:
        if key in BROKEN:
            raise RuntimeError(f"{key} is broken")

    def handle_cast(self, msg: str) -> None:
        if msg in ("normal", "shutdown"):
            raise Stop(msg)
        raise RuntimeError(msg)


@attrs.define
class ModelChild:
    id: str
    restart: str
    running: bool = True


@attrs.define
class OTPModel:
    """OTP's supervisor rules, with nothing else."""

    strategy: str
    intensity: int
    period: float
    children: list[ModelChild]
    now: float = 0.0
    alive: bool = True
    restarts: list[float] = attrs.Factory(list)
    broken: set[str] = attrs.Factory(set)

    def count_restart(self) -> bool:
        """Record a restart now; False (and the supervisor gone) past the intensity."""
        self.restarts = [t for t in self.restarts if t > self.now - self.period] + [self.now]
        if len(self.restarts) > self.intensity:
            self.alive = False
            self.children = []
        return self.alive

    def child_exited(self, index: int, reason: str) -> None:
        child = self.children[index]
        child.running = False
        restart = child.restart == "permanent" or (child.restart == "transient" and reason == "crash")
        if not restart:
            if child.restart == "temporary":
                self.children.remove(child)
            return
        if not self.count_restart():
            return
        if self.strategy == "one_for_one":
            affected = [child]
        elif self.strategy == "one_for_all":
            affected = list(self.children)
        else:
            affected = self.children[index:]
        for other in affected:
            if other is not child and other.restart == "temporary":
                self.children.remove(other)
            else:
                other.running = True
        if any(other.id in self.broken for other in affected if other in self.children):
            while self.count_restart():  # retried at once, each attempt counted
                pass

    def terminated(self, index: int) -> None:
        child = self.children[index]
        child.running = False
        if child.restart == "temporary":
            self.children.remove(child)


class SupervisorMachine(RuleBasedStateMachine):
    """Random crashes, exits, time steps and management calls, checked against ``OTPModel``."""

    def __init__(self) -> None:
        super().__init__()
        self._blocking = Runtime.blocking(clock="virtual")
        self.rt = self._blocking.__enter__()
        self.prefix = f"m{next(_machines)}-"

    @initialize(
        strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
        restarts=st.lists(st.sampled_from(["permanent", "transient", "temporary"]), min_size=1, max_size=4),
        intensity=st.integers(0, 3),
        period=st.sampled_from([1.0, 5.0]),
    )
    def start(self, strategy: str, restarts: list[str], intensity: int, period: float) -> None:
        specs = [ChildSpec(id=f"c{i}", start=(Crashable, (f"{self.prefix}c{i}",)), restart=r) for i, r in enumerate(restarts)]
        self.model = OTPModel(strategy, intensity, period, [ModelChild(s.id, s.restart) for s in specs])
        self.sup = self.rt.start(Supervisor, SupervisorFlags(strategy=strategy, intensity=intensity, period=period), specs)

    def children(self) -> list[tuple]:
        return list(self.rt.run(which_children, self.rt.runtime, self.sup))

    @precondition(lambda self: self.model.alive and any(c.running for c in self.model.children))
    @rule(data=st.data(), reason=st.sampled_from(["normal", "shutdown", "crash"]))
    def exit_child(self, data: st.DataObject, reason: str) -> None:
        running = [i for i, c in enumerate(self.model.children) if c.running]
        index = data.draw(st.sampled_from(running))
        pid = self.children()[index][1]
        self.rt.cast(pid, reason)
        self.rt.run(self.rt.runtime.wait_idle)
        self.model.child_exited(index, reason)

    @rule(seconds=st.sampled_from([0.3, 2.0, 6.0]))
    def advance(self, seconds: float) -> None:
        self.rt.run(asyncio.sleep, seconds)
        self.model.now += seconds

    @precondition(lambda self: self.model.alive and any(c.running for c in self.model.children))
    @rule(data=st.data())
    def terminate(self, data: st.DataObject) -> None:
        running = [i for i, c in enumerate(self.model.children) if c.running]
        index = data.draw(st.sampled_from(running))
        self.rt.run(terminate_child, self.rt.runtime, self.sup, self.model.children[index].id)
        self.model.terminated(index)

    @precondition(lambda self: self.model.alive and any(not c.running for c in self.model.children))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        stopped = [c for c in self.model.children if not c.running]
        child = data.draw(st.sampled_from(stopped))
        if child.id in self.model.broken:
            with pytest.raises(SupervisorError, match="start_failed"):
                self.rt.run(restart_child, self.rt.runtime, self.sup, child.id)
            return
        self.rt.run(restart_child, self.rt.runtime, self.sup, child.id)
        child.running = True

    @precondition(lambda self: self.model.alive and self.model.children)
    @rule(data=st.data(), broken=st.booleans())
    def break_or_fix(self, data: st.DataObject, broken: bool) -> None:
        child = data.draw(st.sampled_from(self.model.children))
        (self.model.broken.add if broken else self.model.broken.discard)(child.id)
        (BROKEN.add if broken else BROKEN.discard)(self.prefix + child.id)

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        assert self.model.alive == self.rt.runtime.is_alive(self.sup)
        if self.model.alive:
            actual = [(cid, pid is not None) for cid, pid, _ in self.children()]
            assert [(c.id, c.running) for c in self.model.children] == actual

    def teardown(self) -> None:
        self._blocking.__exit__(None, None, None)


SupervisorMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=12, deadline=None)
test_supervisor_agrees_with_the_otp_model = SupervisorMachine.TestCase
