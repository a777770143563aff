"""The supervisor behaviour: OTP's ``supervisor`` on neural-actors processes.

A supervisor is an actor that traps exits. It starts its children in list order, links to
each, and when one exits applies its restart type (``permanent`` always, ``transient`` after
an abnormal exit, ``temporary`` never) and its strategy: ``one_for_one`` restarts that child,
``one_for_all`` stops the others (in reverse start order) and restarts all, ``rest_for_one``
stops and restarts the children started after it. More than ``intensity`` restarts within
``period`` seconds means restarting does not help: the supervisor stops all children in
reverse order and exits with ``shutdown``, which its own supervisor sees as a child exit.

Stopping a child follows OTP (``shutdown.py``).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Hashable, Sequence
from typing import Any

import attrs
import structlog
from neural_actors.runtime import (
    Actor,
    Exit,
    FrozenDict,
    NameTaken,
    Pid,
    Runtime,
    StartFailed,
    Stop,
    format_reason,
    is_shutdown,
    message,
)

from .backoff import Backoff, Pausing
from .child_spec import ChildSpec, SupervisorFlags
from .errors import InvalidChildSpec, SupervisorError
from .intensity import RestartIntensity
from .shutdown import shut_down

__all__ = [
    "RESTARTING",
    "Supervisor",
    "count_children",
    "delete_child",
    "restart_child",
    "start_child",
    "terminate_child",
    "which_children",
]

log = structlog.get_logger("neural_actors.supervisors")

#: Where ``which_children`` shows a pid, a child whose restart failed and will be retried shows
#: this, as OTP's ``restarting``.
RESTARTING = "restarting"


@attrs.define(eq=False)
class _Child:
    spec: ChildSpec
    pid: Pid | None = None
    started_at: float = 0.0
    attempt: int = 0  # restarts since the child last ran for backoff.reset_after
    timer: Any = None  # the pending backoff restart, if any
    pausing: Pid | None = None  # holds a named child's name during a backoff pause
    restarting: bool = False  # a restart is due: retried after a failed start, or after a pause


@message
class _TryAgain:
    """A restart that is due (after a failed start or a backoff pause), sent to the supervisor
    itself so it stays responsive meanwhile; a dynamic supervisor's children go by their old pid."""

    child_id: Hashable


class Supervisor(Actor):
    """Supervises children by OTP's rules; start with ``rt.start(Supervisor, flags, children)``."""

    trap_exit = True

    async def init(self, flags: SupervisorFlags, children: Sequence[ChildSpec]) -> None:
        if not isinstance(flags, SupervisorFlags):
            raise InvalidChildSpec("flags", flags, "must be a SupervisorFlags")
        flags.check_children(children)
        self.flags = flags
        self.children: list[_Child] = []
        self.intensity = RestartIntensity(flags.intensity, flags.period)
        # Bound once: the module-level proxy would rebuild a logger for every report, which
        # costs more than a restart when the level is filtered out anyway.
        self._log = log.bind(supervisor=repr(self.pid))
        self.rng = random.Random(self.pid.serial)  # backoff jitter that replays with the run
        for spec in children:
            child = _Child(spec)
            self.children.append(child)
            try:
                await self._start(child)
            except StartFailed as failure:
                await self._terminate_all()
                raise Stop(("shutdown", ("failed_to_start_child", spec.id, failure.reason))) from None

    async def terminate(self, reason: Any) -> None:
        await self._terminate_all()
        self._report("shutdown", reason=format_reason(reason))

    # A process has terminated ------------------------------------------------------------

    async def handle_info(self, msg: Any) -> None:
        if type(msg) is Exit:
            child = self._by_pid(msg.pid)
            if child is not None:  # else an exit of a child already stopped on purpose
                await self._child_exited(child, msg.reason)
        elif type(msg) is _TryAgain:
            child = self._by_id(msg.child_id)
            if child is not None and child.restarting:
                child.timer = None
                await self._restart(child, counted=child.spec.backoff is None)
        else:
            Actor.handle_info(self, msg)

    async def _child_exited(self, child: _Child, reason: Any) -> None:
        child.pid = None
        self._report("child_terminated", child=child.spec.id, reason=format_reason(reason))
        spec = child.spec
        if spec.restart == "permanent" or (spec.restart == "transient" and not is_shutdown(reason)):
            if spec.backoff is None:
                await self._restart(child)
            else:
                self._schedule_restart(child, spec.backoff)
            return
        if spec.restart == "temporary":
            self.children.remove(child)
        if spec.significant and self._auto_shutdown_due():
            self._report("auto_shutdown", child=spec.id)
            raise Stop("shutdown")

    def _auto_shutdown_due(self) -> bool:
        if self.flags.auto_shutdown == "any_significant":
            return True
        if self.flags.auto_shutdown == "all_significant":
            return not any(c.spec.significant and c.pid is not None for c in self.children)
        return False

    # Restart -----------------------------------------------------------------------------

    def _schedule_restart(self, child: _Child, backoff: Backoff) -> None:
        """Restart after a pause that doubles with each quick failure (the backoff throttles,
        so these restarts do not count toward the intensity)."""
        now = self.runtime.now()
        if now - child.started_at >= backoff.reset_after:
            child.attempt = 0
        delay = backoff.delay(child.attempt, self.rng)
        child.attempt += 1
        child.restarting = True
        child.timer = self.send_after(delay, self.pid, _TryAgain(child.spec.id))
        if child.spec.name is not None:
            child.pausing = self.spawn_link(Pausing, child.spec.id, child.spec.name, backoff.stash, name=child.spec.name)
        self._report("restart_scheduled", child=child.spec.id, delay=round(delay, 6), attempt=child.attempt)

    async def _restart(self, child: _Child, counted: bool = True) -> None:
        if counted and not self.intensity.add(self.runtime.now()):
            self._report("intensity_reached", intensity=self.flags.intensity, period=self.flags.period)
            raise Stop("shutdown")
        for sibling in await STRATEGIES[self.flags.strategy](self, child):
            try:
                await self._start(sibling)
            except StartFailed as failure:
                self._report("start_error", child=sibling.spec.id, reason=format_reason(failure.reason))
                # Retried as a message, not in a loop: shutdown and calls are served meanwhile.
                sibling.restarting = True
                self.send(self.pid, _TryAgain(sibling.spec.id))
                return
            self._report("restart", child=sibling.spec.id, pid=repr(sibling.pid))

    async def _one_for_one(self, child: _Child) -> list[_Child]:
        return [child]

    async def _one_for_all(self, child: _Child) -> list[_Child]:
        await self._terminate_many([c for c in self.children if c is not child])
        return [c for c in self.children if c.pid is None]

    async def _rest_for_one(self, child: _Child) -> list[_Child]:
        rest = self.children[self.children.index(child) + 1 :]
        await self._terminate_many(rest)
        return [child, *(c for c in rest if c in self.children)]

    # Starting and stopping children ------------------------------------------------------

    async def _start(self, child: _Child) -> Pid:
        spec = child.spec
        stashed = await self._end_pause(child)
        child.pid = await self.start_link(
            spec.actor, *spec.args, kwargs=spec.kwargs, shutdown=spec.shutdown_timeout, name=spec.name
        )
        child.restarting = False
        child.started_at = self.runtime.now()
        if spec.restart == "temporary" and (spec.args or spec.kwargs):
            # Never restarted, so its arguments are dead weight (OTP drops them too).
            child.spec = attrs.evolve(spec, start=(spec.actor, ()))
        self._report("child_started", child=spec.id, pid=repr(child.pid))
        for msg in stashed:
            self.cast(child.pid, msg)
        return child.pid

    async def _end_pause(self, child: _Child) -> tuple[Any, ...]:
        """Stop the stand-in holding the child's name; returns the casts it stashed."""
        if child.pausing is None:
            return ()
        pausing, child.pausing = child.pausing, None
        stashed, dropped = await self.call(pausing, ("hand_over", child.spec.id))
        await shut_down(self, pausing, "brutal_kill")
        if dropped:
            self._report("casts_dropped_while_restarting", child=child.spec.id, dropped=dropped)
        return stashed

    async def _terminate_many(self, children: Sequence[_Child]) -> None:
        """Stop children in reverse start order; strategy-stopped temporary children are gone."""
        for child in reversed(children):
            await self._terminate(child)
            if child.spec.restart == "temporary":
                self.children.remove(child)

    async def _terminate_all(self) -> None:
        for child in reversed(self.children):
            await self._terminate(child)

    async def _terminate(self, child: _Child) -> None:
        pid = child.pid
        if pid is None:
            return
        child.pid = None
        reason = await shut_down(self, pid, child.spec.shutdown_timeout)
        self._report("child_terminated", child=child.spec.id, reason=format_reason(reason), on_purpose=True)

    # Management calls --------------------------------------------------------------------

    async def handle_call(self, msg: Any, caller: Any) -> Any:
        match msg:
            case ("which_children",):
                return tuple((c.spec.id, RESTARTING if c.restarting else c.pid, c.spec.type) for c in self.children)
            case ("count_children",):
                active = sum(c.pid is not None for c in self.children)
                supervisors = sum(c.spec.type == "supervisor" for c in self.children)
                return FrozenDict({"specs": len(self.children), "active": active, "supervisors": supervisors,
                        "workers": len(self.children) - supervisors, "restarts": self.intensity.total})
            case ("start_child", spec):
                return await self._start_child(spec)
            case ("terminate_child", child_id):
                child = self._by_id(child_id)
                if child is None:
                    return SupervisorError("not_found", child_id)
                await self._cancel_restart(child)
                await self._terminate(child)
                if child.spec.restart == "temporary":
                    self.children.remove(child)
                return None
            case ("restart_child", child_id):
                child = self._by_id(child_id)
                if (error := _not_stopped(child, child_id)) is not None:
                    return error
                return await start_or_error(self._start(child), child_id)
            case ("delete_child", child_id):
                child = self._by_id(child_id)
                if (error := _not_stopped(child, child_id)) is not None:
                    return error
                self.children.remove(child)
                return None
        raise ValueError(f"Supervisor got an unknown request {msg!r}")

    async def _cancel_restart(self, child: _Child) -> None:
        """Drop a due restart: a pending retry message is then ignored, a backoff timer cancelled."""
        child.restarting = False
        if child.timer is not None:
            self.cancel_timer(child.timer)
            child.timer = None
        await self._end_pause(child)

    async def _start_child(self, spec: ChildSpec) -> Any:
        existing = self._by_id(spec.id)
        if existing is not None:
            return SupervisorError("already_started" if existing.pid is not None else "already_present", spec.id)
        self.flags.check_children([*(c.spec for c in self.children), spec])
        child = _Child(spec)
        started = await start_or_error(self._start(child), spec.id)
        if type(started) is not SupervisorError:
            self.children.append(child)
        return started

    # Lookup and reports ------------------------------------------------------------------

    def _by_pid(self, pid: Pid) -> _Child | None:
        return next((c for c in self.children if c.pid == pid), None)

    def _by_id(self, child_id: Hashable) -> _Child | None:
        return next((c for c in self.children if c.spec.id == child_id), None)

    def _report(self, event: str, **fields: Any) -> None:
        self._log.info(event, **fields)


STRATEGIES = {
    "one_for_one": Supervisor._one_for_one,
    "one_for_all": Supervisor._one_for_all,
    "rest_for_one": Supervisor._rest_for_one,
}


def _not_stopped(child: _Child | None, child_id: Hashable) -> SupervisorError | None:
    """Why ``restart_child`` or ``delete_child`` cannot act on ``child``; None if it is stopped."""
    if child is None:
        return SupervisorError("not_found", child_id)
    if child.restarting:
        return SupervisorError(RESTARTING, child_id)
    if child.pid is not None:
        return SupervisorError("running", child_id)
    return None


async def start_or_error(starting: Awaitable[Pid], child_id: Hashable) -> Pid | SupervisorError:
    """Await a child's start; a start that failed, or a name already held, becomes the error a
    management call answers with (OTP's ``{error, Reason}``), instead of crashing the supervisor."""
    try:
        return await starting
    except StartFailed as failure:
        return SupervisorError("start_failed", child_id, format_reason(failure.reason))
    except NameTaken as taken:
        return SupervisorError("already_started", child_id, f"{taken.name!r} is held by {taken.holder!r}")


async def _manage(runtime: Runtime, supervisor: Any, request: tuple[Any, ...]) -> Any:
    result = await runtime.call(supervisor, request, timeout=None)
    if isinstance(result, SupervisorError):
        raise result
    return result


async def which_children(runtime: Runtime, supervisor: Any) -> tuple[tuple[Hashable, Pid | str | None, str], ...]:
    """``(id, pid, type)`` for each child in start order; the pid is ``None`` for a stopped child
    and ``RESTARTING`` for one whose restart is due. A ``DynamicSupervisor``'s ids are ``None``."""
    return await _manage(runtime, supervisor, ("which_children",))


async def count_children(runtime: Runtime, supervisor: Any) -> dict[str, int]:
    """Counts of specs, active children, supervisors, workers, and restarts so far."""
    return dict(await _manage(runtime, supervisor, ("count_children",)))


async def start_child(runtime: Runtime, supervisor: Any, spec: ChildSpec) -> Pid:
    """Add and start a child. Raises ``SupervisorError`` (``already_present``, ``already_started``)."""
    return await _manage(runtime, supervisor, ("start_child", spec))


async def terminate_child(runtime: Runtime, supervisor: Any, child_id: Hashable) -> None:
    """Stop a child, keeping its spec (temporary children are removed). Raises ``not_found``.

    A ``DynamicSupervisor``'s children are named by pid, and are forgotten once stopped.
    """
    await _manage(runtime, supervisor, ("terminate_child", child_id))


async def restart_child(runtime: Runtime, supervisor: Any, child_id: Hashable) -> Pid:
    """Start a stopped child again. Raises ``SupervisorError`` (``not_found``, ``running``,
    ``restarting``; ``simple_one_for_one`` for a ``DynamicSupervisor``)."""
    return await _manage(runtime, supervisor, ("restart_child", child_id))


async def delete_child(runtime: Runtime, supervisor: Any, child_id: Hashable) -> None:
    """Remove a stopped child's spec. Raises ``SupervisorError`` (``not_found``, ``running``,
    ``restarting``; ``simple_one_for_one`` for a ``DynamicSupervisor``)."""
    await _manage(runtime, supervisor, ("delete_child", child_id))
