"""Links and monitors: how one process learns that another exited.

A link is bidirectional and kills: when a process exits with a reason other than ``normal``,
every linked process that does not trap exits exits too, with the same reason. A process that
traps exits gets an ``Exit`` message instead. A monitor is one-way and never kills: the watcher
gets a ``Down`` message. Both are system items: never dropped by a full mailbox.

Reasons are plain values, as in Erlang: ``"normal"``, ``"shutdown"``, ``("shutdown", term)``,
``"kill"`` (untrappable when sent with ``exit``; the victim's reason becomes ``"killed"``),
``"noproc"`` (the other side was already dead), or the exception that crashed the process.
"""

from __future__ import annotations

from typing import Any, final

import attrs

from .pid import Pid, Ref

__all__ = ["Down", "Exit", "is_normal", "is_shutdown"]

NORMAL = "normal"
SHUTDOWN = "shutdown"
KILL = "kill"
KILLED = "killed"
NOPROC = "noproc"


@final
@attrs.frozen
class Exit:
    """The message a process that traps exits gets when a linked process exits."""

    __neural_actors_system__ = True

    pid: Pid
    reason: Any


@final
@attrs.frozen
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
