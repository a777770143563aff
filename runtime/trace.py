"""The event trace: what happened, in order, and a hash that says whether two runs agree.

Deterministic simulation is only useful if it can be checked: two runs with the same seed
must produce the same trace, event for event. Recording costs one ``is not None`` test per
event when tracing is off. Events are rendered to text at once (reprs of pids and messages
are stable), so the hash does not depend on object identity or memory addresses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, final

__all__ = ["Trace"]


@final
class Trace:
    """An append-only record of runtime events with a running BLAKE2 hash.

    Args:
        now: the clock to stamp events with (the loop's time).
        keep: how many recent events to keep for inspection (all of them feed the hash).
    """

    __slots__ = ("_hash", "_now", "count", "events", "keep")

    def __init__(self, now: Callable[[], float], keep: int = 10_000) -> None:
        self._now = now
        self._hash = hashlib.blake2b(digest_size=16)
        self.events: list[str] = []
        self.keep = keep
        self.count = 0

    def record(self, kind: str, *fields: Any) -> None:
        """Append one event: its time, kind and fields."""
        line = f"{self._now():.9f} {kind} " + " ".join(_render(f) for f in fields)
        self._hash.update(line.encode())
        self._hash.update(b"\n")
        self.count += 1
        if len(self.events) < self.keep:
            self.events.append(line)

    def digest(self) -> str:
        """The hex hash of every event so far."""
        return self._hash.hexdigest()


def _render(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}({value})"
    kind = type(value).__name__
    if kind in ("Caller",):
        return f"call:{value.request!r}"
    if kind in ("Info",):
        return f"info:{value.msg!r}"
    if kind == "ContinueItem":
        return f"continue:{value.term!r}"
    return repr(value)
