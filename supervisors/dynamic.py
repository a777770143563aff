"""The dynamic supervisor: many children from one template, started on demand.

OTP's ``simple_one_for_one`` and Elixir's ``DynamicSupervisor``: every child runs the same
template, ``start_child`` appends extra arguments, restarts are one-for-one, and on shutdown
children are stopped concurrently (they are independent, and there can be very many).
Temporary children keep no start arguments, so thousands of short-lived children cost only
their pids.
"""

from __future__ import annotations

import asyncio
from typing import Any

from neural_actors.runtime import (
    Actor,
    Exit,
    FrozenDict,
    Pid,
    Runtime,
    StartFailed,
    Stop,
    format_reason,
    is_shutdown,
)

from .child_spec import ChildSpec
from .errors import InvalidChildSpec, SupervisorError
from .intensity import RestartIntensity
from .shutdown import shut_down
from .supervisor import RESTARTING, _TryAgain, log, start_or_error

__all__ = ["DynamicSupervisor", "start_dynamic_child"]


class DynamicSupervisor(Actor):
    """Starts children from ``template`` on demand; start with
    ``rt.start(DynamicSupervisor, template, kwargs={"max_children": 100, "intensity": 3})``.

    The management functions of ``supervisor.py`` work here as on OTP's ``simple_one_for_one``:
    children have no ids (``None``), ``terminate_child`` takes a pid, and ``restart_child`` and
    ``delete_child`` answer ``simple_one_for_one``.
    """

    trap_exit = True

    def init(self, template: ChildSpec, max_children: int | None = None, intensity: int = 3, period: float = 5.0) -> None:
        if template.significant:
            raise InvalidChildSpec("significant", True, "a dynamic supervisor's template cannot be significant")
        if max_children is not None and (type(max_children) is not int or max_children < 0):
            raise InvalidChildSpec("max_children", max_children, "must be an int >= 0 or None")
        self.template = template
        self.max_children = max_children
        self.intensity = RestartIntensity(intensity, period)
        self._log = log.bind(supervisor=repr(self.pid))
        # pid -> extra start arguments (None for temporary children: nothing to restart with)
        self.children: dict[Pid, tuple[Any, ...] | None] = {}
        # the pid a child had before its restart failed -> its arguments, until a retry succeeds
        self.restarting: dict[Pid, tuple[Any, ...]] = {}

    async def handle_call(self, msg: Any, caller: Any) -> Any:
        match msg:
            case ("start_child", extra):
                if self.max_children is not None and len(self.children) + len(self.restarting) >= self.max_children:
                    return SupervisorError("max_children", self.template.id)
                return await start_or_error(self._start(extra), self.template.id)
            case ("which_children",):
                kind = self.template.type
                return (*((None, pid, kind) for pid in self.children), *((None, RESTARTING, kind) for _ in self.restarting))
            case ("count_children",):
                total = len(self.children) + len(self.restarting)
                supervisors = total if self.template.type == "supervisor" else 0
                return FrozenDict({"specs": 1, "active": len(self.children), "supervisors": supervisors,
                        "workers": total - supervisors, "restarts": self.intensity.total})
            case ("terminate_child", pid):
                if type(pid) is not Pid:
                    return SupervisorError("simple_one_for_one", pid, "a dynamic supervisor's children are named by pid")
                if self.restarting.pop(pid, None) is not None:
                    return None
                if pid not in self.children:
                    # OTP: a pid that already exited is fine; a live stranger is not ours to stop.
                    return SupervisorError("not_found", pid) if self.runtime.is_alive(pid) else None
                del self.children[pid]
                await shut_down(self, pid, self.template.shutdown_timeout)
                return None
            case ("restart_child", child) | ("delete_child", child):
                return SupervisorError("simple_one_for_one", child)
        raise ValueError(f"DynamicSupervisor got an unknown request {msg!r}")

    async def handle_info(self, msg: Any) -> None:
        if type(msg) is _TryAgain:
            if msg.child_id in self.restarting:
                await self._restart(msg.child_id, self.restarting.pop(msg.child_id))
            return
        if type(msg) is not Exit or msg.pid not in self.children:
            return
        extra = self.children.pop(msg.pid)
        restart = self.template.restart
        self._log.info("child_terminated", child=repr(msg.pid), reason=format_reason(msg.reason))
        if restart == "temporary" or (restart == "transient" and is_shutdown(msg.reason)):
            return
        await self._restart(msg.pid, extra or ())

    async def _restart(self, old: Pid, extra: tuple[Any, ...]) -> None:
        if not self.intensity.add(self.runtime.now()):
            self._log.info("intensity_reached", intensity=self.intensity.intensity, period=self.intensity.period)
            raise Stop("shutdown")
        try:
            pid = await self._start(extra)
        except StartFailed as failure:
            self._log.info("start_error", child=repr(old), reason=format_reason(failure.reason))
            self.restarting[old] = extra
            self.send(self.pid, _TryAgain(old))
            return
        self._log.info("restart", child=repr(old), pid=repr(pid))

    async def terminate(self, reason: Any) -> None:
        children = list(self.children)
        self.children.clear()
        self.restarting.clear()
        shutdown = self.template.shutdown_timeout
        await asyncio.gather(*(shut_down(self, pid, shutdown) for pid in children))
        self._log.info("shutdown", reason=format_reason(reason))

    async def _start(self, extra: tuple[Any, ...]) -> Pid:
        spec = self.template
        pid = await self.start_link(spec.actor, *spec.args, *extra, kwargs=spec.kwargs, shutdown=spec.shutdown_timeout)
        self.children[pid] = None if spec.restart == "temporary" else extra
        return pid


async def start_dynamic_child(runtime: Runtime, supervisor: Any, *extra: Any) -> Pid:
    """Start a child of a ``DynamicSupervisor`` with ``extra`` arguments after the template's.

    Raises:
        SupervisorError: ``max_children`` reached, or the child failed to start.
    """
    result = await runtime.call(supervisor, ("start_child", extra), timeout=None)
    if isinstance(result, SupervisorError):
        raise result
    return result


