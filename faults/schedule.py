"""When a fault happens: at a time, every interval, with a probability per event, for a window.

Times are seconds after the plan is installed (on the loop's clock, so virtual seconds under the
virtual clock). A schedule *fires* at ``at``, then every ``every`` seconds while ``until`` and
``times`` allow. What a firing does depends on the fault:

- an **event** (crash, kill, fail_init, crash_after) happens at each firing with
  ``probability``;
- a **condition** (fail_core, fail_link, slow_core, partition) starts at each firing with
  ``probability`` and heals ``duration`` seconds later (never, if ``duration`` is None);
- a **message fault** (drop, delay, duplicate, reorder) opens a window at each firing that lasts
  ``duration`` seconds (for ever if None); while a window is open, each message it selects is
  hit with ``probability``.

So ``Schedule(at=2, duration=3)`` is the window from 2 s to 5 s, ``Schedule(every=0.5,
probability=0.1)`` a fault that each half second happens one time in ten.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import final

import attrs

from .errors import FaultPlanError
from .validators import count, probability, seconds

__all__ = ["Schedule"]


@final
@attrs.frozen
class Schedule:
    """When a fault fires (see the module docstring for what a firing does).

    Args:
        at: seconds after install of the first firing.
        every: then fire again every this many seconds; ``None``: fire once.
        until: no firing after this many seconds after install; ``None``: no limit.
        times: fire at most this many times; ``None``: no limit.
        probability: chance of each event (a firing, or a selected message for a message fault).
        duration: how long a condition or a message fault's window lasts; ``None``: for ever.

    Raises:
        FaultPlanError: naming the field, what was expected and what came.
    """

    at: float = attrs.field(default=0.0, validator=seconds("schedule.at"))
    every: float | None = attrs.field(default=None, validator=seconds("schedule.every", optional=True, positive=True))
    until: float | None = attrs.field(default=None, validator=seconds("schedule.until", optional=True))
    times: int | None = attrs.field(default=None, validator=count("schedule.times", optional=True))
    probability: float = attrs.field(default=1.0, validator=probability("schedule.probability"))
    duration: float | None = attrs.field(
        default=None, validator=seconds("schedule.duration", optional=True, positive=True)
    )

    def __attrs_post_init__(self) -> None:
        if self.until is not None and self.until < self.at:
            raise FaultPlanError("schedule.until", self.until, f"seconds >= schedule.at ({self.at})")

    @classmethod
    def window(cls, start: float, end: float, *, probability: float = 1.0) -> Schedule:
        """Active from ``start`` to ``end`` seconds after install (a message fault's window, a
        condition's outage)."""
        if isinstance(end, (int, float)) and isinstance(start, (int, float)) and not end > start:
            raise FaultPlanError("schedule.window", (start, end), "(start, end) with end > start")
        return cls(at=start, duration=end - start, probability=probability)

    def firings(self) -> Iterator[float]:
        """The firing times, in seconds after install, in order (endless if nothing bounds them)."""
        k = 0
        while self.times is None or k < self.times:
            when = self.at + k * self.every if self.every is not None else self.at
            if self.until is not None and when > self.until:
                return
            yield when
            if self.every is None:
                return
            k += 1
