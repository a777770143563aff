"""Restart with exponential backoff, as Akka's ``restartWithBackoff``.

OTP restarts at once and counts on the intensity window to give up. A child whose failure
lasts a while (a model server waiting for a file, a peer that is down) is better retried after
growing pauses: ``min``, then twice that, up to ``max``, each stretched by up to
``random_factor`` so that many children failing together do not retry in lockstep. Every
restart waits its pause, whether the child crashed or its start failed (Akka applies the
strategy to failures at start-up too). Once the child has run ``reset_after`` seconds, the
pauses start again from ``min``; ``max_restarts`` restarts in a row without such a run and the
supervisor gives up, as when its intensity is reached.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any, final

import attrs

from neural_actors.runtime import Actor, Caller, NoReply, message

from .errors import ChildRestarting, InvalidChildSpec
from .validators import is_seconds, non_negative_int, seconds

__all__ = ["Backoff", "HandOver", "Pausing"]


def _check_factor(_: Any, __: Any, value: Any) -> None:
    if not is_seconds(value, allow_zero=True) or value > 1:
        raise InvalidChildSpec("backoff.random_factor", value, "must be a number from 0 to 1")


def _check_max_restarts(_: Any, __: Any, value: Any) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise InvalidChildSpec("backoff.max_restarts", value, "must be None (no limit) or an int >= 1")


@final
@message
class Backoff:
    """Pauses between restarts of one child: ``min * 2**attempt``, capped at ``max``, jittered.

    Args:
        min: the first pause, in seconds.
        max: the longest pause.
        random_factor: each pause is stretched by a random fraction up to this (0 = none).
        reset_after: once the child has run this long, its next pause is ``min`` again;
            None means ``(min + max) / 2``, as Akka's default, so it scales with the pauses.
        max_restarts: restarts in a row (none of them followed by ``reset_after`` seconds of
            running) after which the supervisor gives up and exits ``shutdown``, escalating;
            None retries for ever.
        stash: for a named child, how many casts to its name are kept during a pause and
            delivered, in order, to the restarted child (0: dropped and counted).

    Raises:
        InvalidChildSpec: naming the first invalid field, e.g. ``backoff.min``.
    """

    min: float = attrs.field(default=0.1, validator=seconds("backoff.min"))
    max: float = attrs.field(default=30.0, validator=seconds("backoff.max"))
    random_factor: float = attrs.field(default=0.2, validator=_check_factor)
    reset_after: float | None = attrs.field(default=None, validator=seconds("backoff.reset_after", optional=True))
    max_restarts: int | None = attrs.field(default=10, validator=_check_max_restarts)
    stash: int = attrs.field(default=0, validator=non_negative_int("backoff.stash"))

    def __attrs_post_init__(self) -> None:
        if self.max < self.min:
            raise InvalidChildSpec("backoff.max", self.max, f"must be >= backoff.min ({self.min})")

    @property
    def effective_reset_after(self) -> float:
        """``reset_after``, or its default ``(min + max) / 2`` when None."""
        return (self.min + self.max) / 2 if self.reset_after is None else self.reset_after

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause before restart number ``attempt`` (0 for the first after a reset)."""
        base = min(self.max, self.min * 2.0 ** min(attempt, 64))
        return base * (1.0 + rng.random() * self.random_factor)


@message
class HandOver:
    """The supervisor asks a pausing child's stand-in for what it stashed (then stops it)."""

    child_id: Hashable


class Pausing(Actor):
    """Holds a named child's name while it pauses before a restart.

    Calls fail at once with ``ChildRestarting`` (a caller should not wait out a pause it cannot
    see); casts are stashed up to ``stash`` and handed over on restart, the rest dropped and
    counted.
    """

    def init(self, child_id: Hashable, name: Hashable, stash: int, stashed: tuple[Any, ...]) -> None:
        self.child_id = child_id
        self.name = name
        self.limit = stash
        self.stashed: list[Any] = list(stashed)
        self.dropped = 0

    def handle_call(self, msg: Any, caller: Caller) -> Any:
        if type(msg) is HandOver and msg.child_id == self.child_id:
            return tuple(self.stashed), self.dropped
        caller.fail(ChildRestarting(self.child_id, self.name))
        return NoReply

    def handle_cast(self, msg: Any) -> None:
        if len(self.stashed) < self.limit:
            self.stashed.append(msg)
        else:
            self.dropped += 1
