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


from neural_actors.runtime import Actor, Exit, Pid, Runtime, StartFailed, Stop, format_reason, is_shutdown

from .child_spec import ChildSpec
from .errors import InvalidChildSpec, SupervisorError
from .intensity import RestartIntensity
from .shutdown import shut_down
from .supervisor import log

__all__ = ["DynamicSupervisor", "start_dynamic_child"]


class DynamicSupervisor(Actor):
    """Starts children from ``template`` on demand; start with
    ``rt.start(DynamicSupervisor, template, kwargs={"max_children": 100, "intensity": 3})``.
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
        # pid -> extra start arguments (None for temporary children: nothing to restart with)
        self.children: dict[Pid, tuple[Any, ...] | None] = {}

    async def handle_call(self, msg: Any, caller: Any) -> Any:
        match msg:
            case ("start_child", extra):
                if self.max_children is not None and len(self.children) >= self.max_children:
                    return SupervisorError("max_children", self.template.id)
                try:
                    return await self._start(extra)
                except StartFailed as failure:
                    return SupervisorError(f"start failed: {format_reason(failure.reason)}", self.template.id)
            case ("which_children",):
                return tuple(self.children)
            case ("terminate_child", pid):
                if pid not in self.children:
                    return SupervisorError("not_found", pid)
                del self.children[pid]
                await shut_down(self, pid, self.template.shutdown_timeout)
                return None
        raise ValueError(f"DynamicSupervisor got an unknown request {msg!r}")

    async def handle_info(self, msg: Any) -> None:
        if type(msg) is not Exit or msg.pid not in self.children:
            return
        extra = self.children.pop(msg.pid)
        restart = self.template.restart
        log.info("child_terminated", supervisor=repr(self.pid), child=repr(msg.pid), reason=format_reason(msg.reason))
        if restart == "temporary" or (restart == "transient" and is_shutdown(msg.reason)):
            return
        if not self.intensity.add(self.runtime.now()):
            log.info("intensity_reached", supervisor=repr(self.pid), intensity=self.intensity.intensity)
            raise Stop("shutdown")
        try:
            await self._start(extra or ())
        except StartFailed as failure:
            log.info("start_error", supervisor=repr(self.pid), reason=format_reason(failure.reason))

    async def terminate(self, reason: Any) -> None:
        children = list(self.children)
        self.children.clear()
        shutdown = self.template.shutdown_timeout
        await asyncio.gather(*(shut_down(self, pid, shutdown) for pid in children))

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


