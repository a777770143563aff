"""The process: one actor, its mailbox, its links and monitors, and the loop that runs it.

General layout of this module, the heart of the runtime:

- **States.** A process is IDLE (nothing to do: no task, no callback, only memory), SCHEDULED
  (on the runtime's ready list), RUNNING (handling messages) or DEAD.
- **Running.** The runtime's scheduler calls ``activate``. An actor whose callbacks are all
  sync is run inline (``_run_sync``), so an idle actor costs no task and a burst of messages
  costs no task switch. An actor with any async callback gets a task for each burst
  (``_run_async``). Both drain at most ``BUDGET`` items per turn, then yield, so one busy actor
  cannot starve the rest.
- **Dispatch.** ``_dispatch`` routes one mailbox item to its callback by exact type; casts,
  the commonest item, are stored unwrapped and checked first in the sync loop.
- **Signals.** ``receive_exit`` applies Erlang's exit-signal rules; an exit that kills is not
  queued behind messages but noted as ``pending_exit`` and acted on at the next turn (or by
  cancelling the burst's task), as an Erlang process dies on receiving the signal.
- **Exiting.** ``exit`` tears down: it fails pending calls, notifies links and monitors, wakes
  waiters, and forgets the process.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any, final

from .actor import Actor, Caller, Continue, NoReply, Stop
from .errors import ActorExited, StartFailed
from .links import KILL, KILLED, NORMAL, Down, Exit
from .mailbox import Mailbox, MailboxPolicy
from .pid import Pid, Ref

if TYPE_CHECKING:
    from .runtime import Runtime

IDLE = 0
SCHEDULED = 1
RUNNING = 2
DEAD = 3

STATE_NAMES = ("idle", "scheduled", "running", "dead")

#: Items one process handles per turn before giving others theirs.
BUDGET = 256


@final
class _NoExit:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_EXIT"


NO_EXIT = _NoExit()


@final
class Info:
    """A plain message for ``handle_info`` (``send``, timers); casts travel unwrapped."""

    __slots__ = ("msg",)

    def __init__(self, msg: Any) -> None:
        self.msg = msg


@final
class ContinueItem:
    """A pending ``handle_continue``; jumps the queue, so it is a system item."""

    __slots__ = ("term",)
    __neural_actors_system__ = True

    def __init__(self, term: Any) -> None:
        self.term = term


#: Item types that are not casts; everything else in a mailbox is a cast message.
WRAPPED = frozenset({Caller, Info, Exit, Down, ContinueItem})


@final
class Process:
    """The runtime's record of one live process. Only the runtime creates these."""

    __slots__ = (
        "actor",
        "calls",
        "exit_waiters",
        "groups",
        "init_args",
        "is_async",
        "links",
        "mailbox",
        "monitors",
        "name",
        "parent",
        "pending_exit",
        "pid",
        "runtime",
        "shutdown",
        "start_waiter",
        "state",
        "task",
        "watching",
    )

    def __init__(
        self,
        runtime: Runtime,
        pid: Pid,
        actor: Actor,
        args: tuple[Any, Any],
        *,
        parent: Pid,
        policy: MailboxPolicy,
        shutdown: float | str,
        is_async: bool,
    ) -> None:
        self.runtime = runtime
        self.pid = pid
        self.actor = actor
        actor._process = self
        self.init_args: tuple[Any, Any] | None = args
        self.parent = parent
        self.mailbox = Mailbox(pid, policy)
        self.shutdown = shutdown
        self.is_async = is_async
        self.state = IDLE
        self.pending_exit: Any = NO_EXIT
        self.task: asyncio.Task[None] | None = None
        # Each of these is None until first used: most processes never need them, and an
        # idle process should cost little more than its mailbox.
        self.calls: set[Caller] | None = None
        self.links: set[Pid] | None = None
        self.monitors: dict[Ref, Pid] | None = None  # who watches me
        self.watching: dict[Ref, Pid] | None = None  # whom I watch
        self.exit_waiters: list[asyncio.Future[Any]] | None = None
        self.start_waiter: asyncio.Future[Pid] | None = None
        self.name: Any = None
        self.groups: set[Any] | None = None

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name is not None else ""
        return f"<Process {self.pid!r}{name} {type(self.actor).__name__} {STATE_NAMES[self.state]}>"

    # Running --------------------------------------------------------------------------------

    def activate(self) -> None:
        """Run one turn; called by the runtime's scheduler for a SCHEDULED process."""
        if self.pending_exit is not NO_EXIT:
            self.exit(self.pending_exit)
        elif self.is_async:
            self.state = RUNNING
            self.task = self.runtime._loop.create_task(self._run_async())
        else:
            self._run_sync()

    def _run_sync(self) -> None:
        self.state = RUNNING
        actor = self.actor
        item: Any = None
        in_init = self.init_args is not None
        try:
            if in_init:
                self._finish_init(self._call_init())
                in_init = False
            mailbox = self.mailbox
            queue = mailbox.queue
            bounded = mailbox.capacity is not None
            trace = self.runtime._trace
            handle_cast = actor.handle_cast
            budget = BUDGET
            # This loop is where sync actors spend their lives: pop, dispatch, repeat, until
            # the mailbox is empty, the budget is spent, or an exit signal arrived.
            while queue and budget and self.pending_exit is NO_EXIT:
                budget -= 1
                item = queue.popleft()
                if bounded:
                    mailbox.taken(item)
                if trace is not None:
                    trace.record("deliver", self.pid, item)
                if type(item) in WRAPPED:
                    self._finish(item, self._dispatch(item))
                else:
                    result = handle_cast(item)
                    if result is not None:
                        self._finish(item, result)
            item = None
        except Stop as stop:
            if type(item) is Caller and stop.reply is not NoReply:
                item.reply(stop.reply)
            self.exit(stop.reason if in_init else self._terminate_sync(stop.reason))
            return
        except Exception as exc:  # noqa: BLE001 - a crash is the process's exit reason
            if self.pending_exit is not NO_EXIT:
                # An exit signal arrived first; Erlang's process would already be dead.
                self.exit(self.pending_exit)
                return
            self.runtime._crash_report(self, exc)
            self.exit(exc if in_init else self._terminate_sync(exc))
            return
        self._settle()

    async def _run_async(self) -> None:
        actor = self.actor
        item: Any = None
        reason: Any = NO_EXIT
        in_init = self.init_args is not None
        try:
            if in_init:
                result = self._call_init()
                if inspect.iscoroutine(result):
                    result = await result
                self._finish_init(result)
            in_init = False
            queue = self.mailbox.queue
            while True:
                budget = BUDGET
                while queue and budget and self.pending_exit is NO_EXIT:
                    budget -= 1
                    item = self._take()
                    result = self._dispatch(item)
                    if inspect.iscoroutine(result):
                        result = await result
                    self._finish(item, result)
                    item = None
                if budget or self.pending_exit is not NO_EXIT:
                    break
                await asyncio.sleep(0)
        except Stop as stop:
            if type(item) is Caller and stop.reply is not NoReply:
                item.reply(stop.reply)
            reason = stop.reason
        except asyncio.CancelledError:
            # Only exit signals cancel a burst; anything else cancelling us is a kill.
            in_init = True  # killed processes do not run terminate
            reason = self.pending_exit if self.pending_exit is not NO_EXIT else KILLED
        except Exception as exc:  # noqa: BLE001
            if self.pending_exit is not NO_EXIT:
                in_init = True  # signalled first: die of the signal, without terminate
                reason = self.pending_exit
            else:
                self.runtime._crash_report(self, exc)
                reason = exc
        finally:
            item = None
        if reason is NO_EXIT:
            self.task = None
            self._settle()
            return
        if not in_init:
            reason = await self._terminate_async(actor, reason)
        self.exit(reason)

    def _take(self) -> Any:
        """Pop the next item with its accounting (the async loop; the sync one inlines this)."""
        mailbox = self.mailbox
        item = mailbox.queue.popleft()
        if mailbox.capacity is not None:
            mailbox.taken(item)
        if self.runtime._trace is not None:
            self.runtime._trace.record("deliver", self.pid, item)
        return item

    def _call_init(self) -> Any:
        args, kwargs = self.init_args  # type: ignore[misc]
        # Keep no start arguments once used: a restart gets them from its child spec, and
        # holding them here would pin them for the process's whole life.
        self.init_args = None
        return self.actor.init(*args, **kwargs)

    def _finish_init(self, result: Any) -> None:
        if type(result) is Continue:
            self.mailbox.queue.appendleft(ContinueItem(result.term))
        waiter = self.start_waiter
        if waiter is not None:
            self.start_waiter = None
            if not waiter.done():
                waiter.set_result(self.pid)
        if self.runtime._log_debug:
            self.runtime._log.debug("started", pid=repr(self.pid), actor=type(self.actor).__name__)

    def _settle(self) -> None:
        """End a turn: exit if signalled, else go back on the ready list or to sleep."""
        if self.pending_exit is not NO_EXIT:
            self.exit(self.pending_exit)
        elif self.mailbox.queue:
            self.state = SCHEDULED
            self.runtime._requeue(self)
        else:
            self.state = IDLE
            self.runtime._went_idle()

    # Dispatch -------------------------------------------------------------------------------

    def _dispatch(self, item: Any) -> Any:
        """Hand one mailbox item to its callback; returns what the callback returned."""
        actor = self.actor
        kind = type(item)
        if kind is Caller:
            return actor.handle_call(item.request, item)
        if kind is Info:
            return actor.handle_info(item.msg)
        if kind is Exit:
            # gen_server's rule: a process trapping exits stops when its parent tells it to,
            # running terminate; exits from anyone else are ordinary information.
            if item.pid == self.parent:
                raise Stop(item.reason)
            return actor.handle_info(item)
        if kind is Down:
            return actor.handle_info(item)
        if kind is ContinueItem:
            return actor.handle_continue(item.term)
        return actor.handle_cast(item)

    def _finish(self, item: Any, result: Any) -> None:
        if type(item) is Caller:
            if result is not NoReply:
                item.reply(result)
        elif type(result) is Continue:
            self.mailbox.queue.appendleft(ContinueItem(result.term))

    def _terminate_sync(self, reason: Any) -> Any:
        try:
            self.actor.terminate(reason)
        except Exception as exc:  # noqa: BLE001 - OTP: a crash in terminate becomes the reason
            self.runtime._crash_report(self, exc)
            return exc
        return reason

    async def _terminate_async(self, actor: Actor, reason: Any) -> Any:
        try:
            result = actor.terminate(reason)
            if inspect.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            return self.pending_exit if self.pending_exit is not NO_EXIT else KILLED
        except Exception as exc:  # noqa: BLE001
            self.runtime._crash_report(self, exc)
            return exc
        return reason

    # Signals --------------------------------------------------------------------------------

    def receive_exit(self, sender: Pid, reason: Any, *, linked: bool) -> None:
        """Apply an exit signal from ``sender`` by Erlang's rules.

        ``kill`` sent with ``exit`` cannot be trapped; trapping processes get everything else as
        an ``Exit`` message; otherwise ``normal`` is ignored (unless sent to oneself) and any
        other reason kills.
        """
        if self.state == DEAD:
            return
        if reason == KILL and not linked and type(reason) is str:
            self.note_exit(KILLED)
        elif self.actor.trap_exit:
            self.deliver_system(Exit(sender, reason))
        elif reason != NORMAL or type(reason) is not str:
            self.note_exit(reason)
        elif sender == self.pid:
            self.note_exit(NORMAL)

    def note_exit(self, reason: Any) -> None:
        """Make the process exit with ``reason`` at its next turn (or now, if it is awaiting)."""
        if self.pending_exit is NO_EXIT or reason == KILLED:
            self.pending_exit = reason
        if self.state == IDLE:
            self.runtime._schedule(self)
        elif self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def deliver_system(self, item: Any) -> None:
        """Queue an item that no mailbox policy may drop (exits, downs)."""
        self.mailbox.put_system(item)
        if self.state == IDLE:
            self.runtime._schedule(self)

    # Exiting --------------------------------------------------------------------------------

    def exit(self, reason: Any) -> None:
        """Tear down with ``reason``: calls fail, links and monitors hear, waiters wake."""
        runtime = self.runtime
        pid = self.pid
        was_idle = self.state == IDLE
        self.state = DEAD
        self.task = None
        runtime._forget(self, was_idle)
        unhandled = self.mailbox.close()
        if self.calls:
            error = ActorExited(pid, reason)
            for caller in list(self.calls):
                caller.fail(error)
            self.calls = None
        if self.start_waiter is not None and not self.start_waiter.done():
            self.start_waiter.set_exception(StartFailed(type(self.actor).__name__, reason))
        self.start_waiter = None
        processes = runtime._processes
        if self.links:
            for other_pid in self.links:
                other = processes.get(other_pid)
                if other is not None:
                    other.links.discard(pid)  # type: ignore[union-attr]
                    other.receive_exit(pid, reason, linked=True)
            self.links = None
        if self.monitors:
            for ref, watcher_pid in self.monitors.items():
                watcher = processes.get(watcher_pid)
                if watcher is not None and watcher.watching is not None:
                    del watcher.watching[ref]
                    watcher.deliver_system(Down(ref, pid, reason))
            self.monitors = None
        if self.watching:
            for ref, target_pid in self.watching.items():
                target = processes.get(target_pid)
                if target is not None and target.monitors is not None:
                    target.monitors.pop(ref, None)
            self.watching = None
        if self.exit_waiters:
            for waiter in self.exit_waiters:
                if not waiter.done():
                    waiter.set_result(reason)
            self.exit_waiters = None
        runtime._exited(self, reason, len(unhandled))
