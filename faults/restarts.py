"""The restart ledger: every restart each supervisor makes, when, and whether its intensity
allowed it, watched from outside the supervisor through the process hooks.

A supervisor restarts only while handling an item: a child's ``Exit`` (restart at once) or its
own ``TryAgain`` (a failed start retried, sent to itself; or a backoff pause that ended, sent
by a timer). Its public ``restarts`` counter grows by one for each. So before each item a
supervisor handles, the ledger reads the counter: what it grew by happened during the previous
item, at the time that item was dispatched, which is the time the supervisor itself gives its
intensity window (it reads the clock before any await). Restarts after a backoff pause do not
count toward the intensity (``max_restarts`` bounds them instead), and are told apart by the
timer that carried their ``TryAgain``.

The rule checked is OTP's: more than ``intensity`` counted restarts within ``period`` seconds
means the supervisor must give up at once, so a supervisor that exceeded it and then handled
another item, or is still alive, broke it. On the virtual clock the times are exact; on the
real clock the window is narrowed by ``slack`` seconds at its far edge, so that the few
microseconds between dispatch and the supervisor's own reading never raise a false alarm.
"""

from __future__ import annotations

from collections import deque
from typing import Any, final

import attrs

from neural_actors.runtime import Exit, Pid, Runtime

from .targets import is_supervisor

__all__ = ["KEPT_ESCALATIONS", "RestartLedger"]

#: Escalations a ledger keeps the name and time of; more are only counted.
KEPT_ESCALATIONS = 1000


@attrs.define(eq=False)
class _Watch:
    """One supervisor incarnation as the ledger follows it."""

    pid: Pid
    name: str
    named: bool
    actor: Any
    intensity: int
    period: float
    seen: int
    item_time: float = 0.0
    item_counts: bool = False
    window: deque[float] = attrs.Factory(deque)
    total: int = 0
    exceeded_at: float | None = None
    exceeded_count: int = 0
    carried_on: bool = False


@final
class RestartLedger:
    """Follows every supervisor's restarts; see the module docstring."""

    def __init__(self, rt: Runtime, *, slack: float = 0.0) -> None:
        self._rt = rt
        self._slack = slack
        self._watches: dict[Pid, _Watch] = {}
        self._timer_items: dict[int, tuple[Any, Pid]] = {}
        #: Restarts of supervisors no longer alive, by name (incarnations of a name add up).
        self._past: dict[str, int] = {}
        self._escalations: list[tuple[str, float]] = []
        self.escalation_count = 0
        self._violations: list[str] = []

    def note_timer(self, target: Pid, item: Any) -> None:
        """A timer message is on its way to ``target`` (the transport tells); remembered if the
        target is a supervisor, to tell a backoff restart from a counted one."""
        process = self._rt.delivery.resolve(target)
        if process is not None and is_supervisor(process.actor):
            self._timer_items[id(item)] = (item, target)

    def observe(self, process: Any, item: Any) -> None:
        """``process`` is about to handle ``item`` (called from ``before_dispatch``)."""
        actor = process.actor
        if not is_supervisor(actor):
            return
        watch = self._watches.get(process.pid)
        if watch is None:
            named = process.name is not None
            name = repr(process.name) if named else repr(process.pid)
            flags = actor.flags
            watch = _Watch(process.pid, name, named, actor, flags.intensity, float(flags.period), actor.restarts)
            self._watches[process.pid] = watch
        self._settle(watch)
        now = self._rt.now()
        if watch.exceeded_at is not None and not watch.carried_on:
            watch.carried_on = True
            self._violations.append(
                f"supervisor {watch.name} made {watch.exceeded_count} restarts within {watch.period} s "
                f"(intensity {watch.intensity}) at t={watch.exceeded_at:.6f} but carried on: it handled "
                f"another message at t={now:.6f} instead of giving up"
            )
        watch.item_time = now
        watch.item_counts = self._counts(item)

    def _counts(self, item: Any) -> bool:
        if type(item) is Exit:
            return True
        if type(getattr(item, "msg", None)).__name__ == "TryAgain":
            return self._timer_items.pop(id(item), None) is None
        return True

    def _settle(self, watch: _Watch) -> None:
        """Attribute what the counter grew by to the item handled last."""
        grown = watch.actor.restarts - watch.seen
        if grown <= 0:
            return
        watch.seen += grown
        watch.total += grown
        if not watch.item_counts:
            return
        window = watch.window
        for _ in range(grown):
            now = watch.item_time
            window.append(now)
            while window[0] <= now - watch.period + self._slack:
                window.popleft()
            if len(window) > watch.intensity and watch.exceeded_at is None:
                watch.exceeded_at = now
                watch.exceeded_count = len(window)

    def prune(self) -> None:
        """Settle and fold in the supervisors that are gone, so memory stays flat in long runs:
        an unnamed one's restarts join those of its unnamed kind (its pid names nothing any
        more), and only the first ``KEPT_ESCALATIONS`` escalations are kept (all are counted)."""
        alive = self._rt.is_alive
        for pid in [pid for pid in self._watches if not alive(pid)]:
            watch = self._watches.pop(pid)
            self._settle(watch)
            name = watch.name if watch.named else f"(unnamed {type(watch.actor).__name__})"
            self._past[name] = self._past.get(name, 0) + watch.total
            if watch.exceeded_at is not None:
                self.escalation_count += 1
                if len(self._escalations) < KEPT_ESCALATIONS:
                    self._escalations.append((watch.name, watch.exceeded_at))
        for key in [key for key, (_, target) in self._timer_items.items() if not alive(target)]:
            del self._timer_items[key]

    def restarts(self) -> dict[str, int]:
        """Restarts per supervisor name so far, all incarnations, in first-seen order."""
        self.prune()
        totals = dict(self._past)
        for watch in self._watches.values():
            self._settle(watch)
            totals[watch.name] = totals.get(watch.name, 0) + watch.total
        return totals

    def escalations(self) -> list[tuple[str, float]]:
        """``(supervisor, time)`` of each supervisor that exceeded its intensity and gave up."""
        self.prune()
        return list(self._escalations)

    def violations(self) -> list[str]:
        """Every breach of the intensity rule so far (see the module docstring)."""
        self.prune()
        found = list(self._violations)
        for watch in self._watches.values():
            self._settle(watch)
            if watch.exceeded_at is not None and not watch.carried_on:
                found.append(
                    f"supervisor {watch.name} made {watch.exceeded_count} restarts within {watch.period} s "
                    f"(intensity {watch.intensity}) at t={watch.exceeded_at:.6f} and is still running"
                )
        return found
