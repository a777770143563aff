"""A chaos actor for the jobs: kills members of numbered groups, and slows a core for a while.

Until the fault-injection layer's ``faults:`` section exists, the jobs of ``configs/`` inject
their faults with this actor, as the demo does with its monkey: seeded, so a run replays.
"""

from __future__ import annotations

import random
from typing import Any, final

from neural_actors.runtime import Actor, Caller, NoReply, message

__all__ = ["Chaos"]


@final
@message
class _Strike:
    """The chaos actor's next move is due."""


@final
@message
class _Slow:
    """Slow the chosen group's core now (``on``), or restore it."""

    on: bool


class Chaos(Actor):
    """Every ``every`` seconds kills a member of a random one of the groups ``{prefix}0`` ..
    ``{prefix}{count - 1}`` (an expert's replicas, a subtree's actor), from a seeded generator;
    from ``slow_from`` to ``slow_until`` seconds, makes the core of group ``slow`` ``slow_factor``
    times slower (on a mesh). ``"stop"`` (a call) ends the strikes and answers the kills."""

    def init(self, prefix: str, count: int, *, every: float = 0.025, seed: int = 0, slow: int | None = None,
             slow_from: float = 0.0, slow_until: float = 0.0, slow_factor: float = 1000.0) -> None:
        self.prefix, self.count, self.every = prefix, count, every
        self.rng = random.Random(seed)
        self.kills = 0
        self.stopped = False
        self.slowed: int | None = None
        self.slow, self.slow_factor = slow, slow_factor
        self.timer = self.send_after(every, self.pid, _Strike())
        if slow is not None and self.runtime.mesh is not None and slow_until > slow_from:
            self.send_after(slow_from, self.pid, _Slow(True))
            self.send_after(slow_until, self.pid, _Slow(False))

    def handle_info(self, msg: Any) -> None:
        if type(msg) is _Slow:
            self._slow(msg.on)
        elif type(msg) is _Strike and not self.stopped:
            victims = self.runtime.members(f"{self.prefix}{self.rng.randrange(self.count)}")
            if victims:
                self.exit(victims[0], "kill")
                self.kills += 1
            self.timer = self.send_after(self.every, self.pid, _Strike())

    def _slow(self, on: bool) -> None:
        if on:
            members = self.runtime.members(f"{self.prefix}{self.slow}")
            if members:
                self.slowed = members[0].core
                self.runtime.slow_core(self.slowed, self.slow_factor)
        elif self.slowed is not None:
            self.runtime.slow_core(self.slowed, 1.0)
            self.slowed = None

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if msg == "stop":
            self.stopped = True
            self.cancel_timer(self.timer)
            self._slow(False)
            return self.kills
        caller.fail(TypeError(f"Chaos answers 'stop' (got {msg!r})"))
        return NoReply
