"""The health of a running tree: each supervisor and child, as data and as JSON.

A snapshot for people and probes: is each child running, restarting or stopped, how often has
it restarted, how deep is its mailbox, why did it last exit. ``tree_health`` walks the tree from
a supervisor with management calls (each supervisor answers for its own children, in mailbox
order), so it works on any tree, however it was built; a subtree that exits while being walked
shows as stopped.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from typing import Any, Literal, final

import attrs

from neural_actors.runtime import ActorExited, CallTimeout, Pid, Runtime, message

from .management import DescribeChildren, manage

__all__ = ["ChildHealth", "ChildReport", "TreeHealth", "tree_health"]

State = Literal["running", "restarting", "stopped"]


@final
@message
class ChildReport:
    """What a supervisor says of one child: the answer to ``DescribeChildren``."""

    id: Hashable
    pid: Pid | None
    type: str
    state: State
    restarts: int
    last_reason: str | None


@final
@attrs.frozen
class ChildHealth:
    """One node of the health tree: a child, and for a supervisor, its own children."""

    id: Hashable
    pid: Pid | None
    type: str
    state: State
    restarts: int
    last_reason: str | None
    mailbox_depth: int | None
    children: tuple[ChildHealth, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for JSON."""
        return {
            "id": self.id if isinstance(self.id, (str, int, float, bool)) else repr(self.id),
            "pid": repr(self.pid) if self.pid is not None else None,
            "type": self.type,
            "state": self.state,
            "restarts": self.restarts,
            "last_reason": self.last_reason,
            "mailbox_depth": self.mailbox_depth,
            "children": [child.to_dict() for child in self.children],
        }


@final
@attrs.frozen
class TreeHealth:
    """The health of a tree from its root supervisor."""

    root: ChildHealth

    @property
    def healthy(self) -> bool:
        """True when every child of the tree is running (none restarting or stopped)."""
        return _all_running(self.root)

    def restarting(self) -> list[Hashable]:
        """The ids of children whose restart is due, anywhere in the tree."""
        return [node.id for node in _walk(self.root) if node.state == "restarting"]

    def to_json(self, **options: Any) -> str:
        """The tree as JSON (``json.dumps`` options pass through)."""
        return json.dumps(self.root.to_dict(), **options)


async def tree_health(runtime: Runtime, root: Pid | Hashable, *, timeout: float | None = 5.0) -> TreeHealth:
    """Walk the tree under supervisor ``root`` and report every node's health.

    Raises:
        ActorExited: ``root`` is not alive.
    """
    pid = root if type(root) is Pid else runtime.whereis(root)
    if pid is None:
        raise ActorExited(root, "noproc")
    info = runtime.process_info(pid)
    node = ChildHealth(root, pid, "supervisor", "running", 0, None, info.mailbox.depth if info else None)
    return TreeHealth(await _expand(runtime, node, timeout))


async def _expand(runtime: Runtime, node: ChildHealth, timeout: float | None) -> ChildHealth:
    try:
        reports: tuple[ChildReport, ...] = await manage(runtime, node.pid, DescribeChildren(), timeout)
    except (ActorExited, CallTimeout):
        return attrs.evolve(node, state="stopped", pid=None, mailbox_depth=None)
    children = []
    for report in reports:
        info = runtime.process_info(report.pid) if report.pid is not None else None
        child = ChildHealth(
            report.id, report.pid, report.type, report.state, report.restarts, report.last_reason,
            info.mailbox.depth if info is not None else None,
        )
        if report.type == "supervisor" and report.pid is not None:
            child = await _expand(runtime, child, timeout)
        children.append(child)
    return attrs.evolve(node, children=tuple(children))


def _walk(node: ChildHealth) -> list[ChildHealth]:
    return [node, *(n for child in node.children for n in _walk(child))]


def _all_running(node: ChildHealth) -> bool:
    return node.state == "running" and all(_all_running(child) for child in node.children)
