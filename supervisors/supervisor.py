"""The supervisor behaviour: OTP's ``supervisor`` on neural-actors processes.

A supervisor is an actor that traps exits. It starts its children in list order, links to
each, and when one exits applies its restart type (``permanent`` always, ``transient`` after
an abnormal exit, ``temporary`` never) and its strategy: ``one_for_one`` restarts that child,
``one_for_all`` stops the others (in reverse start order) and restarts all, ``rest_for_one``
stops and restarts the children started after it. More than ``intensity`` restarts within
``period`` seconds means restarting does not help: the supervisor stops all children in
reverse order and exits with ``shutdown``, which its own supervisor sees as a child exit.

The restart logic is shared with the dynamic supervisor (``engine.py``); this module keeps the
children, in start order and by id, and answers the management calls about them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from neural_actors.runtime import FrozenDict, NameTaken, Pid, StartFailed, Stop, format_reason

from .child_spec import ChildSpec, SupervisorFlags, check_childspec, check_childspecs
from .engine import RESTARTING, BaseSupervisor, Child, lookup
from .errors import InvalidChildSpec, SupervisorError
from .health import ChildReport
from .management import (
    CountChildren,
    DeleteChild,
    DescribeChildren,
    GetChildspec,
    RestartChild,
    StartChild,
    TerminateChild,
    WhichChild,
    WhichChildren,
)
from .strategies import STRATEGIES

__all__ = ["Supervisor"]


class Supervisor(BaseSupervisor):
    """Supervises children by OTP's rules; start with ``rt.start(Supervisor, flags, children)``.

    Args (of ``init``):
        flags: a ``SupervisorFlags``.
        children: ``ChildSpec`` values, started in this order.

    A faulty flag or spec fails the start with ``InvalidChildSpec`` before any child starts;
    a child that fails to start fails it with ``("shutdown", ("failed_to_start_child", id,
    reason))`` after stopping those already started.
    """

    async def init(self, flags: SupervisorFlags, children: Sequence[ChildSpec]) -> None:
        if type(flags) is not SupervisorFlags:
            raise InvalidChildSpec("flags", flags, "must be a SupervisorFlags")
        check_childspecs(children, flags)
        self._setup(flags)
        self.children: list[Child] = []
        self.by_id: dict[Hashable, Child] = {}
        # pid -> child; may hold pids of children since stopped, checked on lookup and pruned
        # when it outgrows the children: a linear search per exit made a supervisor whose
        # thousands of children all died quadratic.
        self.by_pid: dict[Pid, Child] = {}
        self.strategy = STRATEGIES[flags.strategy]
        for spec in children:
            child = self._add(spec)
            try:
                await self._start(child)
            except (StartFailed, NameTaken) as failure:
                reason = failure.reason if type(failure) is StartFailed else failure
                self.log.error("start_error", child=spec.id, reason=format_reason(reason))
                await self._terminate_all()
                raise Stop(("shutdown", ("failed_to_start_child", spec.id, reason))) from None

    async def terminate(self, reason: Any) -> None:
        await self._terminate_all()
        self._report_shutdown(reason)

    async def _terminate_all(self) -> None:
        for child in reversed(self.children):
            await self._terminate(child)

    # The child table ---------------------------------------------------------------------

    def _add(self, spec: ChildSpec) -> Child:
        child = Child(spec, spec.id)
        self.children.append(child)
        self.by_id[spec.id] = child
        return child

    def _remove(self, child: Child) -> None:
        self.children.remove(child)
        del self.by_id[child.key]

    def _by_pid(self, pid: Pid) -> Child | None:
        child = self.by_pid.get(pid)
        return child if child is not None and child.pid == pid else None

    def _by_key(self, key: Hashable) -> Child | None:
        return self.by_id.get(key)

    def _affected(self, child: Child) -> tuple[Sequence[Child], Sequence[Child]]:
        return self.strategy(self.children, child)

    def _stopped(self, child: Child) -> None:
        if child.spec.restart == "temporary":
            self._remove(child)

    def _started(self, child: Child) -> None:
        if len(self.by_pid) >= 2 * len(self.children) + 16:
            self.by_pid = {c.pid: c for c in self.children if c.pid is not None}
        self.by_pid[child.pid] = child  # type: ignore[index]
        spec = child.spec
        if spec.restart == "temporary" and (spec.args or spec.kwargs):
            # Never restarted, so its arguments are dead weight (OTP drops them too).
            child.spec = spec.without_arguments()

    def _ignored(self, child: Child) -> None:
        if child.spec.restart == "temporary":
            self._remove(child)

    def _auto_shutdown_due(self) -> bool:
        if self.flags.auto_shutdown == "any_significant":
            return True
        if self.flags.auto_shutdown == "all_significant":
            return not any(c.spec.significant and c.pid is not None for c in self.children)
        return False

    @staticmethod
    def _info(child: Child) -> tuple[Hashable, Pid | str | None, str]:
        return child.spec.id, RESTARTING if child.restarting else child.pid, child.spec.type

    # Management calls --------------------------------------------------------------------

    async def _describe_children(self, _: DescribeChildren) -> tuple[ChildReport, ...]:
        return tuple(self._report(child, child.spec.id) for child in self.children)

    async def _which_children(self, _: WhichChildren) -> tuple[tuple[Hashable, Pid | str | None, str], ...]:
        return tuple(map(self._info, self.children))

    async def _which_child(self, request: WhichChild) -> tuple[Hashable, Pid | str | None, str]:
        return self._info(lookup(self.by_id, request.child_id))

    async def _count_children(self, _: CountChildren) -> FrozenDict:
        active = sum(c.pid is not None for c in self.children)
        supervisors = sum(c.spec.type == "supervisor" for c in self.children)
        return FrozenDict({"specs": len(self.children), "active": active, "supervisors": supervisors,
                           "workers": len(self.children) - supervisors, "restarts": self.restarts})

    async def _get_childspec(self, request: GetChildspec) -> ChildSpec:
        return lookup(self.by_id, request.child_id).spec

    async def _start_child(self, request: StartChild) -> Pid | None:
        spec = request.spec
        if type(spec) is not ChildSpec:
            raise InvalidChildSpec(
                "spec", spec, "must be a ChildSpec (a DynamicSupervisor starts children with start_dynamic_child)"
            )
        check_childspec(spec, self.flags)
        existing = self.by_id.get(spec.id)
        if existing is not None:
            raise SupervisorError("already_started" if existing.pid is not None else "already_present", spec.id)
        child = self._add(spec)
        try:
            return await self._start_for_call(child)  # an ignored temporary child is removed there
        except BaseException:
            self._remove(child)
            raise

    async def _terminate_child(self, request: TerminateChild) -> None:
        child = lookup(self.by_id, request.child_id)
        await self._terminate(child)
        if child.stashed:  # casts kept for a restart that will not come
            self.log.warning("casts_dropped_while_restarting", child=child.key, dropped=len(child.stashed))
            child.stashed = ()
        self._stopped(child)

    async def _restart_child(self, request: RestartChild) -> Pid | None:
        child = self._stopped_child(request.child_id)
        return await self._start_for_call(child)

    async def _delete_child(self, request: DeleteChild) -> None:
        self._remove(self._stopped_child(request.child_id))

    def _stopped_child(self, child_id: Any) -> Child:
        """The stopped child ``child_id`` names, for ``restart_child`` and ``delete_child``."""
        child = lookup(self.by_id, child_id)
        if child.restarting:
            raise SupervisorError(RESTARTING, child_id)
        if child.pid is not None:
            raise SupervisorError("running", child_id)
        return child

    REQUESTS = {
        WhichChildren: _which_children,
        WhichChild: _which_child,
        CountChildren: _count_children,
        GetChildspec: _get_childspec,
        StartChild: _start_child,
        TerminateChild: _terminate_child,
        RestartChild: _restart_child,
        DeleteChild: _delete_child,
        DescribeChildren: _describe_children,
    }
