"""Restart with exponential backoff, as Akka's ``restartWithBackoff``.

OTP restarts at once and counts on the intensity window to give up. A child whose failure
lasts a while (a model server waiting for a file, a peer that is down) is better retried after
growing pauses: ``min``, then twice that, up to ``max``, each stretched by up to
``random_factor`` so that many children failing together do not retry in lockstep. After the
child has run for ``reset_after`` seconds the pause starts again from ``min``.
"""

from __future__ import annotations

import random
from typing import Any, final

import attrs

from neural_actors.runtime import message

from .errors import InvalidChildSpec

__all__ = ["Backoff"]


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
    """

    min: float = attrs.field(default=0.1, validator=_positive("min"))
    max: float = attrs.field(default=30.0, validator=_positive("max"))
    random_factor: float = attrs.field(default=0.2, validator=_check_factor)
    reset_after: float = attrs.field(default=60.0, validator=_positive("reset_after"))

    def __attrs_post_init__(self) -> None:
        if self.max < self.min:
            raise InvalidChildSpec("backoff.max", self.max, f"must be >= min ({self.min})")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The pause before restart number ``attempt`` (0 for the first after a reset)."""
        base = min(self.max, self.min * 2.0 ** min(attempt, 64))
        return base * (1.0 + rng.random() * self.random_factor)
