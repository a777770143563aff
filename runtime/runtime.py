"""The Runtime: one node's processes, its scheduler, timers and lifetime.

Embed it in any asyncio program (``async with Runtime() as rt:``), run it from sync code
(``with Runtime.blocking() as rt:``), or start it with ``neural_actors.run``. Leaving the
block stops the top-level processes in reverse start order, each with its shutdown timeout
(supervisors stop their own children), then kills whatever is left: nothing keeps running.

The scheduler is a ready list drained in batches by one loop callback, as trio runs its run
batch: a process that becomes runnable while a batch runs waits for the next batch, so no
process can starve the loop. With a ``seed`` each batch is shuffled by a seeded generator: the
interleavings change with the seed and replay exactly with the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, Literal, TypeVar, final

import attrs
import structlog

from .actor import Actor, Caller, is_async_actor
from .clock import Clock, VirtualEventLoop, is_virtual
from .errors import (
    ActorExited,
    CallTimeout,
    InternalError,
    MailboxFull,
    NameTaken,
    NoProcess,
    RuntimeClosed,
    format_reason,
)
from .links import KILL, KILLED, NOPROC, SHUTDOWN, Down, is_shutdown
from .mailbox import UNBOUNDED, MailboxPolicy, MailboxStatistics
from .message import SCALARS, check_immutable
from .pid import Pid, Ref
from .process import DEAD, IDLE, SCHEDULED, STATE_NAMES, Info, Process
from .registry import Registry
from .trace import Trace

__all__ = ["ProcessInfo", "Runtime", "RuntimeStatistics", "TimerRef"]

T = TypeVar("T")
TimerRef = Ref
Shutdown = float | Literal["brutal_kill", "infinity"]
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


@final
@attrs.frozen
class RuntimeStatistics:
    """A snapshot of one runtime's counters."""

    processes: int
    spawned: int
    exited: int
    crashed: int
    dead_letters: int
    runnable: int
    timers: int


@final
@attrs.frozen
class ProcessInfo:
    """A snapshot of one process, as ``erlang:process_info``."""

    pid: Pid
    actor: str
    name: Any
    state: str
    parent: Pid
    trap_exit: bool
    links: frozenset[Pid]
    monitors: int
    mailbox: MailboxStatistics


@final
class Runtime:
    """One node: its processes, their scheduler, registry, timers and lifetime.

    Args:
        clock: ``"real"`` for wall time; ``"virtual"`` for time that jumps to the next timer
            when nothing is runnable (the running loop must be a ``VirtualEventLoop``).
        seed: shuffles each scheduling batch with this seed; ``None`` keeps FIFO order.
        node: this node's number, the first part of every pid.
        trace: record an event trace (``trace_digest()``, ``trace_events()``).
        log_level: the least level of runtime events logged (``debug`` logs every spawn and
            exit; ``info`` keeps crash reports, overflows and abnormal exits).
    """

    def __init__(
        self,
        *,
        clock: Clock = "real",
        seed: int | None = None,
        node: int = 0,
        trace: bool = False,
        log_level: str = "info",
    ) -> None:
        if clock not in ("real", "virtual"):
            raise ValueError(f"clock must be 'real' or 'virtual' (got {clock!r})")
        if log_level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)} (got {log_level!r})")
        self.clock = clock
        self.seed = seed
        self.node = node
        self.pid = Pid(node, 0, 0)
        self._rng = random.Random(seed) if seed is not None else None
        self._want_trace = trace
        self._trace: Trace | None = None
        self._log = structlog.get_logger("neural_actors.runtime").bind(node=node)
        self._log_level = LOG_LEVELS[log_level]
        self._log_debug = self._log_level <= logging.DEBUG
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self._running = False
        self._processes: dict[Pid, Process] = {}
        self._registry = Registry()
        self._serials = itertools.count(1)
        self._refs = itertools.count(1)
        self._ready: list[Process] = []
        self._tick_pending = False
        self._active = 0  # processes SCHEDULED or RUNNING
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._timers: dict[Ref, asyncio.TimerHandle] = {}
        self._spawned = 0
        self._exit_count = 0
        self._crashed = 0
        self._dead_letters = 0

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Runtime node {self.node} {self.clock} clock, {len(self._processes)} processes, {state}>"

    # Lifetime --------------------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        await self.start_runtime()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def start_runtime(self) -> None:
        """Bind to the running asyncio loop; ``async with`` does this for you."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("Runtime needs a running asyncio loop (trio is not supported)") from None
        if self.clock == "virtual" and not is_virtual(loop):
            raise RuntimeError(
                "clock='virtual' needs the loop to run on virtual time: start it with "
                "neural_actors.run(main, clock='virtual') or a VirtualEventLoop loop factory"
            )
        if self._running:
            raise RuntimeError("this Runtime is already running")
        self._loop = loop
        self._trace = Trace(loop.time) if self._want_trace else None
        self._running = True
        self._event(logging.DEBUG, "runtime_started", clock=self.clock, seed=self.seed)

    async def shutdown(self) -> None:
        """Stop every process: top-level ones in reverse start order, then kill what is left."""
        if not self._running:
            return
        top_level = [p for p in self._processes.values() if p.parent == self.pid]
        for process in reversed(top_level):
            if process.state != DEAD:
                await self.stop(process.pid, process.shutdown)
        for process in reversed(list(self._processes.values())):
            if process.state != DEAD:
                await self.stop(process.pid, "brutal_kill")
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._running = False
        self._event(logging.DEBUG, "runtime_stopped", spawned=self._spawned, exited=self._exit_count)

    async def stop(self, pid: Pid, shutdown: Shutdown = 5.0) -> Any:
        """Stop ``pid`` as a supervisor would, and return its exit reason.

        Sends exit ``shutdown`` and waits up to ``shutdown`` seconds (``"infinity"`` waits for
        ever, ``"brutal_kill"`` kills at once), then kills. Waiting is on the process's exit,
        not on a message, so a process that unlinks itself cannot hang its stopper.
        """
        if pid not in self._processes:
            return NOPROC
        if shutdown == "brutal_kill":
            self._exit_signal(self.pid, pid, KILL, linked=False)
            return await self.wait_exit(pid)
        self._exit_signal(self.pid, pid, SHUTDOWN, linked=False)
        timeout = None if shutdown == "infinity" else float(shutdown)
        try:
            return await self.wait_exit(pid, timeout=timeout)
        except TimeoutError:
            self._exit_signal(self.pid, pid, KILL, linked=False)
            return await self.wait_exit(pid)

    @classmethod
    @contextlib.contextmanager
    def blocking(cls, **options: Any) -> Iterator[BlockingRuntime]:
        """Run a runtime on its own loop thread and drive it from sync code.

        Built on anyio's blocking portal: every method of the returned ``BlockingRuntime`` runs
        on the runtime's loop and returns its result to the calling thread.
        """
        import anyio.from_thread

        factory = VirtualEventLoop if options.get("clock") == "virtual" else None
        backend_options = {"loop_factory": factory} if factory else {}
        with anyio.from_thread.start_blocking_portal("asyncio", backend_options) as portal:
            runtime = cls(**options)
            portal.call(runtime.start_runtime)
            try:
                yield BlockingRuntime(runtime, portal)
            finally:
                portal.call(runtime.shutdown)

    # Spawning --------------------------------------------------------------------------------

    def spawn(
        self,
        actor: type[Actor],
        *args: Any,
        name: Hashable | None = None,
        kwargs: dict[str, Any] | None = None,
        mailbox: MailboxPolicy | None = None,
        shutdown: Shutdown = 5.0,
        link: Pid | None = None,
        core: int = 0,
    ) -> Pid:
        """Start a process running ``actor``; its ``init(*args, **kwargs)`` runs at its first turn.

        Args:
            actor: an ``Actor`` subclass, instantiated with no arguments.
            *args: passed to ``init``.
            name: register the process under this unique name.
            kwargs: keyword arguments for ``init``.
            mailbox: a bounded ``MailboxPolicy``; unbounded by default.
            shutdown: seconds to wait for it at shutdown before killing it, or ``"infinity"``
                or ``"brutal_kill"``.
            link: link to this pid atomically; it also becomes the parent.
            core: the mesh core the process is placed on.

        Returns:
            The new pid.

        Raises:
            NameTaken: ``name`` is registered to a live process.
            TypeError: ``actor`` is not an ``Actor`` subclass.
        """
        if not self._running:
            raise RuntimeClosed("the runtime is not running; use 'async with Runtime() as rt'")
        if not (isinstance(actor, type) and issubclass(actor, Actor)):
            raise TypeError(f"spawn takes an Actor subclass (got {actor!r})")
        holder = self._registry.whereis(name) if name is not None else None
        if holder is not None:
            raise NameTaken(name, holder.pid)
        parent_process = self._processes.get(link) if link is not None else None
        pid = Pid(self.node, core, next(self._serials))
        process = Process(
            self,
            pid,
            actor(),
            (args, kwargs or {}),
            parent=link if link is not None else self.pid,
            policy=mailbox or UNBOUNDED,
            shutdown=shutdown,
            is_async=is_async_actor(actor),
        )
        self._processes[pid] = process
        self._spawned += 1
        if name is not None:
            self._registry.register(name, process)
        if link is not None:
            if parent_process is None:
                process.receive_exit(link, NOPROC, linked=True)
            else:
                self._add_link(process, parent_process)
        if self._trace is not None:
            self._trace.record("spawn", pid, actor.__name__)
        if self._log_debug:
            self._log.debug("spawn", pid=repr(pid), actor=actor.__name__, name=name)
        self._schedule(process)
        return pid

    async def start(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Spawn like ``spawn`` and wait until ``init`` has returned.

        Raises:
            StartFailed: ``init`` raised, stopped, or the process was killed first.
        """
        pid = self.spawn(actor, *args, **options)
        waiter: asyncio.Future[Pid] = self._loop.create_future()
        process = self._processes[pid]
        process.start_waiter = waiter
        self._run_pending_turn(process)
        if waiter.done():
            await asyncio.sleep(0)  # still a checkpoint when init already ran
        return await waiter

    # Messages --------------------------------------------------------------------------------

    def cast(self, target: Pid | Hashable, msg: Any) -> None:
        """Deliver ``msg`` to ``target``'s ``handle_cast``; returns at once.

        Raises:
            TypeError: ``msg`` is mutable (names the field).
            MailboxFull: a bounded mailbox with overflow ``fail`` or ``backpressure`` is full.
            NoProcess: ``target`` is a name nobody holds.
        """
        process = self._processes.get(target) if type(target) is Pid else self._by_name(target)
        if type(msg) not in SCALARS:
            check_immutable(msg)
        if process is None:
            self._dead_letter(target, msg)
            return
        mailbox = process.mailbox
        if mailbox.capacity is None:
            queue = mailbox.queue
            queue.append(msg)
            if len(queue) > mailbox.peak:
                mailbox.peak = len(queue)
        elif not mailbox.put_nowait(msg):
            return
        if self._trace is not None:
            self._trace.record("send", process.pid, msg)
        if process.state == IDLE:
            self._schedule(process)

    def send(self, target: Pid | Hashable, msg: Any) -> None:
        """Deliver ``msg`` to ``target``'s ``handle_info`` (Erlang's ``!``); returns at once.

        Raises as ``cast`` does.
        """
        self._put_nowait(target, msg, Info(msg))

    async def cast_wait(self, target: Pid | Hashable, msg: Any) -> None:
        """``cast``, but wait for room in a full ``backpressure`` mailbox instead of raising."""
        await self._put(target, msg, msg)

    async def send_wait(self, target: Pid | Hashable, msg: Any) -> None:
        """``send``, but wait for room in a full ``backpressure`` mailbox instead of raising."""
        await self._put(target, msg, Info(msg))

    async def call(self, target: Pid | Hashable, msg: Any, timeout: float | None = 5.0) -> Any:
        """Send ``msg`` to ``target``'s ``handle_call`` and wait for the reply.

        Args:
            target: a pid or a registered name.
            msg: the request; must be immutable.
            timeout: seconds to wait (``None``: for ever).

        Returns:
            The reply.

        Raises:
            ActorExited: at once if the target is dead, unknown, or exits before replying.
            CallTimeout: no reply within ``timeout``; a later reply is discarded.
            MailboxFull: the target's bounded mailbox refused the request.
        """
        process = self._processes.get(target) if type(target) is Pid else self._registry.whereis(target)
        if type(msg) not in SCALARS:
            check_immutable(msg)
        if process is None:
            raise ActorExited(target, NOPROC)
        future = self._loop.create_future()
        caller = Caller(msg, future, process)
        calls = process.calls
        if calls is None:
            calls = process.calls = set()
        calls.add(caller)
        mailbox = process.mailbox
        if process.state == IDLE and not mailbox.queue and not process.is_async and mailbox.capacity is None:
            # Sync fast path: the target is a sync actor with nothing to do, so run its turn
            # right here; no tick, no timer, no second task switch. Then yield once anyway:
            # a call is always a checkpoint, even when the reply is immediate.
            mailbox.queue.append(caller)
            if self._trace is not None:
                self._trace.record("send", process.pid, caller)
            self._run_now(process)
            if future.done():
                calls.discard(caller)
                await asyncio.sleep(0)
                return future.result()
        else:
            try:
                if mailbox.capacity is None:
                    mailbox.queue.append(caller)
                elif mailbox.overflow == "backpressure":
                    await mailbox.put(caller)
                else:
                    mailbox.put_nowait(caller)
            except BaseException:
                calls.discard(caller)
                raise
            if self._trace is not None:
                self._trace.record("send", process.pid, caller)
            if process.state == IDLE:
                self._schedule(process)
        if timeout is None:
            return await future
        handle = self._loop.call_later(timeout, _time_out, future, process.pid, msg, timeout)
        try:
            return await future
        finally:
            handle.cancel()
            calls.discard(caller)

    def _put_nowait(self, target: Any, msg: Any, item: Any) -> None:
        process = self._processes.get(target) if type(target) is Pid else self._by_name(target)
        if type(msg) not in SCALARS:
            check_immutable(msg)
        if process is None:
            self._dead_letter(target, msg)
        elif process.mailbox.put_nowait(item):
            self._delivered(process, item)

    async def _put(self, target: Any, msg: Any, item: Any) -> None:
        process = self._processes.get(target) if type(target) is Pid else self._by_name(target)
        if type(msg) not in SCALARS:
            check_immutable(msg)
        if process is None:
            self._dead_letter(target, msg)
        elif await process.mailbox.put(item):
            self._delivered(process, item)
        else:
            self._dead_letter(target, msg)

    def _delivered(self, process: Process, item: Any) -> None:
        if self._trace is not None:
            self._trace.record("send", process.pid, item)
        if process.state == IDLE:
            self._schedule(process)

    def _dead_letter(self, target: Any, msg: Any) -> None:
        """A message to a process that is gone: dropped, as Erlang does, but counted."""
        self._dead_letters += 1
        if self._trace is not None:
            self._trace.record("dead_letter", target, msg)
        if self._log_debug:
            self._log.debug("dead_letter", target=repr(target), message=type(msg).__name__)

    def _by_name(self, target: Any) -> Process | None:
        if type(target) is Pid:
            return self._processes.get(target)
        process = self._registry.whereis(target)
        if process is None:
            raise NoProcess(target)
        return process

    # Groups ------------------------------------------------------------------------------------

    def dispatch(self, group: Hashable, msg: Any) -> int:
        """Cast ``msg`` to every member of ``group``; returns how many got it."""
        members = self._registry.members(group)
        for process in members:
            self.cast(process.pid, msg)
        return len(members)

    # Timers ----------------------------------------------------------------------------------

    def send_after(self, delay: float, target: Pid | Hashable, msg: Any) -> TimerRef:
        """Send ``msg`` to ``target``'s ``handle_info`` after ``delay`` seconds.

        A name is resolved when the timer fires, as ``erlang:send_after`` does.

        Returns:
            A reference for ``cancel_timer``.
        """
        if type(msg) not in SCALARS:
            check_immutable(msg)
        ref = self.make_ref()
        self._timers[ref] = self._loop.call_later(delay, self._fire, ref, target, msg)
        return ref

    def cancel_timer(self, ref: TimerRef) -> float | None:
        """Cancel a timer; returns the seconds it had left, or ``None`` if it had fired."""
        handle = self._timers.pop(ref, None)
        if handle is None:
            return None
        handle.cancel()
        return max(0.0, handle.when() - self._loop.time())

    def _fire(self, ref: Ref, target: Any, msg: Any) -> None:
        del self._timers[ref]
        if self._trace is not None:
            self._trace.record("timer", ref, target)
        process = self._processes.get(target) if type(target) is Pid else self._registry.whereis(target)
        if process is None:
            self._dead_letter(target, msg)
            return
        item = Info(msg)
        try:
            queued = process.mailbox.put_nowait(item)
        except MailboxFull:
            # Nobody is there to receive the error: count the timer's message as dropped.
            process.mailbox.dropped += 1
            return
        if queued:
            self._delivered(process, item)

    # Links, monitors, exits --------------------------------------------------------------------

    def exit(self, pid: Pid, reason: Any) -> None:
        """Send an exit signal from the runtime (``"kill"`` cannot be trapped)."""
        self._exit_signal(self.pid, pid, reason, linked=False)

    def _exit_signal(self, sender: Pid, pid: Pid, reason: Any, *, linked: bool) -> None:
        process = self._processes.get(pid)
        if process is not None:
            if self._trace is not None:
                self._trace.record("exit_signal", sender, pid, reason)
            process.receive_exit(sender, reason, linked=linked)

    def _link(self, process: Process, pid: Pid) -> None:
        other = self._processes.get(pid)
        if other is None:
            process.receive_exit(pid, NOPROC, linked=True)
        elif other is not process:
            self._add_link(process, other)

    def _add_link(self, a: Process, b: Process) -> None:
        if a.links is None:
            a.links = set()
        if b.links is None:
            b.links = set()
        a.links.add(b.pid)
        b.links.add(a.pid)

    def _unlink(self, process: Process, pid: Pid) -> None:
        if process.links is not None:
            process.links.discard(pid)
        other = self._processes.get(pid)
        if other is not None and other.links is not None:
            other.links.discard(process.pid)

    def _monitor(self, process: Process, pid: Pid) -> Ref:
        ref = self.make_ref()
        target = self._processes.get(pid)
        if target is None:
            process.deliver_system(Down(ref, pid, NOPROC))
            return ref
        if target.monitors is None:
            target.monitors = {}
        target.monitors[ref] = process.pid
        if process.watching is None:
            process.watching = {}
        process.watching[ref] = pid
        return ref

    def _demonitor(self, process: Process, ref: Ref) -> None:
        target_pid = process.watching.pop(ref, None) if process.watching else None
        target = self._processes.get(target_pid) if target_pid is not None else None
        if target is not None and target.monitors is not None:
            target.monitors.pop(ref, None)
        # Flush a Down that already arrived, so none for ``ref`` is ever seen afterwards.
        queue = process.mailbox.queue
        for item in [i for i in queue if type(i) is Down and i.ref == ref]:
            queue.remove(item)

    async def wait_exit(self, pid: Pid, timeout: float | None = None) -> Any:
        """Wait for ``pid`` to exit and return its reason (``"noproc"`` if it is not alive).

        Raises:
            TimeoutError: it was still alive after ``timeout`` seconds.
        """
        process = self._processes.get(pid)
        if process is None:
            return NOPROC
        waiter: asyncio.Future[Any] = self._loop.create_future()
        if process.exit_waiters is None:
            process.exit_waiters = []
        process.exit_waiters.append(waiter)
        self._run_pending_turn(process)
        if waiter.done():
            await asyncio.sleep(0)  # still a checkpoint when the exit already happened
            return waiter.result()
        if timeout is None:
            return await waiter
        async with asyncio.timeout(timeout):
            return await waiter

    # Registry --------------------------------------------------------------------------------

    def register(self, name: Hashable, pid: Pid) -> None:
        """Register the live process ``pid`` as ``name``.

        Raises:
            NameTaken: another live process holds ``name``.
            NoProcess: ``pid`` is not alive.
        """
        process = self._processes.get(pid)
        if process is None:
            raise NoProcess(pid)
        self._registry.register(name, process)

    def unregister(self, name: Hashable) -> None:
        """Release ``name``."""
        self._registry.unregister(name)

    def whereis(self, name: Hashable) -> Pid | None:
        """The pid registered as ``name``, or ``None``."""
        process = self._registry.whereis(name)
        return process.pid if process is not None else None

    def join(self, group: Hashable, pid: Pid) -> None:
        """Add the live process ``pid`` to ``group`` (it leaves when it exits)."""
        process = self._processes.get(pid)
        if process is None:
            raise NoProcess(pid)
        self._registry.join(group, process)

    def leave(self, group: Hashable, pid: Pid) -> None:
        """Remove ``pid`` from ``group``."""
        process = self._processes.get(pid)
        if process is not None:
            self._registry.leave(group, process)

    def members(self, group: Hashable) -> list[Pid]:
        """The live members of ``group``, in join order."""
        return [process.pid for process in self._registry.members(group)]

    # Introspection ---------------------------------------------------------------------------

    def is_alive(self, pid: Pid) -> bool:
        """True if ``pid`` names a live process of this runtime."""
        return pid in self._processes

    def processes(self) -> list[Pid]:
        """Every live pid, in start order."""
        return list(self._processes)

    def process_info(self, pid: Pid) -> ProcessInfo | None:
        """A snapshot of ``pid``, or ``None`` if it is not alive."""
        process = self._processes.get(pid)
        if process is None:
            return None
        return ProcessInfo(
            pid=pid,
            actor=type(process.actor).__name__,
            name=process.name,
            state=STATE_NAMES[process.state],
            parent=process.parent,
            trap_exit=bool(process.actor.trap_exit),
            links=frozenset(process.links or ()),
            monitors=len(process.monitors or ()),
            mailbox=process.mailbox.statistics(),
        )

    def statistics(self) -> RuntimeStatistics:
        """A snapshot of this runtime's counters."""
        return RuntimeStatistics(
            processes=len(self._processes),
            spawned=self._spawned,
            exited=self._exit_count,
            crashed=self._crashed,
            dead_letters=self._dead_letters,
            runnable=self._active,
            timers=len(self._timers),
        )

    def now(self) -> float:
        """The loop's time: virtual seconds under the virtual clock."""
        return self._loop.time()

    def make_ref(self) -> Ref:
        """A new reference, unique within this runtime."""
        return Ref(self.node, next(self._refs))

    def trace_digest(self) -> str:
        """The hash of the event trace so far (needs ``trace=True``)."""
        if self._trace is None:
            raise RuntimeError("start the runtime with trace=True to record a trace")
        return self._trace.digest()

    def trace_events(self) -> list[str]:
        """The recorded events, as text (needs ``trace=True``)."""
        if self._trace is None:
            raise RuntimeError("start the runtime with trace=True to record a trace")
        return list(self._trace.events)

    async def wait_idle(self) -> None:
        """Wait until no process has work: every mailbox handled, every burst finished."""
        while self._active:
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._idle_waiters.append(waiter)
            await waiter

    # Scheduler -------------------------------------------------------------------------------

    def _schedule(self, process: Process) -> None:
        """Put an IDLE process on the ready list."""
        process.state = SCHEDULED
        self._active += 1
        self._ready.append(process)
        if not self._tick_pending:
            self._tick_pending = True
            self._loop.call_soon(self._tick)

    def _run_now(self, process: Process) -> None:
        """Run an IDLE sync process's turn at once, in the caller's stack (the call fast path)."""
        process.state = SCHEDULED
        self._active += 1
        process.activate()

    def _run_pending_turn(self, process: Process) -> None:
        """Run a scheduled sync process's turn now, in the waiter's stack.

        The fast path of ``start`` and ``wait_exit``: the waiter is about to suspend until this
        turn has run, so running it first saves a tick and a wake-up. The tick skips the
        process later, since it is no longer SCHEDULED. The waiter then yields once, so these
        stay checkpoints.
        """
        if process.state == SCHEDULED and not process.is_async:
            process.activate()

    def _requeue(self, process: Process) -> None:
        """Put a process that used up its budget back on the ready list."""
        self._ready.append(process)
        if not self._tick_pending:
            self._tick_pending = True
            self._loop.call_soon(self._tick)

    def _tick(self) -> None:
        # Run exactly the batch that is ready now; what becomes ready meanwhile waits for the
        # next tick, behind whatever else the loop has to do.
        self._tick_pending = False
        batch = self._ready
        self._ready = []
        if self._rng is not None and len(batch) > 1:
            self._rng.shuffle(batch)
        for process in batch:
            if process.state == SCHEDULED:  # it may have died since
                try:
                    process.activate()
                except Exception as exc:  # noqa: BLE001 - never strand the rest of the batch
                    self._internal_error(process, exc)

    def _internal_error(self, process: Process, exc: Exception) -> None:
        """A bug in the runtime itself: say so loudly, and end only the process it hit."""
        self._log.critical(
            "internal_error",
            pid=repr(process.pid),
            hint="internal error in neural-actors - please report it",
            exc_info=exc,
        )
        if process.state != DEAD:
            process.exit(InternalError(f"internal error while running {process.pid!r}: {exc!r}"))

    def _went_idle(self) -> None:
        self._active -= 1
        if not self._active and self._idle_waiters:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle_waiters.clear()

    def _forget(self, process: Process, was_idle: bool) -> None:
        del self._processes[process.pid]
        self._registry.forget(process)
        if not was_idle:
            self._went_idle()

    # Reports ---------------------------------------------------------------------------------

    def _crash_report(self, process: Process, exc: BaseException) -> None:
        self._crashed += 1
        self._log.error(
            "crash_report",
            pid=repr(process.pid),
            actor=type(process.actor).__name__,
            name=process.name,
            reason=format_reason(exc),
            exc_info=exc,
        )

    def _exited(self, process: Process, reason: Any, unhandled: int) -> None:
        self._exit_count += 1
        if self._trace is not None:
            self._trace.record("exit", process.pid, reason)
        quiet = is_shutdown(reason) or reason == KILLED
        if quiet and not self._log_debug:
            return
        self._log.log(
            logging.DEBUG if quiet else logging.INFO,
            "exit",
            pid=repr(process.pid),
            actor=type(process.actor).__name__,
            reason=format_reason(reason),
            unhandled_messages=unhandled,
        )

    def _event(self, level: int, event: str, **fields: Any) -> None:
        if level >= self._log_level:
            self._log.log(level, event, **fields)


def _time_out(future: asyncio.Future[Any], pid: Pid, request: Any, timeout: float) -> None:
    if not future.done():
        future.set_exception(CallTimeout(pid, request, timeout))


@final
class BlockingRuntime:
    """A ``Runtime`` driven from sync code through anyio's blocking portal.

    Every method runs on the runtime's own loop thread and blocks the caller until done.
    """

    def __init__(self, runtime: Runtime, portal: Any) -> None:
        self.runtime = runtime
        self._portal = portal

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` on the runtime's loop and return its result."""
        return self._portal.call(fn, *args)

    def spawn(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Blocking ``Runtime.spawn``."""
        return self._portal.call(lambda: self.runtime.spawn(actor, *args, **options))

    def start(self, actor: type[Actor], *args: Any, **options: Any) -> Pid:
        """Blocking ``Runtime.start``."""
        return self._portal.call(lambda: self.runtime.start(actor, *args, **options))

    def call(self, target: Any, msg: Any, timeout: float | None = 5.0) -> Any:
        """Blocking ``Runtime.call``."""
        return self._portal.call(self.runtime.call, target, msg, timeout)

    def cast(self, target: Any, msg: Any) -> None:
        """Blocking ``Runtime.cast``."""
        self._portal.call(self.runtime.cast, target, msg)

    def send(self, target: Any, msg: Any) -> None:
        """Blocking ``Runtime.send``."""
        self._portal.call(self.runtime.send, target, msg)

    def whereis(self, name: Hashable) -> Pid | None:
        """Blocking ``Runtime.whereis``."""
        return self._portal.call(self.runtime.whereis, name)

    def stop(self, pid: Pid, shutdown: Shutdown = 5.0) -> Any:
        """Blocking ``Runtime.stop``."""
        return self._portal.call(self.runtime.stop, pid, shutdown)

    def wait_exit(self, pid: Pid, timeout: float | None = None) -> Any:
        """Blocking ``Runtime.wait_exit``."""
        return self._portal.call(self.runtime.wait_exit, pid, timeout)
