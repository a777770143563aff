"""The heart of the runtime: processes, the scheduler that runs them, exit signals and exits.

General layout of this module:

- **Node.** The state one runtime's processes share: the process table, names, links, the
  ready list and its scheduler, counters. The ``Runtime`` façade and the delivery seam are
  built on it; this module knows the seam only as ``SignalRoute``, the door its outgoing exit
  signals and ``Down`` messages go through.
- **States.** A process is IDLE (nothing to do: no task, no callback, only memory), SCHEDULED
  (on the ready list), RUNNING (handling messages) or DEAD.
- **Scheduling.** The ready list is drained in batches by one loop callback, as trio runs its
  run batch: a process that becomes runnable while a batch runs waits for the next batch, so
  no process can starve the loop. With a seed each batch is shuffled by a seeded generator, so
  interleavings change with the seed and replay exactly with the same one.
- **Running.** An actor whose callbacks are all sync runs inline (``_run_sync``): an idle
  actor costs no task and a burst of messages no task switch. An actor with any async
  callback gets a task for each burst (``_run_async``). Both drain at most ``BUDGET`` items
  per turn, then yield. Every turn runs in a fresh copy of the context the runtime was started
  in, wherever it runs (a tick, or a waiter's stack on a fast path), so a context variable a
  handler sets never leaks into its caller or into the next actor, and no caller's leaks in.
- **Dispatch.** ``_dispatch`` routes one mailbox item to its callback by exact type; casts,
  the commonest item, are stored unwrapped and checked first in the sync loop.
- **Signals.** ``receive_exit`` applies Erlang's exit-signal rules; an exit that kills is not
  queued behind messages but noted as ``pending_exit`` and acted on at the next turn (or by
  cancelling the burst's task), as an Erlang process dies on receiving the signal.
- **Exiting.** ``exit`` tears down: it fails pending calls, signals links and monitors
  through the seam, wakes waiters, and forgets the process. Every way a process can end runs
  it exactly once, including a burst task cancelled before its first step.

Any exception a callback raises, ``BaseException`` included (``SystemExit``,
``KeyboardInterrupt``, ``GeneratorExit``, a ``CancelledError`` the handler raised itself),
becomes the process's exit reason, as OTP has one answer for every way a process can fail.
Nothing a callback raises escapes into the event loop or strands another process.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import math
import random
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Protocol, final

from .behaviour import Behaviour, Continue, Ignore, NoReply, Stop
from .calls import Caller
from .checks import Shutdown
from .errors import ActorExited, InternalError, StartFailed, StartIgnored, safe_repr
from .links import KILL, KILLED, NOPROC, NORMAL, Down, Exit, LinkTable
from .mailbox import Mailbox, MailboxPolicy
from .message import FrozenDict, check_immutable, message
from .metrics import RuntimeMetrics
from .pid import Pid, Ref
from .registry import Registry
from .reports import Reports
from .trace import Trace

__all__ = ["BUDGET", "Info", "Node", "Process", "ProcessHooks", "SignalRoute"]

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

    def __repr__(self) -> str:
        return f"info:{safe_repr(self.msg)}"


@final
class ContinueItem:
    """A pending ``handle_continue``; jumps the queue, so it is a system item."""

    __slots__ = ("term",)
    __neural_actors_system__ = True

    def __init__(self, term: Any) -> None:
        self.term = term

    def __repr__(self) -> str:
        return f"continue:{safe_repr(self.term)}"


@final
class TimeoutItem:
    """The actor's ``idle_timeout`` passed with no message: run ``handle_timeout``."""

    __slots__ = ()
    __neural_actors_system__ = True

    def __repr__(self) -> str:
        return "idle_timeout"


IDLE_TIMEOUT = TimeoutItem()


@final
@message
class GetState:
    """The system request behind ``Runtime.get_state``: answered by the loop, not the actor."""


#: Item types that are not casts; everything else in a mailbox is a cast message.
WRAPPED = frozenset({Caller, Info, Exit, Down, ContinueItem, TimeoutItem})


class ProcessHooks(Protocol):
    """Where a fault plan (or a tracer) steps into a process's life: called before ``init`` and
    before each mailbox item is handled. Raising there is a crash of the process, exactly as if
    the callback had raised. With no hooks installed the cost is one check per item."""

    def before_init(self, process: Process) -> None: ...

    def before_dispatch(self, process: Process, item: Any) -> None: ...


class SignalRoute(Protocol):
    """The delivery seam, as an exiting process sees it: how its exit reaches others."""

    def exit_signal(self, sender: Pid, target: Pid, reason: Any, *, linked: bool) -> None: ...

    def down(self, sender: Pid, watcher: Pid, down: Down) -> None: ...

    def reaches(self, pid: Pid) -> bool:
        """True if ``pid`` is a process of another node that signals can reach."""
        ...


# Node -----------------------------------------------------------------------------------------


@final
class Node:
    """The state one runtime's processes share, and the scheduler that runs them."""

    __slots__ = (
        "_idle_waiters",
        "_ready",
        "_refs",
        "_rng",
        "_serials",
        "_tick_pending",
        "active",
        "context",
        "crashed",
        "exit_hooks",
        "exited",
        "facade",
        "hooks",
        "id",
        "links",
        "loop",
        "metrics",
        "pid",
        "processes",
        "registry",
        "reports",
        "route",
        "spawned",
        "trace",
    )

    def __init__(self, node_id: int, *, seed: int | None, reports: Reports) -> None:
        self.id = node_id
        self.pid = Pid(node_id, 0, 0)  # the runtime itself, as a sender and a parent
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # bound at start
        self.context = contextvars.Context()
        self.processes: dict[Pid, Process] = {}
        self.registry: Registry[Process] = Registry()
        self.links = LinkTable()
        self.reports = reports
        self.trace: Trace | None = None
        self.route: SignalRoute = None  # type: ignore[assignment]  # set by the delivery seam
        self.facade: Any = None  # the Runtime, for ``Actor.runtime``
        self.hooks: ProcessHooks | None = None
        #: The runtime's counters when metrics are on: an exiting process hands them its
        #: mailbox's drops and what it left unhandled.
        self.metrics: RuntimeMetrics | None = None
        #: Called as ``hook(pid, reason)`` after each exit (placement frees the core's memory).
        self.exit_hooks: list[Callable[[Pid, Any], None]] = []
        self._rng = random.Random(seed) if seed is not None else None
        self._serials = itertools.count(1)
        self._refs = itertools.count(1)
        self._ready: list[Process] = []
        self._tick_pending = False
        self.active = 0  # processes SCHEDULED or RUNNING
        self._idle_waiters: list[asyncio.Future[None]] = []
        self.spawned = 0
        self.exited = 0
        self.crashed = 0

    def bind(self, loop: asyncio.AbstractEventLoop, trace: Trace | None) -> None:
        """Attach to the running loop; every turn runs in a fresh copy of the starter's context."""
        self.loop = loop
        self.trace = trace
        self.context = contextvars.copy_context()

    def make_ref(self) -> Ref:
        """A new reference, unique within this node."""
        return Ref(self.id, next(self._refs))

    # Spawning ---------------------------------------------------------------------------------

    def spawn(
        self,
        actor: type[Behaviour],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        name: Hashable | None,
        mailbox: MailboxPolicy,
        shutdown: Shutdown,
        link: Pid | None,
        core: int,
        is_async: bool,
    ) -> Process:
        """Create, register, link and schedule a process; the arguments are already checked."""
        pid = Pid(self.id, core, next(self._serials))
        process = Process(
            self,
            pid,
            actor(),
            (args, kwargs),
            parent=link if link is not None else self.pid,
            policy=mailbox,
            shutdown=shutdown,
            is_async=is_async,
        )
        self.processes[pid] = process
        self.spawned += 1
        if name is not None:
            self.registry.register(name, process)
        if link is not None:
            # A parent on another node was alive when it asked for this start; if it has died
            # since, its node answers the link with an exit.
            if link in self.processes or self.route.reaches(link):
                self.links.link(pid, link)
            else:
                process.pending_exit = NOPROC  # linked to the dead: dies at its first turn
        if self.trace is not None:
            self.trace.record("spawn", pid, actor.__name__)
        if self.reports.debug:
            self.reports.log.debug("spawn", pid=repr(pid), actor=actor.__name__, name=safe_repr(name))
        self.schedule(process)
        return process

    # Scheduler --------------------------------------------------------------------------------

    def schedule(self, process: Process) -> None:
        """Put an IDLE process on the ready list."""
        if process.idle_timer is not None:
            process.cancel_idle_timer()
        process.state = SCHEDULED
        self.active += 1
        self._ready.append(process)
        if not self._tick_pending:
            self._tick_pending = True
            self.loop.call_soon(self._tick, context=self.context)

    def requeue(self, process: Process) -> None:
        """Put a process that used up its budget back on the ready list."""
        self._ready.append(process)
        if not self._tick_pending:
            self._tick_pending = True
            self.loop.call_soon(self._tick, context=self.context)

    def run_now(self, process: Process) -> None:
        """Run an IDLE sync process's turn at once, in the caller's stack (the call fast path)."""
        if process.idle_timer is not None:
            process.cancel_idle_timer()
        process.state = SCHEDULED
        self.active += 1
        self.context.copy().run(self._activate, process)

    def run_pending_turn(self, process: Process) -> None:
        """Run a scheduled sync process's turn now, in the waiter's stack.

        The fast path of ``start`` and ``wait_exit``: the waiter is about to suspend until this
        turn has run, so running it first saves a tick and a wake-up. The tick skips the
        process later, since it is no longer SCHEDULED. The waiter then yields once, so these
        stay checkpoints.
        """
        if process.state == SCHEDULED and not process.is_async:
            self.context.copy().run(self._activate, process)

    def _tick(self) -> None:
        # This is the scheduler's loop: run exactly the batch that is ready now; what becomes
        # ready meanwhile waits for the next tick, behind whatever else the loop has to do.
        self._tick_pending = False
        batch = self._ready
        self._ready = []
        if self._rng is not None and len(batch) > 1:
            self._rng.shuffle(batch)
        context = self.context
        for process in batch:
            if process.state == SCHEDULED:  # it may have died since
                # Each turn in its own copy of the runtime's context: a context variable one
                # handler sets (a request id bound for logging) never reaches the next one.
                context.copy().run(self._activate, process)

    def _activate(self, process: Process) -> None:
        try:
            process.activate()
        except BaseException as exc:  # noqa: BLE001 - never strand the rest of the batch
            process.internal_error(exc)

    def went_idle(self) -> None:
        """One process stopped being runnable; wake ``wait_idle`` when none is left."""
        self.active -= 1
        if not self.active and self._idle_waiters:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle_waiters.clear()

    async def wait_idle(self) -> None:
        """Wait until no process has work: every mailbox handled, every burst finished."""
        while self.active:
            waiter: asyncio.Future[None] = self.loop.create_future()
            self._idle_waiters.append(waiter)
            await waiter

    # Waiting on processes ---------------------------------------------------------------------

    async def wait_start(self, process: Process, timeout: float | None = None) -> Pid:
        """Wait until ``process``'s ``init`` has returned.

        Raises:
            StartFailed: ``init`` raised, stopped, or the process was killed first; or it did
                not return within ``timeout`` seconds (the reason is ``"timeout"``, and the
                process is killed, as ``gen_server:start_link`` with ``{timeout, T}`` does).
            StartIgnored: ``init`` returned ``Ignore``.
        """
        waiter: asyncio.Future[Pid] = self.loop.create_future()
        process.start_waiter = waiter
        self.run_pending_turn(process)
        if waiter.done():
            await asyncio.sleep(0)  # still a checkpoint when init already ran
        if timeout is None:
            return await waiter
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(waiter)
        except TimeoutError:
            process.start_waiter = None
            if process.alive:
                process.note_exit(KILLED)
            raise StartFailed(type(process.actor).__name__, "timeout") from None

    async def wait_exit(self, pid: Pid, timeout: float | None = None) -> Any:
        """Wait for ``pid`` to exit and return its reason (``"noproc"`` if it is not alive).

        Raises:
            TimeoutError: it was still alive after ``timeout`` seconds.
        """
        process = self.processes.get(pid)
        if process is None:
            await asyncio.sleep(0)
            return NOPROC
        waiter = process.exit_waiter()
        self.run_pending_turn(process)
        if waiter.done():
            await asyncio.sleep(0)  # still a checkpoint when the exit already happened
            return waiter.result()
        if timeout is None:
            return await waiter
        async with asyncio.timeout(timeout):
            return await waiter

    def pending_calls(self) -> Iterator[Caller]:
        """Every call still waiting for a reply, in process order (for deadlock reports)."""
        for process in self.processes.values():
            if process.calls:
                yield from process.calls


# Process --------------------------------------------------------------------------------------


@final
class Process:
    """The runtime's record of one live process. Only the runtime creates these."""

    __slots__ = (
        "actor",
        "calls",
        "exit_waiters",
        "groups",
        "idle_timer",
        "init_args",
        "is_async",
        "mailbox",
        "name",
        "node",
        "parent",
        "pending_exit",
        "pid",
        "reason",
        "shutdown",
        "start_waiter",
        "state",
        "task",
    )

    def __init__(
        self,
        node: Node,
        pid: Pid,
        actor: Behaviour,
        args: tuple[Any, Any],
        *,
        parent: Pid,
        policy: MailboxPolicy,
        shutdown: Shutdown,
        is_async: bool,
    ) -> None:
        self.node = node
        self.pid = pid
        self.actor = actor
        actor.__neural_actors_attach__(self)
        self.init_args: tuple[Any, Any] | None = args
        self.parent = parent
        self.mailbox = Mailbox(pid, policy)
        self.shutdown = shutdown
        self.is_async = is_async
        self.state = IDLE
        self.pending_exit: Any = NO_EXIT
        self.reason: Any = None  # the exit reason, once dead
        self.task: asyncio.Task[None] | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        # Each of these is None until first used and again once emptied: most processes never
        # need them, and an idle process should cost little more than its mailbox.
        self.calls: dict[Caller, None] | None = None
        self.exit_waiters: list[asyncio.Future[Any]] | None = None
        self.start_waiter: asyncio.Future[Pid] | None = None
        self.name: Any = None
        self.groups: dict[Any, None] | None = None

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name is not None else ""
        return f"<Process {self.pid!r}{name} {type(self.actor).__name__} {STATE_NAMES[self.state]}>"

    @property
    def state_name(self) -> str:
        """``idle``, ``scheduled``, ``running`` or ``dead``."""
        return STATE_NAMES[self.state]

    @property
    def alive(self) -> bool:
        """False once the process has exited."""
        return self.state != DEAD

    # Pending calls ----------------------------------------------------------------------------

    def add_call(self, caller: Caller) -> None:
        """Remember a call to this process, to fail it at once if the process exits."""
        calls = self.calls
        if calls is None:
            calls = self.calls = {}
        calls[caller] = None

    def drop_call(self, caller: Caller) -> None:
        """Forget a call that was answered, failed or gave up."""
        calls = self.calls
        if calls is not None:
            calls.pop(caller, None)
            if not calls:
                self.calls = None

    def exit_waiter(self) -> asyncio.Future[Any]:
        """A future resolved with this process's exit reason."""
        waiter: asyncio.Future[Any] = self.node.loop.create_future()
        if self.exit_waiters is None:
            self.exit_waiters = []
        self.exit_waiters.append(waiter)
        return waiter

    # Running --------------------------------------------------------------------------------

    def activate(self) -> None:
        """Run one turn; called by the scheduler for a SCHEDULED process."""
        if self.pending_exit is not NO_EXIT:
            self.exit(self.pending_exit)
        elif self.is_async:
            self.state = RUNNING
            # Named after the pid (asyncio formats a name anyway), so a deadlock report or a
            # task dump says which process each burst belongs to.
            self.task = task = self.node.loop.create_task(self._run_async(), name=repr(self.pid))
            task.add_done_callback(self._burst_done)
        else:
            self._run_sync()

    def _run_sync(self) -> None:
        self.state = RUNNING
        actor = self.actor
        item: Any = None
        in_init = self.init_args is not None
        try:
            if in_init:
                result = self._call_init()
                if type(result) is Ignore:
                    self._ignored()
                    return
                self._finish_init(result)
                in_init = False
            mailbox = self.mailbox
            queue = mailbox.queue
            bounded = mailbox.capacity is not None
            trace = self.node.trace
            hooks = self.node.hooks
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
                if hooks is not None:
                    hooks.before_dispatch(self, item)
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
        except BaseException as exc:  # noqa: BLE001 - a crash is the process's exit reason
            if self.pending_exit is not NO_EXIT:
                # An exit signal arrived first; Erlang's process would already be dead.
                self.exit(self.pending_exit)
                return
            self._crashed(exc)
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
                if type(result) is Ignore:
                    self._ignored()
                    return
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
        except asyncio.CancelledError as exc:
            reason = self._cancelled_by()
            if reason is not NO_EXIT:
                in_init = True  # die of the signal or the kill, without terminate
            else:
                self._crashed(exc)  # the handler raised it itself: a crash like any other
                reason = exc
        except BaseException as exc:  # noqa: BLE001
            if self.pending_exit is not NO_EXIT:
                in_init = True  # signalled first: die of the signal, without terminate
                reason = self.pending_exit
            else:
                self._crashed(exc)
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

    def _burst_done(self, task: asyncio.Task[None]) -> None:
        """Make sure a burst's end is the process's end when the burst never got to say so.

        A task cancelled before its first step never runs its body, so its ``except`` clauses
        never see the exit signal that cancelled it: without this the process would stay
        ``running`` for ever (a zombie holding its name). A burst that failed (the runtime's own
        error, the body catches every callback's) is reported as the sync path reports it, not
        left to asyncio as an exception nobody retrieved.
        """
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.internal_error(error)
        elif self.state != DEAD and self.task is task:
            self.task = None
            self.exit(self.pending_exit if self.pending_exit is not NO_EXIT else KILLED)

    def internal_error(self, exc: BaseException) -> None:
        """The runtime failed while running this process: report it loudly, and end the process."""
        self.node.reports.internal_error(self.pid, exc)
        if self.state != DEAD:
            self.exit(InternalError(f"internal error while running {self.pid!r}: {safe_repr(exc)}"))

    def _take(self) -> Any:
        """Pop the next item with its accounting (the async loop; the sync one inlines this)."""
        mailbox = self.mailbox
        item = mailbox.queue.popleft()
        if mailbox.capacity is not None:
            mailbox.taken(item)
        trace = self.node.trace
        if trace is not None:
            trace.record("deliver", self.pid, item)
        if self.node.hooks is not None:
            self.node.hooks.before_dispatch(self, item)
        return item

    def _call_init(self) -> Any:
        args, kwargs = self.init_args  # type: ignore[misc]
        # Keep no start arguments once used: a restart gets them from its child spec, and
        # holding them here would pin them for the process's whole life.
        self.init_args = None
        if self.node.hooks is not None:
            self.node.hooks.before_init(self)
        return self.actor.init(*args, **kwargs)

    def _finish_init(self, result: Any) -> None:
        if type(result) is Continue:
            self.mailbox.queue.appendleft(ContinueItem(result.term))
        waiter = self.start_waiter
        if waiter is not None:
            self.start_waiter = None
            if not waiter.done():
                waiter.set_result(self.pid)
        if self.node.reports.debug:
            self.node.reports.log.debug("started", pid=repr(self.pid), actor=type(self.actor).__name__)

    def _ignored(self) -> None:
        """``init`` returned ``Ignore``: tell the starter, then exit normally."""
        waiter = self.start_waiter
        if waiter is not None:
            self.start_waiter = None
            if not waiter.done():
                waiter.set_exception(StartIgnored(type(self.actor).__name__))
        self.exit(NORMAL)

    def _settle(self) -> None:
        """End a turn: exit if signalled, else go back on the ready list or to sleep."""
        if self.pending_exit is not NO_EXIT:
            self.exit(self.pending_exit)
        elif self.mailbox.queue:
            self.state = SCHEDULED
            self.node.requeue(self)
        else:
            self.state = IDLE
            self.node.went_idle()
            timeout = self.actor.idle_timeout  # type: ignore[attr-defined]
            if timeout is not None:
                self._arm_idle_timer(timeout)

    def _arm_idle_timer(self, timeout: Any) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout < 0:
            raise TypeError(f"idle_timeout must be None or finite seconds >= 0 (got {timeout!r})")
        self.idle_timer = self.node.loop.call_later(timeout, self._idle_expired)

    def cancel_idle_timer(self) -> None:
        """A message came: the idle timeout starts again after the next turn."""
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def _idle_expired(self) -> None:
        self.idle_timer = None
        if self.state == IDLE:
            self.deliver_system(IDLE_TIMEOUT)

    def _crashed(self, exc: BaseException) -> None:
        self.node.crashed += 1
        self.node.reports.crash(self.pid, type(self.actor).__name__, self.name, exc)

    # Dispatch -------------------------------------------------------------------------------

    def _dispatch(self, item: Any) -> Any:
        """Hand one mailbox item to its callback; returns what the callback returned."""
        actor = self.actor
        kind = type(item)
        if kind is Caller:
            if type(item.request) is GetState:
                return self.formatted_state()
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
        if kind is TimeoutItem:
            return actor.handle_timeout()
        return actor.handle_cast(item)

    def formatted_state(self) -> FrozenDict:
        """The actor's attributes as ``format_status`` shows them (``sys:get_state``).

        Values that are not immutable are shown by their ``repr``: the answer is a snapshot that
        cannot reach into the live actor.
        """
        state = {k: v for k, v in vars(self.actor).items() if not k.startswith("_")}
        state = self.actor.format_status(state)  # type: ignore[attr-defined]
        return FrozenDict({key: _snapshot(value) for key, value in state.items()})

    def _finish(self, item: Any, result: Any) -> None:
        if type(item) is Caller:
            if result is not NoReply:
                item.reply(result)
        elif type(result) is Continue:
            self.mailbox.queue.appendleft(ContinueItem(result.term))

    def _terminate_sync(self, reason: Any) -> Any:
        try:
            self.actor.terminate(reason)
        except BaseException as exc:  # noqa: BLE001 - OTP: a crash in terminate becomes the reason
            self._crashed(exc)
            return exc
        return reason

    async def _terminate_async(self, actor: Behaviour, reason: Any) -> Any:
        try:
            result = actor.terminate(reason)
            if inspect.iscoroutine(result):
                await result
        except asyncio.CancelledError as exc:
            cancelled_by = self._cancelled_by()
            if cancelled_by is not NO_EXIT:
                return cancelled_by
            self._crashed(exc)  # terminate raised it itself: a crash in terminate, as any other
            return exc
        except BaseException as exc:  # noqa: BLE001
            self._crashed(exc)
            return exc
        return reason

    def _cancelled_by(self) -> Any:
        """Why the burst's task got ``CancelledError``, or ``NO_EXIT`` if a callback raised it itself.

        An exit signal cancels the task after noting its reason; a cancellation from outside the
        runtime (the loop closing) is a kill. A callback may also raise ``CancelledError`` with
        nobody cancelling: then it is a crash like any other, and its exception the reason.
        """
        if self.pending_exit is not NO_EXIT:
            return self.pending_exit
        if self.task is not None and self.task.cancelling():
            return KILLED
        return NO_EXIT

    # Signals --------------------------------------------------------------------------------

    def receive_exit(self, sender: Pid, reason: Any, *, linked: bool) -> None:
        """Apply an exit signal from ``sender`` by Erlang's rules.

        ``kill`` sent with ``exit`` cannot be trapped; trapping processes get everything else as
        an ``Exit`` message; otherwise ``normal`` is ignored (unless sent to oneself) and any
        other reason kills.
        """
        if self.state == DEAD:
            return
        if type(reason) is str and reason == KILL and not linked:
            self.note_exit(KILLED)
        elif self.actor.trap_exit:  # type: ignore[attr-defined]
            self.deliver_system(Exit(sender, reason))
        elif type(reason) is not str or reason != NORMAL:
            self.note_exit(reason)
        elif sender == self.pid:
            self.note_exit(NORMAL)

    def note_exit(self, reason: Any) -> None:
        """Make the process exit with ``reason`` at its next turn (or now, if it is awaiting)."""
        if self.pending_exit is NO_EXIT or reason == KILLED:
            self.pending_exit = reason
        if self.state == IDLE:
            self.node.schedule(self)
        elif self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def deliver_system(self, item: Any) -> None:
        """Queue an item that no mailbox policy may drop (exits, downs)."""
        self.mailbox.put_system(item)
        if self.state == IDLE:
            self.node.schedule(self)

    # Exiting --------------------------------------------------------------------------------

    def exit(self, reason: Any) -> None:
        """Tear down with ``reason``: calls fail, links and monitors hear, waiters wake."""
        node = self.node
        pid = self.pid
        was_idle = self.state == IDLE
        self.state = DEAD
        self.reason = reason
        if self.idle_timer is not None:
            self.cancel_idle_timer()
        task = self.task
        self.task = None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        del node.processes[pid]
        node.registry.forget(self)
        if not was_idle:
            node.went_idle()
        unhandled = self.mailbox.close()
        if node.metrics is not None:
            node.metrics.process_exited(pid, self.mailbox.dropped, self.mailbox.refused, len(unhandled))
        calls = self.calls
        if calls:
            self.calls = None
            error = ActorExited(pid, reason)
            for caller in calls:  # in call order, in every run
                caller.fail(error)
        waiter = self.start_waiter
        if waiter is not None:
            self.start_waiter = None
            if not waiter.done():
                waiter.set_exception(StartFailed(type(self.actor).__name__, reason))
        linked, watchers = node.links.forget(pid)
        route = node.route
        for other in linked:
            route.exit_signal(pid, other, reason, linked=True)
        for ref, watcher in watchers:
            route.down(pid, watcher, Down(ref, pid, reason))
        waiters = self.exit_waiters
        if waiters:
            self.exit_waiters = None
            for exit_waiter in waiters:
                if not exit_waiter.done():
                    exit_waiter.set_result(reason)
        node.exited += 1
        if node.trace is not None:
            node.trace.record("exit", pid, reason)
        for hook in node.exit_hooks:
            hook(pid, reason)
        node.reports.exited(pid, type(self.actor).__name__, reason, len(unhandled))


def _snapshot(value: Any) -> Any:
    try:
        check_immutable(value)
    except TypeError:
        return safe_repr(value)
    return value


def describe_pending(node: Node) -> Callable[[], list[str]]:
    """A deadlock describer for ``node``: one line per call still waiting for its reply."""

    def describe() -> list[str]:
        return [caller.describe() for caller in node.pending_calls()]

    return describe
