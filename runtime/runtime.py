"""The Runtime: one node's public façade over its processes, delivery, timers and lifetime.

Embed it in any asyncio program (``async with Runtime() as rt:``), run it from sync code
(``with Runtime.blocking() as rt:``), or start it with ``neural_actors.run``. Leaving the
block stops the top-level processes in reverse start order, each with its shutdown timeout
(supervisors stop their own children), then kills whatever is left: nothing keeps running.
Shutdown completes even when the block is left by cancellation (an anyio cancel scope, a
task group, ``asyncio.timeout``): it is shielded, and the cancellation is re-raised after it.

The work happens below: ``process.py`` (the heart: processes, scheduler, exits),
``delivery.py`` (the one door every message goes through), ``timers.py``, ``links.py``,
``registry.py``. This module checks arguments and puts the pieces together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Hashable, Iterator, Mapping
from typing import Any, TypeVar, final

import anyio
import attrs

from .behaviour import Behaviour, is_async_behaviour
from .calls import Caller
from .checks import Shutdown, check_seconds, check_shutdown
from .clock import Clock, is_virtual
from .delivery import Delivery, Dispatched, RemoteRoute, Transport
from .errors import ActorExited, NameTaken, NoProcess, RuntimeClosed, StartFailed
from .links import CORE_FAILED, KILL, NOPROC, SHUTDOWN
from .mailbox import UNBOUNDED, MailboxPolicy, MailboxStatistics
from .mesh import Mesh, MeshStatistics, MeshTransport
from .message import FrozenDict, check_immutable
from .metrics import MetricsSnapshot, RuntimeMetrics
from .pid import Pid, Ref
from .placement import Placement, Strategy
from .portal import BlockingRuntime, start_blocking
from .process import GetState, Node, Process, ProcessHooks, describe_pending
from .reports import LEVELS, Logger, Reports
from .timers import Timers
from .trace import Trace

__all__ = ["ProcessInfo", "ProcessStatus", "Runtime", "RuntimeStatistics", "Shutdown", "TimerRef"]

T = TypeVar("T")
_LONGEST = 1e300  # a finite float timeout no longer than this needs no closer check (NaN fails it)
TimerRef = Ref


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
class ProcessStatus:
    """What ``get_status`` answers: the process's info and its actor's formatted state."""

    info: ProcessInfo
    state: FrozenDict


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
    links: tuple[Pid, ...]
    monitors: int
    mailbox: MailboxStatistics


@final
class Runtime:
    """One node: its processes, their scheduler, registry, timers and lifetime.

    Args:
        clock: ``"real"`` for wall time; ``"virtual"`` for time that jumps to the next timer
            when nothing is runnable (the running loop must be a ``VirtualEventLoop``).
        seed: shuffles each scheduling batch with this seed; ``None`` keeps FIFO order.
        node: this node's number, the first part of every pid. Pids are per runtime: give two
            runtimes of one program different nodes to tell their pids apart in logs.
        trace: record an event trace (``trace_digest()``, ``trace_events()``).
        log_level: the least level of the events this runtime, its supervisors and its actors'
            ``self.log`` emit (``debug`` adds every spawn, start and exit). Structlog's own
            configuration filters on top.
        mesh: run on an emulated packet mesh (a ``Mesh`` or a preset name such as
            ``"wormhole"``): every process gets a core, and messages between cores travel as
            packets. ``None``: every process on core 0, delivery immediate.
        placement: how spawns without ``core=`` choose a core (``round_robin``, ``spread``,
            ``pack``, ``comm_aware``).
        traffic: for ``comm_aware``, the expected traffic between process names.
        metrics: count messages sent, delivered and dropped, time calls, count supervisors'
            restarts (``metrics_snapshot()``; ``neural_actors.metrics`` exports them to
            Prometheus). Off, the counting costs one check per message.
    """

    def __init__(
        self,
        *,
        clock: Clock = "real",
        seed: int | None = None,
        node: int = 0,
        trace: bool = False,
        log_level: str = "info",
        mesh: Mesh | str | None = None,
        placement: Strategy = "round_robin",
        traffic: Mapping[tuple[Hashable, Hashable], float] | None = None,
        metrics: bool = False,
    ) -> None:
        if clock not in ("real", "virtual"):
            raise ValueError(f"clock must be 'real' or 'virtual' (got {clock!r})")
        if log_level not in LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LEVELS)} (got {log_level!r})")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None (got {seed!r})")
        if isinstance(node, bool) or not isinstance(node, int) or node < 0:
            raise ValueError(f"node must be an int >= 0 (got {node!r})")
        self.mesh = Mesh.preset(mesh) if isinstance(mesh, str) else mesh
        if self.mesh is not None and not isinstance(self.mesh, Mesh):
            raise TypeError(f"mesh must be a Mesh, a preset name or None (got {mesh!r})")
        self.placement = Placement(self.mesh, placement, traffic) if self.mesh is not None else None
        self._mesh_transport: MeshTransport | None = None
        self._reserved: dict[Pid, tuple[int, int, Hashable]] = {}
        self.clock = clock
        self.seed = seed
        self.node = node
        self.pid = Pid(node, 0, 0)
        self._want_trace = trace
        self._reports = Reports(node, LEVELS[log_level])
        self._node = Node(node, seed=seed, reports=self._reports)
        self._node.facade = self
        self._delivery = Delivery(self._node)
        if type(metrics) is not bool:
            raise TypeError(f"metrics must be True or False (got {metrics!r})")
        self._metrics = RuntimeMetrics() if metrics else None
        self._node.metrics = self._delivery.metrics = self._metrics
        self._timers = Timers(self._node, self._delivery)
        self._describer: Any = None
        self._running = False

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<Runtime node {self.node} {self.clock} clock, {len(self._node.processes)} processes, {state}>"

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
        self._node.bind(loop, Trace(loop.time) if self._want_trace else None)
        if self.mesh is not None:
            self._mesh_transport = MeshTransport(self.mesh, loop, virtual=self.clock == "virtual")
            self._delivery.transport = self._mesh_transport
            self._node.exit_hooks.append(self._release_core)
        add_describer = getattr(loop, "add_deadlock_describer", None)
        if add_describer is not None:
            self._describer = describe_pending(self._node)
            add_describer(self._describer)
        self._running = True
        self._reports.log.debug("runtime_started", clock=self.clock, seed=self.seed)

    async def shutdown(self) -> None:
        """Stop every process: top-level ones in reverse start order, then kill what is left.

        Completes even if the calling task is cancelled meanwhile; the cancellation is then
        re-raised.
        """
        if not self._running:
            return
        await _complete(self._shutdown())

    async def _shutdown(self) -> None:
        processes = self._node.processes
        top_level = [p for p in processes.values() if p.parent == self.pid]
        for process in reversed(top_level):
            if process.alive:
                await self._stop(process, SHUTDOWN, process.shutdown)
        for process in reversed(list(processes.values())):
            if process.alive:
                await self._stop(process, SHUTDOWN, "brutal_kill")
        self._timers.cancel_all()
        remove_describer = getattr(self._node.loop, "remove_deadlock_describer", None)
        if remove_describer is not None and self._describer is not None:
            remove_describer(self._describer)
        self._running = False
        self._reports.log.debug("runtime_stopped", spawned=self._node.spawned, exited=self._node.exited)
        await asyncio.sleep(0)

    async def stop(self, pid: Pid, shutdown: Shutdown = 5.0, *, reason: Any = SHUTDOWN) -> Any:
        """Stop ``pid`` as a supervisor would, and return its exit reason.

        Sends an exit signal with ``reason`` (default ``shutdown``) and waits up to ``shutdown``
        seconds (``"infinity"`` waits for ever, ``"brutal_kill"`` kills at once), then kills.
        Waiting is on the process's exit, not on a message, so a process that unlinks itself
        cannot hang its stopper.

        Returns:
            The exit reason, or ``"noproc"`` if ``pid`` was not alive.

        Raises:
            ValueError: ``shutdown`` is not ``brutal_kill``, ``infinity`` or finite seconds >= 0.
        """
        check_shutdown(shutdown)
        process = self._node.processes.get(pid)
        if process is None:
            await asyncio.sleep(0)
            return NOPROC
        return await self._stop(process, reason, shutdown)

    async def _stop(self, process: Process, reason: Any, shutdown: Shutdown) -> Any:
        """Stop one process, yielding only if it does not die at once.

        A sync process that does not trap exits dies in the signal's own turn, run here, so
        stopping thousands of them costs no loop turn each.
        """
        signal = KILL if shutdown == "brutal_kill" else reason
        self._delivery.exit_signal(self.pid, process.pid, signal, linked=False)
        self._node.run_pending_turn(process)
        if not process.alive:
            return process.reason
        waiter = process.exit_waiter()
        if shutdown in ("brutal_kill", "infinity"):
            return await waiter
        try:
            async with asyncio.timeout(float(shutdown)):
                return await asyncio.shield(waiter)
        except TimeoutError:
            self._delivery.exit_signal(self.pid, process.pid, KILL, linked=False)
            return await waiter

    @classmethod
    @contextlib.contextmanager
    def blocking(cls, **options: Any) -> Iterator[BlockingRuntime]:
        """Run a runtime on its own loop thread and drive it from sync code.

        Built on anyio's blocking portal: every method of the returned ``BlockingRuntime`` runs
        on the runtime's loop and returns its result to the calling thread.
        """
        with start_blocking(cls(**options), virtual=options.get("clock") == "virtual") as blocking:
            yield blocking

    # Spawning --------------------------------------------------------------------------------

    def spawn(
        self,
        actor: type[Behaviour],
        *args: Any,
        name: Hashable | None = None,
        kwargs: dict[str, Any] | None = None,
        mailbox: MailboxPolicy | None = None,
        shutdown: Shutdown = 5.0,
        link: Pid | None = None,
        core: int | None = None,
        memory: int | None = None,
    ) -> Pid:
        """Start a process running ``actor``; its ``init(*args, **kwargs)`` runs at its first turn.

        Arguments are handed to ``init`` as given, unchecked: a process started by hand may be
        given an object to share on purpose. Arguments that outlive the process, those of a
        ``ChildSpec`` reused at every restart, must be immutable and are checked there.

        Args:
            actor: an ``Actor`` subclass, instantiated with no arguments.
            *args: passed to ``init``.
            name: register the process under this unique name.
            kwargs: keyword arguments for ``init``.
            mailbox: a bounded ``MailboxPolicy``; unbounded by default.
            shutdown: seconds to wait for it at shutdown before killing it, or ``"infinity"``
                or ``"brutal_kill"``.
            link: link to this pid atomically; it also becomes the parent.
            core: the mesh core to place the process on, if it is alive (else placement
                chooses); without a mesh, a label with no effect (default 0).
            memory: bytes of core SRAM the process needs (its weights), which placement
                reserves; default: the actor class's ``memory_bytes``, or 0.

        Returns:
            The new pid.

        Raises:
            NameTaken: ``name`` is registered to a live process.
            TypeError: ``actor`` is not an ``Actor`` subclass.
            ValueError: ``shutdown`` or ``core`` is out of range.
        """
        if not self._running:
            raise RuntimeClosed("the runtime is not running; use 'async with Runtime() as rt'")
        if not (isinstance(actor, type) and issubclass(actor, Behaviour)):
            raise TypeError(f"spawn takes an Actor subclass (got {actor!r})")
        if type(shutdown) is not float or not 0.0 <= shutdown <= _LONGEST:  # the default skips the full check
            check_shutdown(shutdown)
        if mailbox is not None and type(mailbox) is not MailboxPolicy:
            raise TypeError(f"mailbox must be a MailboxPolicy or None (got {mailbox!r})")
        if link is not None and type(link) is not Pid:
            raise TypeError(f"link must be a Pid or None (got {link!r})")
        if core is not None and (isinstance(core, bool) or not isinstance(core, int) or core < 0):
            raise ValueError(f"core must be an int >= 0 or None (got {core!r})")
        if memory is None:
            memory = getattr(actor, "memory_bytes", 0)
        if isinstance(memory, bool) or not isinstance(memory, int) or memory < 0:
            raise ValueError(f"memory must be bytes, an int >= 0 (got {memory!r})")
        if name is not None:
            holder = self._node.registry.whereis(name)
            if holder is not None:
                raise NameTaken(name, holder.pid)
        placed = core or 0
        if self.placement is not None:
            placed = self.placement.place(memory, core, name)
        process = self._node.spawn(
            actor,
            args,
            kwargs or {},
            name=name,
            mailbox=mailbox or UNBOUNDED,
            shutdown=shutdown,
            link=link,
            core=placed,
            is_async=is_async_behaviour(actor),
        )
        if self.placement is not None:
            self._reserved[process.pid] = (placed, memory, name)
        return process.pid

    # The mesh --------------------------------------------------------------------------------

    def mesh_statistics(self) -> MeshStatistics:
        """Per-link traffic and utilisation, hop histogram, latency percentiles.

        Raises:
            RuntimeError: the runtime has no mesh, or is not running.
        """
        return self._mesh().statistics()

    def fail_core(self, core: int) -> list[Pid]:
        """Fail a core: its processes exit with reason ``core_failed`` (untrappable), placement
        avoids it, and messages to it raise ``Unreachable``. Returns the pids that were there."""
        transport = self._mesh()
        transport.fail_core(core)
        self.placement.fail(core)  # type: ignore[union-attr]
        victims = [p for p in self._node.processes.values() if p.pid.core == core]
        for process in victims:
            process.note_exit(CORE_FAILED)
        return [p.pid for p in victims]

    def restore_core(self, core: int) -> None:
        """Bring a failed core back into service."""
        self._mesh().restore_core(core)
        self.placement.restore(core)  # type: ignore[union-attr]

    def fail_link(self, chip: int, x: int, y: int, direction: str, noc: int = 0) -> None:
        """Fail the link leaving router ``(x, y)`` of ``chip`` in ``direction`` on ``noc``."""
        self._mesh().fail_link(chip, x, y, direction, noc)

    def restore_link(self, chip: int, x: int, y: int, direction: str, noc: int = 0) -> None:
        """Bring a failed link back into service (a fault plan heals what it failed)."""
        self._mesh().restore_link(chip, x, y, direction, noc)

    def slow_core(self, core: int, factor: float) -> None:
        """Make messages to ``core`` take ``factor`` times longer (1.0 restores it)."""
        self._mesh().slow_core(core, factor)

    def _mesh(self) -> MeshTransport:
        if self._mesh_transport is None:
            raise RuntimeError("this runtime has no mesh (Runtime(mesh=...)), or is not running")
        return self._mesh_transport

    def _release_core(self, pid: Pid, reason: Any) -> None:
        reserved = self._reserved.pop(pid, None)
        if reserved is not None:
            self.placement.release(*reserved)  # type: ignore[union-attr]

    async def start(
        self, actor: type[Behaviour], *args: Any, timeout: float | None = None, node: Hashable | None = None,
        **options: Any,
    ) -> Pid:
        """Spawn like ``spawn`` and wait until ``init`` has returned.

        Args:
            timeout: seconds ``init`` may take (``None``: as long as it takes); past them the
                process is killed and ``StartFailed`` raised with reason ``"timeout"``.
            node: start it on this node of the cluster (if alive; else the cluster places it), or
                where a placement strategy the cluster knows puts it; ``None`` or this node's own
                number: here. Needs a remote route (``set_remote``) for any other node.

        Raises:
            StartFailed: ``init`` raised, stopped, the process was killed first, or timed out;
                on another node also with reason ``"noconnection"`` (its node went away) or
                when this runtime is in no cluster.
            StartIgnored: ``init`` returned ``Ignore``.
        """
        check_seconds("timeout", timeout, none_ok=True)
        if node is not None and node != self.node:
            return await self._start_elsewhere(node, actor, args, timeout, options)
        pid = self.spawn(actor, *args, **options)
        return await self._node.wait_start(self._node.processes[pid], timeout)

    async def _start_elsewhere(
        self, node: Hashable, actor: type[Behaviour], args: tuple[Any, ...], timeout: float | None,
        options: dict[str, Any],
    ) -> Pid:
        remote = self._delivery.remote
        if remote is None:
            name = getattr(actor, "__name__", repr(actor))
            raise StartFailed(name, f"node {node!r} is not reachable: runtime node {self.node} is in no cluster")
        return await remote.start(node, actor, args, {**options, "timeout": timeout})

    # Messages --------------------------------------------------------------------------------

    @property
    def delivery(self) -> Delivery:
        """The delivery seam every message of this runtime goes through (for transports)."""
        return self._delivery

    @property
    def transport(self) -> Transport | None:
        """The transport every delivery goes through (the mesh's, a fault plan's), or ``None``."""
        return self._delivery.transport

    def set_transport(self, transport: Transport | None) -> None:
        """Route every delivery through ``transport`` (a mesh, a fault plan); ``None``: local.

        A transport that wraps another (a fault plan over the mesh) takes ``rt.transport``
        first and passes what it lets through to it.
        """
        self._delivery.transport = transport

    @property
    def hooks(self) -> ProcessHooks | None:
        """The hooks every process's ``init`` and dispatch call (a fault plan's), or ``None``."""
        return self._node.hooks

    @property
    def remote(self) -> RemoteRoute | None:
        """The route to other nodes (a cluster's), or ``None``: a node on its own."""
        return self._delivery.remote

    def set_remote(self, route: RemoteRoute | None) -> None:
        """Send whatever is addressed to other nodes through ``route`` (``neural_actors.nodes``
        installs one per node); ``None``: pids of other nodes are dead letters again."""
        self._delivery.remote = route

    def set_hooks(self, hooks: ProcessHooks | None) -> None:
        """Step into every process's ``init`` and dispatch (fault plans); ``None`` removes them.

        Hooks that wrap others take ``rt.hooks`` first and call them.
        """
        self._node.hooks = hooks

    def cast(self, target: Pid | Hashable, msg: Any) -> None:
        """Deliver ``msg`` to ``target``'s ``handle_cast``; returns at once.

        Raises:
            TypeError: ``msg`` is mutable (names the field).
            MailboxFull: a bounded mailbox with overflow ``fail`` or ``backpressure`` is full.
            NoProcess: ``target`` is a name nobody holds.
        """
        self._delivery.cast(self.pid, target, msg)

    def send(self, target: Pid | Hashable, msg: Any) -> None:
        """Deliver ``msg`` to ``target``'s ``handle_info`` (Erlang's ``!``); returns at once.

        Raises as ``cast`` does.
        """
        self._delivery.send(self.pid, target, msg)

    async def cast_wait(self, target: Pid | Hashable, msg: Any) -> None:
        """``cast``, but wait for room in a full ``backpressure`` mailbox instead of raising."""
        await self._delivery.put_wait(self.pid, target, msg, info=False)

    async def send_wait(self, target: Pid | Hashable, msg: Any) -> None:
        """``send``, but wait for room in a full ``backpressure`` mailbox instead of raising."""
        await self._delivery.put_wait(self.pid, target, msg, info=True)

    def call(self, target: Pid | Hashable, msg: Any, timeout: float | None = 5.0) -> Coroutine[Any, Any, Any]:
        """Send ``msg`` to ``target``'s ``handle_call`` and wait for the reply: ``await rt.call(...)``.

        The arguments are checked at once, before anything is awaited; the returned coroutine
        is the delivery seam's own (no extra frame on the hot path).

        Args:
            target: a pid or a registered name.
            msg: the request; must be immutable.
            timeout: seconds to wait for the whole call (``None``: for ever).

        Returns:
            The reply.

        Raises:
            ActorExited: at once if the target is dead or exits before replying;
                ``NoProcess`` (an ``ActorExited``) if the name is unknown.
            CallTimeout: no reply within ``timeout``; a later reply is discarded.
            MailboxFull: the target's bounded mailbox refused the request.
            TypeError, ValueError: ``msg`` is mutable or ``timeout`` is not finite seconds.
        """
        if timeout is not None and not (type(timeout) is float and 0.0 <= timeout <= _LONGEST):
            check_seconds("timeout", timeout, none_ok=True)  # the slow path names what is wrong
        return self._delivery.call(self.pid, target, msg, timeout)

    def dispatch(self, group: Hashable, msg: Any) -> Dispatched:
        """Cast ``msg`` to every member of ``group``; says which members got, dropped or refused it."""
        return self._delivery.dispatch(self.pid, group, msg)

    # Timers ----------------------------------------------------------------------------------

    def send_after(self, delay: float, target: Pid | Hashable, msg: Any) -> TimerRef:
        """Send ``msg`` to ``target``'s ``handle_info`` after ``delay`` seconds.

        A name is resolved when the timer fires, as ``erlang:send_after`` does.

        Returns:
            A reference for ``cancel_timer``.
        """
        return self._timers.send_after(delay, target, msg)

    def cancel_timer(self, ref: TimerRef) -> float | None:
        """Cancel a timer; returns the seconds it had left, or ``None`` if it had fired."""
        return self._timers.cancel(ref)

    # Links, monitors, exits --------------------------------------------------------------------

    def exit(self, pid: Pid, reason: Any) -> None:
        """Send an exit signal from the runtime (``"kill"`` cannot be trapped).

        Raises:
            TypeError: ``reason`` is mutable (every linked process would share it).
        """
        check_immutable(reason, "exit reason")
        self._delivery.exit_signal(self.pid, pid, reason, linked=False)

    async def wait_exit(self, pid: Pid, timeout: float | None = None) -> Any:
        """Wait for ``pid`` to exit and return its reason (``"noproc"`` if it is not alive).

        Raises:
            TimeoutError: it was still alive after ``timeout`` seconds.
        """
        check_seconds("timeout", timeout, none_ok=True)
        remote = self._delivery.remote
        if remote is not None and pid.node != self.node:
            return await remote.wait_exit(pid, timeout)
        return await self._node.wait_exit(pid, timeout)

    # Registry --------------------------------------------------------------------------------

    def register(self, name: Hashable, pid: Pid) -> None:
        """Register the live process ``pid`` as ``name``.

        Raises:
            NameTaken: another live process holds ``name``.
            NoProcess: ``pid`` is not alive.
        """
        self._node.registry.register(name, self._live(pid))

    def unregister(self, name: Hashable) -> None:
        """Release ``name``."""
        self._node.registry.unregister(name)

    def whereis(self, name: Hashable) -> Pid | None:
        """The pid registered as ``name``, or ``None``."""
        process = self._node.registry.whereis(name)
        return process.pid if process is not None else None

    def join(self, group: Hashable, pid: Pid) -> None:
        """Add the live process ``pid`` to ``group`` (it leaves when it exits)."""
        self._node.registry.join(group, self._live(pid))

    def leave(self, group: Hashable, pid: Pid) -> None:
        """Remove ``pid`` from ``group``."""
        process = self._node.processes.get(pid)
        if process is not None:
            self._node.registry.leave(group, process)

    def members(self, group: Hashable) -> list[Pid]:
        """The live members of ``group``, in join order."""
        return [process.pid for process in self._node.registry.members(group)]

    def registered(self) -> dict[Hashable, Pid]:
        """Every registered name and the pid it names, in registration order (a snapshot)."""
        return {name: process.pid for name, process in self._node.registry.names().items()}

    def groups(self) -> dict[Hashable, tuple[Pid, ...]]:
        """Every group and its members' pids, in join order (a snapshot)."""
        return {key: tuple(p.pid for p in members) for key, members in self._node.registry.groups().items()}

    def _live(self, pid: Pid) -> Process:
        process = self._node.processes.get(pid)
        if process is None:
            raise NoProcess(pid)
        return process

    # Introspection ---------------------------------------------------------------------------

    @property
    def log(self) -> Logger:
        """This runtime's logger (filtered at its ``log_level``)."""
        return self._reports.log

    def is_alive(self, pid: Pid) -> bool:
        """True if ``pid`` names a live process of this runtime."""
        return pid in self._node.processes

    def processes(self) -> list[Pid]:
        """Every live pid, in start order."""
        return list(self._node.processes)

    def process_info(self, pid: Pid) -> ProcessInfo | None:
        """A snapshot of ``pid``, or ``None`` if it is not alive."""
        process = self._node.processes.get(pid)
        if process is None:
            return None
        return ProcessInfo(
            pid=pid,
            actor=type(process.actor).__name__,
            name=process.name,
            state=process.state_name,
            parent=process.parent,
            trap_exit=bool(process.actor.trap_exit),  # type: ignore[attr-defined]
            links=self._node.links.linked(pid),
            monitors=self._node.links.monitored_by(pid),
            mailbox=process.mailbox.statistics(),
        )

    def get_state(self, pid: Pid, timeout: float | None = 5.0) -> Coroutine[Any, Any, FrozenDict]:
        """A snapshot of an actor's attributes, as its ``format_status`` shows them
        (``sys:get_state``); answered by the process loop in mailbox order, for debugging.

        Raises:
            ActorExited: ``pid`` is not alive or exits first.
            CallTimeout: it did not get to the request within ``timeout``.
        """
        check_seconds("timeout", timeout, none_ok=True)
        return self._delivery.call(self.pid, pid, GetState(), timeout)

    async def get_status(self, pid: Pid, timeout: float | None = 5.0) -> ProcessStatus:
        """``process_info`` and ``get_state`` together (``sys:get_status``).

        Raises:
            ActorExited: ``pid`` is not alive or exits first.
            CallTimeout: it did not get to the request within ``timeout``.
        """
        state = await self.get_state(pid, timeout)
        info = self.process_info(pid)
        if info is None:
            raise ActorExited(pid, NOPROC)
        return ProcessStatus(info, state)

    def statistics(self) -> RuntimeStatistics:
        """A snapshot of this runtime's counters."""
        node = self._node
        return RuntimeStatistics(
            processes=len(node.processes),
            spawned=node.spawned,
            exited=node.exited,
            crashed=node.crashed,
            dead_letters=self._delivery.dead_letters,
            runnable=node.active,
            timers=len(self._timers),
        )

    @property
    def metrics(self) -> RuntimeMetrics | None:
        """The live counters (``Runtime(metrics=True)``), or ``None`` when metrics are off.

        Layers above report through it (supervisors count their restarts); read it with
        ``metrics_snapshot()``.
        """
        return self._metrics

    def metrics_snapshot(self) -> MetricsSnapshot:
        """The counters now, with every mailbox's depth and drops and the mesh's links.

        Raises:
            RuntimeError: metrics are off (start the runtime with ``metrics=True``).
        """
        metrics = self._metrics
        if metrics is None:
            raise RuntimeError("metrics are off; start the runtime with Runtime(metrics=True)")
        processes = list(self._node.processes.values())
        depths = [len(p.mailbox.queue) for p in processes]
        dropped = dict(metrics.dropped)
        for reason, count in (
            ("dead_letter", self._delivery.dead_letters),
            ("overflow", metrics.exited_dropped + sum(p.mailbox.dropped for p in processes)),
            ("refused", metrics.exited_refused + sum(p.mailbox.refused for p in processes)),
        ):
            dropped[reason] = dropped.get(reason, 0) + count
        links: tuple[tuple[int, int, int, str, int, int, float], ...] = ()
        if self._mesh_transport is not None:
            links = tuple(
                (link.chip, link.x, link.y, link.direction, link.noc, link.bytes, link.utilisation)
                for link in self._mesh_transport.statistics().links
                if link.packets
            )
        node = self._node
        return MetricsSnapshot(
            sent=FrozenDict(metrics.sent),
            delivered=metrics.delivered,
            dropped=FrozenDict(dropped),
            calls=FrozenDict(metrics.call_histograms()),
            restarts=FrozenDict(metrics.restarts),
            escalations=FrozenDict(metrics.escalations),
            mailbox_depth=FrozenDict(
                {str(p.name): depth for p, depth in zip(processes, depths) if p.name is not None}
            ),
            mailbox_total=sum(depths),
            mailbox_max=max(depths, default=0),
            processes=len(processes),
            spawned=node.spawned,
            exited=node.exited,
            crashed=node.crashed,
            links=links,
        )

    def now(self) -> float:
        """The loop's time: virtual seconds under the virtual clock."""
        return self._node.loop.time()

    def make_ref(self) -> Ref:
        """A new reference, unique within this runtime."""
        return self._node.make_ref()

    def pending_calls(self) -> list[Caller]:
        """Every call still waiting for its reply, in process order, then call order (a snapshot;
        ``Caller.describe()`` says who waits on whom). Invariant checks read it after a fault."""
        return [caller for caller in self._node.pending_calls() if caller.waiting]

    def record_event(self, kind: str, *fields: Any) -> None:
        """Add an event to the trace (fault plans record each fault they inject and its target);
        nothing happens without ``trace=True``. Fields are rendered with ``repr``, so give
        values whose reprs are stable from run to run (pids, names, numbers)."""
        trace = self._node.trace
        if trace is not None:
            trace.record(kind, *fields)

    def trace_digest(self) -> str:
        """The hash of the event trace so far (needs ``trace=True``)."""
        return self._trace().digest()

    def trace_events(self) -> list[str]:
        """The recorded events, as text (needs ``trace=True``)."""
        return list(self._trace().events)

    def _trace(self) -> Trace:
        if self._node.trace is None:
            raise RuntimeError("start the runtime with trace=True to record a trace")
        return self._node.trace

    async def wait_idle(self) -> None:
        """Wait until no process has work and nothing is in flight: every mailbox handled,
        every burst finished, every message on the mesh arrived."""
        while True:
            await self._node.wait_idle()
            transport = self._delivery.transport
            arrival = transport.next_arrival() if transport is not None else None
            if arrival is None:
                return
            await asyncio.sleep(max(0.0, arrival - self._node.loop.time()))


async def _complete(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to the end even if the caller is cancelled; then re-raise the cancellation.

    Shutdown must finish: a cancelled shutdown would leave processes and tasks running and a
    trapping actor's ``terminate`` unrun. An anyio cancel scope cancels its tasks again at every
    turn of the loop until they leave it, which would keep the loop busy for the whole shutdown
    (and freeze virtual time, so a ``terminate`` that sleeps would never wake): the wait sits in
    a shielded anyio scope. asyncio's own cancellations (``asyncio.timeout``, ``Task.cancel``)
    pass through anyio's shield, so the wait is on ``asyncio.shield`` and retried until the
    work is done.
    """
    task = asyncio.ensure_future(work)
    cancelled = False
    with anyio.CancelScope(shield=True):
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()
