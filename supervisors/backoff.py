"""Restart with exponential backoff, as Akka's ``restartWithBackoff``.

OTP restarts at once and counts on the intensity window to give up. A child whose failure
lasts a while (a model server waiting for a file, a peer that is down) is better retried after
growing pauses: ``min``, then twice that, up to ``max``, each stretched by up to
``random_factor`` so that many children failing together do not retry in lockstep. After the
child has run for ``reset_after`` seconds the pause starts again from ``min``.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any, final

import attrs
from neural_actors.runtime import Actor, Caller, NoReply, message

from .errors import ChildRestarting, InvalidChildSpec

__all__ = ["Backoff", "Pausing"]


def _positive(field: str) -> Any:
    def check(_: Any, __: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise InvalidChildSpec(f"backoff.{field}", value, "must be seconds > 0")

    return check


def _check_factor(_: Any, __: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidChildSpec("backoff.random_factor", value, "must be between 0 and 1")


@final
@message
class Backoff:
    """Pauses between restarts of one child: ``min * 2**attempt``, capped at ``max``, jittered.

    Args:
        min: the first pause, in seconds.
        max: the longest pause.
        random_factor: each pause is stretched by a random fraction up to this (0 = none).
        reset_after: after running this long, the child's next failure pauses ``min`` again.
        stash: for a named child, how many casts to its name are kept during a pause and
            delivered, in order, to the restarted child (0: dropped and counted).
    """

    min: float = attrs.field(default=0.1, validator=_positive("min"))
    max: float = attrs.field(default=30.0, validator=_positive("max"))
    random_factor: float = attrs.field(default=0.2, validator=_check_factor)
    reset_after: float = attrs.field(default=60.0, validator=_positive("reset_after"))
    stash: int = attrs.field(default=0)

    def __attrs_post_init__(self) -> None:
        if type(self.stash) is not int or self.stash < 0:
            raise InvalidChildSpec("backoff.stash", self.stash, "must be an int >= 0")
        if self.max < self.min:
            raise InvalidChildSpec("backoff.max", self.max, f"must be >= min ({self.min})")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause before restart number ``attempt`` (0 for the first after a reset)."""
        base = min(self.max, self.min * 2.0 ** min(attempt, 64))
        return base * (1.0 + rng.random() * self.random_factor)


class Pausing(Actor):
    """Holds a named child's name while it pauses before a restart.

    Calls fail at once with ``ChildRestarting`` (a caller should not wait out a pause it cannot
    see); casts are stashed up to ``stash`` and handed over on restart, the rest dropped and
    counted.
    """

    def init(self, child_id: Hashable, name: Hashable, stash: int) -> None:
        self.child_id = child_id
        self.name = name
        self.limit = stash
        self.stashed: list[Any] = []
        self.dropped = 0

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if type(msg) is tuple and msg == ("hand_over", self.child_id):
            return tuple(self.stashed), self.dropped
        caller.fail(ChildRestarting(self.child_id, self.name))
        return NoReply

    def handle_cast(self, msg: Any) -> None:
        if len(self.stashed) < self.limit:
            self.stashed.append(msg)
        else:
            self.dropped += 1
