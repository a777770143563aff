"""The dynamic supervisor: many children from one template, started on demand.

OTP's ``simple_one_for_one`` and Elixir's ``DynamicSupervisor``: every child runs the same
template, ``start_dynamic_child`` appends extra arguments, restarts are one-for-one (with the
template's backoff, if any), and on shutdown children are stopped concurrently (they are
independent, and there can be very many). Children are kept by pid; temporary children keep
no start arguments. The restart logic is shared with ``Supervisor`` (``engine.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any

from neural_actors.runtime import FrozenDict, Pid

from .child_spec import ChildSpec, SupervisorFlags
from .engine import RESTARTING, BaseSupervisor, Child, lookup
from .errors import InvalidChildSpec, SupervisorError
from .health import ChildReport
from .management import (
    CountChildren,
    DeleteChild,
    DescribeChildren,
    GetChildspec,
    RestartChild,
    StartDynamicChild,
    TerminateChild,
    WhichChild,
    WhichChildren,
)
from .shutdown import shut_down
from .strategies import one_for_one

__all__ = ["DynamicSupervisor"]


class DynamicSupervisor(BaseSupervisor):
    """Starts children from ``template`` on demand; start with
    ``rt.start(DynamicSupervisor, template, kwargs={"max_children": 100, "intensity": 3})``.

    Args (of ``init``):
        template: the ``ChildSpec`` every child runs; not significant, and without a name
            (every child would register the same one).
        max_children: how many children at most (None: no limit).
        intensity, period: as ``SupervisorFlags`` (defaults 3 restarts in 5 s).

    The management functions work here as on OTP's ``simple_one_for_one``: children have no
    ids (``None``), ``terminate_child`` and ``which_child`` take a pid, and ``restart_child`` and
    ``delete_child`` answer ``simple_one_for_one``.
    """

    def init(
        self, template: ChildSpec, max_children: int | None = None, intensity: int = 3, period: float = 5.0
    ) -> None:
        if type(template) is not ChildSpec:
            raise InvalidChildSpec("template", template, "must be a ChildSpec")
        if template.significant:
            raise InvalidChildSpec(
                "template.significant", True, "must be False: a dynamic supervisor has no auto_shutdown"
            )
        if template.name is not None:
            raise InvalidChildSpec(
                "template.name", template.name, "must be None: every child would register the same name"
            )
        if max_children is not None and (type(max_children) is not int or max_children < 0):
            raise InvalidChildSpec("max_children", max_children, "must be None (no limit) or an int >= 0")
        self._setup(SupervisorFlags(intensity=intensity, period=period))
        self.template = template
        self.max_children = max_children
        # pid -> child; a child whose restart is due stays under the pid it had until it starts
        self.children: dict[Hashable, Child] = {}  # by pid (its last, while a restart is due)

    async def terminate(self, reason: Any) -> None:
        pids = [c.pid for c in self.children.values() if c.pid is not None]
        self.children.clear()
        shutdown = self.template.shutdown_timeout
        await asyncio.gather(*(shut_down(self, pid, shutdown) for pid in pids))
        self._report_shutdown(reason)

    # The child table ---------------------------------------------------------------------

    def _by_pid(self, pid: Pid) -> Child | None:
        child = self.children.get(pid)
        return child if child is not None and child.pid == pid else None

    def _by_key(self, key: Hashable) -> Child | None:
        return self.children.get(key) if type(key) is Pid else None

    def _affected(self, child: Child) -> tuple[Sequence[Child], Sequence[Child]]:
        return one_for_one((), child)

    def _stopped(self, child: Child) -> None:
        self.children.pop(child.key, None)

    def _started(self, child: Child) -> None:
        self.children.pop(child.key, None)
        child.key = child.pid
        self.children[child.key] = child
        if self.template.restart == "temporary":
            child.extra = ()  # never restarted, so its arguments are dead weight

    def _ignored(self, child: Child) -> None:
        self.children.pop(child.key, None)  # simple_one_for_one keeps no spec per child

    def _child_name(self, child: Child) -> Any:
        return repr(child.key)

    def _find(self, pid: Any) -> Child | None:
        """The child that has (or, while its restart is due, had) ``pid``."""
        if type(pid) is not Pid:
            raise SupervisorError("simple_one_for_one", pid, "a dynamic supervisor's children are named by pid")
        return self.children.get(pid)

    # Management calls --------------------------------------------------------------------

    async def _describe_children(self, _: DescribeChildren) -> tuple[ChildReport, ...]:
        return tuple(self._report(child, None) for child in self.children.values())

    async def _which_children(self, _: WhichChildren) -> tuple[tuple[None, Pid | str | None, str], ...]:
        kind = self.template.type
        return tuple((None, RESTARTING if c.restarting else c.pid, kind) for c in self.children.values())

    async def _which_child(self, request: WhichChild) -> tuple[None, Pid | str | None, str]:
        child = self._find(request.child_id)
        if child is None:
            raise SupervisorError("not_found", request.child_id)
        return None, RESTARTING if child.restarting else child.pid, self.template.type

    async def _count_children(self, _: CountChildren) -> FrozenDict:
        total = len(self.children)
        active = sum(c.pid is not None for c in self.children.values())
        supervisors = total if self.template.type == "supervisor" else 0
        return FrozenDict({"specs": 1, "active": active, "supervisors": supervisors,
                           "workers": total - supervisors, "restarts": self.restarts})

    async def _get_childspec(self, request: GetChildspec) -> ChildSpec:
        child_id = request.child_id
        if type(child_id) is not Pid:
            return lookup({self.template.id: self.template}, child_id)
        if child_id not in self.children:
            raise SupervisorError("not_found", child_id)
        return self.template

    async def _start_child(self, request: StartDynamicChild) -> Pid | None:
        extra = request.extra
        if type(extra) is not tuple:
            raise InvalidChildSpec("extra", extra, "must be a tuple of start arguments")
        if self.max_children is not None and len(self.children) >= self.max_children:
            raise SupervisorError("max_children", self.template.id, f"{self.max_children} children already")
        return await self._start_for_call(Child(self.template, None, extra))

    async def _terminate_child(self, request: TerminateChild) -> None:
        child = self._find(request.child_id)
        if child is None:
            # OTP: a pid that already exited is fine; a live stranger is not ours to stop.
            if isinstance(request.child_id, Pid) and self.runtime.is_alive(request.child_id):
                raise SupervisorError("not_found", request.child_id)
            return
        await self._terminate(child)
        self._stopped(child)

    async def _not_simple(self, request: RestartChild | DeleteChild) -> None:
        raise SupervisorError(
            "simple_one_for_one", request.child_id, "a dynamic supervisor's children have no specs of their own"
        )

    REQUESTS = {
        WhichChildren: _which_children,
        WhichChild: _which_child,
        CountChildren: _count_children,
        GetChildspec: _get_childspec,
        StartDynamicChild: _start_child,
        TerminateChild: _terminate_child,
        RestartChild: _not_simple,
        DeleteChild: _not_simple,
        DescribeChildren: _describe_children,
    }
