"""Argument checks shared by the runtime's public calls, run before anything is queued or started.

A bad argument found after a request was queued has already had its effect; so every public
call checks its arguments first, naming the argument, what was expected and what came.
"""

from __future__ import annotations

import math
from typing import Any, Literal

__all__ = ["Shutdown", "check_seconds", "check_shutdown"]

#: How long a process gets to stop: seconds, ``"infinity"``, or ``"brutal_kill"`` (no time).
Shutdown = float | Literal["brutal_kill", "infinity"]


def check_seconds(name: str, value: Any, *, none_ok: bool = False) -> None:
    """Raise unless ``value`` is a finite number of seconds >= 0 (or ``None`` where allowed).

    Raises:
        TypeError: ``value`` is not a number.
        ValueError: ``value`` is negative, NaN or infinite.
    """
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        expected = "seconds (a number) or None" if none_ok else "seconds (a number)"
        raise TypeError(f"{name} must be {expected} (got {value!r}, a {type(value).__name__})")
    if not math.isfinite(value) or value < 0:
        hint = "; use None to wait for ever" if none_ok and value == math.inf else ""
        raise ValueError(f"{name} must be finite seconds >= 0 (got {value!r}){hint}")


def check_shutdown(value: Any) -> None:
    """Raise unless ``value`` is ``"brutal_kill"``, ``"infinity"`` or finite seconds >= 0."""
    if value in ("brutal_kill", "infinity") and type(value) is str:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"shutdown must be 'brutal_kill', 'infinity' or finite seconds >= 0 (got {value!r})")
