"""Links and monitors: how one process learns that another exited.

A link is bidirectional and kills: when a process exits with a reason other than ``normal``,
every linked process that does not trap exits exits too, with the same reason. A process that
traps exits gets an ``Exit`` message instead. A monitor is one-way and never kills: the watcher
gets a ``Down`` message. Both are system items: never dropped by a full mailbox.

Reasons are plain values, as in Erlang: ``"normal"``, ``"shutdown"``, ``("shutdown", term)``,
``"kill"`` (untrappable when sent with ``exit``; the victim's reason becomes ``"killed"``),
``"noproc"`` (the other side was already dead), ``"noconnection"`` (the other side's node is
gone), or the exception that crashed the process.

``LinkTable`` keeps one node's links and monitors in insertion-ordered dicts, so exit signals
and ``Down`` messages go out in the order the links and monitors were made, in every run.
"""

from __future__ import annotations

from typing import Any, final

from .message import message
from .pid import Pid, Ref

__all__ = ["Down", "Exit", "LinkTable", "is_normal", "is_shutdown"]

NORMAL = "normal"
SHUTDOWN = "shutdown"
KILL = "kill"
KILLED = "killed"
NOPROC = "noproc"
NOCONNECTION = "noconnection"
CORE_FAILED = "core_failed"


@final
@message
class Exit:
    """The message a process that traps exits gets when a linked process exits."""

    __neural_actors_system__ = True

    pid: Pid
    reason: Any


@final
@message
class Down:
    """The message a watcher gets when the process it monitors exits (``noproc`` if already dead)."""

    __neural_actors_system__ = True

    ref: Ref
    pid: Pid
    reason: Any


def is_normal(reason: Any) -> bool:
    """True for ``"normal"``: the exit that linked processes ignore."""
    return reason == NORMAL and type(reason) is str


def is_shutdown(reason: Any) -> bool:
    """True for ``normal``, ``shutdown`` and ``("shutdown", term)``: exits that are not crashes."""
    if type(reason) is str:
        return reason in (NORMAL, SHUTDOWN)
    return type(reason) is tuple and len(reason) == 2 and reason[0] == SHUTDOWN


@final
class LinkTable:
    """The links and monitors of one node, keyed by pid.

    Only processes that have links or monitors have entries, so an idle process without any
    costs nothing here.
    """

    __slots__ = ("_links", "_monitors", "_watching")

    def __init__(self) -> None:
        self._links: dict[Pid, dict[Pid, None]] = {}
        self._monitors: dict[Pid, dict[Ref, Pid]] = {}  # target -> {ref: watcher}
        self._watching: dict[Pid, dict[Ref, Pid]] = {}  # watcher -> {ref: target}

    def link(self, a: Pid, b: Pid) -> None:
        """Link ``a`` and ``b`` (linking twice is harmless)."""
        if a != b:
            self._links.setdefault(a, {})[b] = None
            self._links.setdefault(b, {})[a] = None

    def unlink(self, a: Pid, b: Pid) -> None:
        """Remove the link between ``a`` and ``b``, if any."""
        _discard(self._links, a, b)
        _discard(self._links, b, a)

    def linked(self, pid: Pid) -> tuple[Pid, ...]:
        """The pids linked to ``pid``, in link order."""
        return tuple(self._links.get(pid, ()))

    def monitor(self, ref: Ref, watcher: Pid, target: Pid) -> None:
        """Record that ``watcher`` monitors ``target`` under ``ref``."""
        self._monitors.setdefault(target, {})[ref] = watcher
        self._watching.setdefault(watcher, {})[ref] = target

    def demonitor(self, ref: Ref, watcher: Pid) -> Pid | None:
        """Drop the monitor ``ref`` of ``watcher`` (no error if it is gone); returns its target."""
        target = _discard(self._watching, watcher, ref)
        if target is not None:
            _discard(self._monitors, target, ref)
        return target

    def monitored_by(self, pid: Pid) -> int:
        """How many monitors watch ``pid``."""
        return len(self._monitors.get(pid, ()))

    def forget(self, pid: Pid) -> tuple[list[Pid], list[tuple[Ref, Pid]]]:
        """Remove every entry of an exiting process.

        Returns:
            The pids linked to it, and the ``(ref, watcher)`` pairs monitoring it, in the order
            they were made: whom to signal.
        """
        links = self._links.pop(pid, None)
        linked = list(links) if links else []
        for other in linked:
            _discard(self._links, other, pid)
        monitors = self._monitors.pop(pid, None)
        watchers = list(monitors.items()) if monitors else []
        for ref, watcher in watchers:
            _discard(self._watching, watcher, ref)
        watching = self._watching.pop(pid, None)
        if watching:
            for ref, target in watching.items():
                _discard(self._monitors, target, ref)
        return linked, watchers

    def forget_node(self, node: int) -> tuple[list[tuple[Pid, Pid]], list[tuple[Ref, Pid, Pid]]]:
        """Remove every link and monitor that involves a process of ``node``, which is gone.

        Returns:
            The ``(local, gone)`` pairs of links, and the ``(ref, watcher, gone)`` monitors whose
            target was on ``node``, in the order they were made: whom to signal ``noconnection``.
        """
        links: list[tuple[Pid, Pid]] = []
        for pid in [pid for pid in self._links if pid.node == node]:
            for other in self._links.pop(pid):
                _discard(self._links, other, pid)
                if other.node != node:
                    links.append((other, pid))
        monitors: list[tuple[Ref, Pid, Pid]] = []
        for target in [pid for pid in self._monitors if pid.node == node]:
            for ref, watcher in self._monitors.pop(target).items():
                _discard(self._watching, watcher, ref)
                if watcher.node != node:
                    monitors.append((ref, watcher, target))
        for watcher in [pid for pid in self._watching if pid.node == node]:
            for ref, target in self._watching.pop(watcher).items():
                _discard(self._monitors, target, ref)
        return links, monitors


def _discard(table: dict[Any, dict[Any, Any]], key: Any, member: Any) -> Any:
    """Remove ``member`` from ``table[key]``, dropping the entry once empty; returns its value."""
    entries = table.get(key)
    if entries is None:
        return None
    value = entries.pop(member, None)
    if not entries:
        del table[key]
    return value
