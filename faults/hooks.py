"""The fault plan's process hooks: crashes armed for a process's next handler, inits armed to
fail, countdowns to a crash, and the restart ledger's view of every item a supervisor handles.

A hook that raises crashes the process exactly as if its callback had raised (the runtime's
``ProcessHooks`` contract), so an injected crash takes the same road as a real one: crash
report, ``terminate``, pending callers failed, links and monitors told. Hooks already installed
on the runtime keep running, before these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

from neural_actors.runtime import Pid, ProcessHooks, Runtime

from .errors import InjectedFault
from .restarts import RestartLedger
from .targets import Target

__all__ = ["ArmedInit", "FaultHooks"]


@final
class ArmedInit:
    """Inits to fail: of processes ``target`` matches, or (a random pick) of the picked
    processes' next incarnations, known by name or else by parent and actor class."""

    __slots__ = ("identities", "index", "remaining", "target")

    def __init__(self, index: int, target: Target, identities: frozenset[Any] | None, remaining: int) -> None:
        self.index = index
        self.target = target
        self.identities = identities
        self.remaining = remaining


def identity(process: Any) -> Any:
    """What a restarted process shares with the one it replaces: its name, or else its parent
    and actor class."""
    if process.name is not None:
        return ("name", process.name)
    return ("spawned", process.parent, type(process.actor).__name__)


@final
class FaultHooks:
    """Process hooks of an installed plan (``Runtime.set_hooks``).

    Args:
        rt: the runtime.
        previous: the hooks installed before, called first; ``None``.
        ledger: the restart ledger, shown every item.
        hit: called as ``hit(kind, index, pid)`` when an armed fault strikes.
    """

    def __init__(
        self, rt: Runtime, previous: ProcessHooks | None, ledger: RestartLedger, hit: Callable[[str, int, Pid], None]
    ) -> None:
        self._rt = rt
        self.previous = previous
        self._ledger = ledger
        self._hit = hit
        #: pid -> plan index of the crash armed for its next handler
        self.crashes: dict[Pid, int] = {}
        #: pid -> [items left before the crash, plan index]
        self.countdowns: dict[Pid, list[int]] = {}
        self.inits: list[ArmedInit] = []

    def before_init(self, process: Any) -> None:
        if self.previous is not None:
            self.previous.before_init(process)
        if not self.inits:
            return
        for armed in self.inits:
            if armed.identities is not None:
                if identity(process) not in armed.identities:
                    continue
            elif not armed.target.matches(self._rt, process):
                continue
            armed.remaining -= 1
            if not armed.remaining:
                self.inits.remove(armed)
            self._hit("fail_init", armed.index, process.pid)
            raise InjectedFault("fail_init", armed.index)

    def before_dispatch(self, process: Any, item: Any) -> None:
        if self.previous is not None:
            self.previous.before_dispatch(process, item)
        self._ledger.observe(process, item)
        if self.crashes:
            index = self.crashes.pop(process.pid, None)
            if index is not None:
                self._hit("crash", index, process.pid)
                raise InjectedFault("crash", index)
        if self.countdowns:
            countdown = self.countdowns.get(process.pid)
            if countdown is not None:
                if countdown[0]:
                    countdown[0] -= 1
                    return
                del self.countdowns[process.pid]
                self._hit("crash_after", countdown[1], process.pid)
                raise InjectedFault("crash_after", countdown[1])

    def disarm(self) -> None:
        """Forget every armed crash, countdown and failing init (the plan heals)."""
        self.crashes.clear()
        self.countdowns.clear()
        self.inits.clear()

    def prune(self) -> None:
        """Forget crashes and countdowns armed for processes that died first."""
        alive = self._rt.is_alive
        for table in (self.crashes, self.countdowns):
            for pid in [pid for pid in table if not alive(pid)]:
                del table[pid]
