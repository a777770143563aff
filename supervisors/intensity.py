"""Restart intensity: OTP's sliding window of recent restarts.

More than ``intensity`` restarts within ``period`` seconds means restarting does not help, so
the supervisor gives up and exits, letting its own supervisor decide. Time is passed in, so the
virtual clock drives it in tests and simulations.
"""

from __future__ import annotations

import collections
from typing import final

__all__ = ["RestartIntensity"]


@final
class RestartIntensity:
    """The restarts of one supervisor within the last ``period`` seconds."""

    __slots__ = ("_times", "intensity", "period")

    def __init__(self, intensity: int, period: float) -> None:
        self.intensity = intensity
        self.period = period
        self._times: collections.deque[float] = collections.deque()

    def add(self, now: float) -> bool:
        """Record a restart at ``now``; False if it is one more than the window allows."""
        times = self._times
        times.append(now)
        while times[0] <= now - self.period:
            times.popleft()
        return len(times) <= self.intensity
