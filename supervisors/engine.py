"""What both supervisors share: restarting children by OTP's rules, and answering calls.

``Supervisor`` (children from a list, named by id, kept in start order) and
``DynamicSupervisor`` (children from one template, named by pid) differ in how they keep their
children, which children a restart stops and starts, and how they stop them all. The rest
lives here, once:

- a child's exit: its restart type decides (``permanent`` always, ``transient`` after an
  abnormal exit, ``temporary`` never); a restart counts toward the intensity, and one more than
  the window allows makes the supervisor give up (exit ``shutdown``, escalating to its parent);
- a start that fails during a restart is retried as a message to the supervisor itself, as
  OTP's ``try_again_restart``: calls and shutdown are served between attempts, and each
  attempt counts toward the intensity, so a child that cannot start escalates;
- with ``backoff``, every restart (after a crash or after a failed start) waits its pause and
  does not count toward the intensity; ``max_restarts`` restarts in a row make the supervisor
  give up instead;
- reports at OTP's levels: errors for a child's abnormal exit, a failed start and giving up;
  info for starts and restarts;
- management calls: a table from request type to handler; a bad argument or an unknown
  request is answered with an error, and the tree stays as it was.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from neural_actors.runtime import (
    Actor,
    Caller,
    Exit,
    NameTaken,
    NoReply,
    Pid,
    StartFailed,
    StartIgnored,
    Stop,
    TimerRef,
    format_reason,
    is_shutdown,
    message,
)

from .backoff import Backoff, HandOver, Pausing
from .child_spec import ChildSpec, SupervisorFlags
from .errors import InvalidChildSpec, SupervisorError
from .health import ChildReport
from .intensity import RestartIntensity
from .shutdown import shut_down

__all__ = ["RESTARTING", "BaseSupervisor", "Child", "TryAgain", "lookup"]


#: Where ``which_children`` shows a pid, a child whose restart is due (retried after a failed
#: start, or pausing under backoff) shows this, as OTP's ``restarting``.
RESTARTING = "restarting"


@attrs.define(eq=False)
class Child:
    """One child as its supervisor keeps it: the spec and what happened to it so far."""

    spec: ChildSpec
    key: Hashable  # how its supervisor finds it: the id, or a dynamic child's (last) pid
    extra: tuple[Any, ...] = ()  # a dynamic child's own start arguments
    pid: Pid | None = None
    reason: Any = None  # its last exit or start failure, for reports
    started_at: float = 0.0
    attempt: int = 0  # backoff restarts since the child last ran for reset_after
    timer: TimerRef | None = None  # the pending backoff restart, if any
    pausing: Pid | None = None  # holds a named child's name during a backoff pause
    stashed: tuple[Any, ...] = ()  # casts kept during a pause, for the next incarnation
    core: int | None = None  # where it last ran, so a restart keeps its core
    starts: int = 0  # successful starts; every one after the first was a restart
    restarting: bool = False  # a restart is due: retried after a failed start, or after a pause


@message
class TryAgain:
    """A restart that is due (after a failed start or a backoff pause), sent by the supervisor
    to itself so that it stays responsive meanwhile; ``key`` is the child's ``Child.key``."""

    key: Hashable


Handler = Callable[[Any, Any], Awaitable[Any]]

#: The exit reason of a supervisor that gave up, as OTP's: a shutdown (its own supervisor
#: does not count it as a crash) that says why.
GAVE_UP = ("shutdown", "reached_max_restart_intensity")
T = TypeVar("T")


def lookup(table: Mapping[Hashable, T], child_id: Any) -> T:
    """``table[child_id]`` for a management call: the caller's error if there is none."""
    try:
        found = table.get(child_id)
    except TypeError:  # immutable, so it could be sent, yet unhashable: a tuple holding an array
        raise InvalidChildSpec("child_id", child_id, "must be a hashable child id") from None
    if found is None:
        raise SupervisorError("not_found", child_id)
    return found


class BaseSupervisor(Actor):
    """The restart engine and call dispatch shared by ``Supervisor`` and ``DynamicSupervisor``.

    A subclass keeps the children and implements the hooks in "The child table"; it lists the
    requests it answers in ``REQUESTS``.
    """

    trap_exit = True

    #: request type -> handler (an async method taking the request)
    REQUESTS: ClassVar[Mapping[type, Handler]] = {}

    def _setup(self, flags: SupervisorFlags) -> None:
        self.flags = flags
        self.intensity = RestartIntensity(flags.intensity, flags.period)
        self.restarts = 0
        # Bound once: the module-level proxy would rebuild a logger for every report, which
        # costs more than a restart when the level is filtered out anyway.
        self.log = self.log.bind(supervisor=repr(self.pid))
        self.rng = random.Random(self.pid.serial)  # backoff jitter that replays with the run

    # The child table (each kind of supervisor keeps its own) -----------------------------

    def _by_pid(self, pid: Pid) -> Child | None:
        """The running child with this pid."""
        raise NotImplementedError

    def _by_key(self, key: Hashable) -> Child | None:
        """The child with this ``Child.key``."""
        raise NotImplementedError

    def _affected(self, child: Child) -> tuple[Sequence[Child], Sequence[Child]]:
        """The children to stop, then to start, to restart ``child`` (see ``strategies``)."""
        raise NotImplementedError

    def _stopped(self, child: Child) -> None:
        """``child`` stopped and is not restarted: forget it, or keep its spec."""
        raise NotImplementedError

    def _started(self, child: Child) -> None:
        """``child`` has just started with a new pid."""
        raise NotImplementedError

    def _ignored(self, child: Child) -> None:
        """``child``'s ``init`` returned ``Ignore``: keep its spec, or let it go."""
        raise NotImplementedError

    def _auto_shutdown_due(self) -> bool:
        """Whether a significant child's exit, just handled, shuts the supervisor down."""
        return False

    def _child_name(self, child: Child) -> Any:
        """``child`` as reports name it."""
        return child.key

    # A process has terminated ------------------------------------------------------------

    async def handle_info(self, msg: Any) -> None:
        if type(msg) is Exit:
            child = self._by_pid(msg.pid)
            if child is not None:  # else an exit of a child already stopped on purpose
                await self._child_exited(child, msg.reason)
        elif type(msg) is TryAgain:
            child = self._by_key(msg.key)
            if child is not None and child.restarting:  # else the restart was cancelled
                child.timer = None
                await self._restart(child)
        else:
            Actor.handle_info(self, msg)

    async def _child_exited(self, child: Child, reason: Any) -> None:
        child.pid = None
        child.reason = reason
        spec = child.spec
        restart = spec.restart == "permanent" or (spec.restart == "transient" and not is_shutdown(reason))
        # OTP reports an error for every exit it did not ask for, except a normal end of a
        # child that may end (transient, temporary).
        report = self.log.error if restart or not is_shutdown(reason) else self.log.info
        report("child_terminated", child=self._child_name(child), reason=format_reason(reason), restart=spec.restart)
        if restart:
            if spec.backoff is None:
                await self._restart(child)
            else:
                self._pause(child, spec.backoff, ran=True)
            return
        self._stopped(child)
        if spec.significant and self._auto_shutdown_due():
            self.log.info("auto_shutdown", child=self._child_name(child), auto_shutdown=self.flags.auto_shutdown)
            raise Stop("shutdown")

    # Restart -----------------------------------------------------------------------------

    async def _restart(self, child: Child) -> None:
        """Restart ``child`` with the strategy; a start that fails is retried later."""
        self.restarts += 1
        metrics = self.runtime.metrics
        if metrics is not None:
            metrics.restarted(self._metrics_label(), self._child_name(child))
        if child.spec.backoff is None and not self.intensity.add(self.runtime.now()):
            self._give_up(child, "intensity_reached", intensity=self.flags.intensity, period=self.flags.period)
        stop, start = self._affected(child)
        for sibling in reversed(stop):
            await self._terminate(sibling)
            if sibling.spec.restart == "temporary":
                self._stopped(sibling)  # a strategy never restarts a temporary child
        for sibling in start:
            if sibling is not child and sibling.spec.restart == "temporary":
                continue
            try:
                await self._start(sibling)
            except (StartFailed, NameTaken) as failure:
                self._start_failed(sibling, failure)
                return
            self.log.info("restart", child=self._child_name(sibling), pid=repr(sibling.pid))

    def _start_failed(self, child: Child, failure: StartFailed | NameTaken) -> None:
        child.reason = failure.reason if type(failure) is StartFailed else failure
        self.log.error("start_error", child=self._child_name(child), reason=format_reason(child.reason))
        if child.spec.backoff is not None:
            self._pause(child, child.spec.backoff, ran=False)
            return
        # Retried as a message, not in a loop: shutdown and calls are served meanwhile, and
        # each attempt counts toward the intensity, so a child that cannot start escalates.
        child.restarting = True
        self.send(self.pid, TryAgain(child.key))

    def _pause(self, child: Child, backoff: Backoff, ran: bool) -> None:
        """Restart ``child`` after its next backoff pause; ``ran``: it crashed after running
        (a failed start did not run, so it never resets the pauses)."""
        if ran and self.runtime.now() - child.started_at >= backoff.effective_reset_after:
            child.attempt = 0
        if backoff.max_restarts is not None and child.attempt >= backoff.max_restarts:
            self._give_up(child, "max_restarts_reached", max_restarts=backoff.max_restarts)
        delay = backoff.delay(child.attempt, self.rng)
        child.attempt += 1
        child.restarting = True
        child.timer = self.send_after(delay, self.pid, TryAgain(child.key))
        spec = child.spec
        if spec.name is not None and child.pausing is None:
            child.pausing = self.spawn_link(Pausing, spec.id, spec.name, backoff.stash, child.stashed, name=spec.name)
            child.stashed = ()
        self.log.info("restart_scheduled", child=self._child_name(child), delay=round(delay, 6), attempt=child.attempt)

    def _give_up(self, child: Child, event: str, **limit: Any) -> None:
        """Restarting does not help: stop all children and exit with OTP's
        ``("shutdown", "reached_max_restart_intensity")`` (``terminate`` stops them)."""
        self.log.error(event, child=self._child_name(child), reason=format_reason(child.reason), **limit)
        metrics = self.runtime.metrics
        if metrics is not None:
            metrics.escalated(self._metrics_label())
        raise Stop(GAVE_UP)

    def _metrics_label(self) -> str:
        """This supervisor in the restart metrics: the path its parents gave it, else its name."""
        info = self.runtime.process_info(self.pid)
        return self.runtime.metrics.label_of(self.pid, info.name if info is not None else None)  # type: ignore[union-attr]

    # Starting and stopping one child -----------------------------------------------------

    async def _start(self, child: Child) -> Pid | None:
        """Start ``child``; raises ``StartFailed`` or ``NameTaken`` as ``start_link`` does.

        Returns:
            Its pid, or ``None`` if its ``init`` returned ``Ignore``.
        """
        spec = child.spec
        await self._cancel_restart(child)
        try:
            pid = await self.start_link(
                spec.actor,
                *spec.args,
                *child.extra,
                kwargs=spec.kwargs,
                shutdown=spec.shutdown_timeout,
                name=spec.name,
                core=child.core if child.core is not None else spec.core,
                memory=spec.memory,
                mailbox=spec.mailbox,
                node=spec.node,
            )
        except StartIgnored:
            # OTP's ``ignore``: no process; the spec stays (a temporary or dynamic child is let go).
            child.pid = None
            self.log.info("child_ignored", child=self._child_name(child))
            self._ignored(child)
            return None
        child.pid = pid
        child.starts += 1
        metrics = self.runtime.metrics
        if metrics is not None and spec.type == "supervisor":
            # Children are labelled by their path in the tree, which stays when pids change.
            metrics.label(pid, f"{self._metrics_label()}/{spec.id}")
        child.core = pid.core  # a restart goes back here, unless the core failed
        child.started_at = self.runtime.now()
        self._started(child)
        self.log.info("child_started", child=self._child_name(child), pid=repr(child.pid))
        stashed, child.stashed = child.stashed, ()
        for msg in stashed:
            self.cast(child.pid, msg)
        return child.pid

    async def _start_for_call(self, child: Child) -> Pid | None:
        """Start ``child`` for a management call: a failure is the caller's error (OTP's
        ``{error, Reason}``), not the supervisor's crash."""
        try:
            return await self._start(child)
        except StartFailed as failure:
            raise SupervisorError("start_failed", child.spec.id, format_reason(failure.reason)) from None
        except NameTaken as taken:
            holder = f"{taken.name!r} is held by {taken.holder!r}"
            raise SupervisorError("already_started", child.spec.id, holder) from None

    async def _cancel_restart(self, child: Child) -> None:
        """Drop a due restart: a pending retry message is then ignored, a backoff timer
        cancelled, and a pause's stand-in stopped (its stashed casts kept for the child)."""
        child.restarting = False
        if child.timer is not None:
            self.cancel_timer(child.timer)
            child.timer = None
        if child.pausing is None:
            return
        pausing, child.pausing = child.pausing, None
        stashed, dropped = await self.call(pausing, HandOver(child.spec.id))
        await shut_down(self, pausing, "brutal_kill")
        child.stashed += stashed
        if dropped:
            self.log.warning("casts_dropped_while_restarting", child=self._child_name(child), dropped=dropped)

    async def _terminate(self, child: Child) -> None:
        """Stop ``child`` on purpose (ending a due restart), as OTP's ``shutdown``."""
        await self._cancel_restart(child)
        pid = child.pid
        if pid is None:
            return
        child.pid = None
        shutdown = child.spec.shutdown_timeout
        reason = await shut_down(self, pid, shutdown)
        expected = reason == ("killed" if shutdown == "brutal_kill" else "shutdown")
        ended = child.spec.restart != "permanent" and is_shutdown(reason)
        # Any other reason is OTP's shutdown_error: the child died of something else first,
        # or outlived its shutdown time and was killed.
        report = self.log.info if expected or ended else self.log.error
        report("child_terminated", child=self._child_name(child), reason=format_reason(reason), on_purpose=True)

    def _report_shutdown(self, reason: Any) -> None:
        report = self.log.info if is_shutdown(reason) else self.log.error
        report("shutdown", reason=format_reason(reason))

    # Management calls --------------------------------------------------------------------

    async def handle_call(self, msg: Any, caller: Caller) -> Any:
        handler = self.REQUESTS.get(type(msg))
        if handler is None:
            self.log.warning("unknown_request", request=repr(msg))
            caller.fail(SupervisorError("unknown_request", None, self._requests_known(msg)))
            return NoReply
        try:
            return await handler(self, msg)
        except (SupervisorError, InvalidChildSpec) as error:
            # The caller's mistake or an impossible request: answered, and nothing changed.
            return error.with_traceback(None)

    def handle_cast(self, msg: Any) -> None:
        """Nothing is cast to a supervisor: log and ignore, as gen_server does with stray
        messages, rather than take the tree down."""
        self.log.warning("unexpected_cast", message=repr(msg))

    def _report(self, child: Child, child_id: Hashable) -> ChildReport:
        """One child as ``tree_health`` shows it."""
        state = "restarting" if child.restarting else "running" if child.pid is not None else "stopped"
        reason = None if child.reason is None else format_reason(child.reason)
        return ChildReport(child_id, child.pid, child.spec.type, state, max(0, child.starts - 1), reason)

    def _requests_known(self, msg: Any) -> str:
        functions = ", ".join(getattr(request, "function") for request in self.REQUESTS)
        return (
            f"{type(self).__name__} answers only the requests of {functions}; call those "
            f"functions, e.g. await which_children(rt, supervisor) (got {msg!r})"
        )
