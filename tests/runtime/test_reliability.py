"""Failure paths of the runtime: every way a process can end ends it once, cleanly, and is heard.

Each test names a hazard: a burst task cancelled before its first step, callbacks raising
``BaseException``, crash reports that fail, calls and waits into full mailboxes, bad arguments,
cancellation from outside, group dispatch into full mailboxes, replay under another
``PYTHONHASHSEED``, context variables, and link bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import os
import subprocess
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import structlog
from neural_actors.runtime import (
    Actor,
    ActorExited,
    CallTimeout,
    Deadlock,
    Dispatched,
    Down,
    MailboxPolicy,
    NoReply,
    Runtime,
    RuntimeClosed,
    Stop,
    VirtualEventLoop,
    format_reason,
    message,
    run,
)

from .helpers import Crash, Get, Recorder

ROOT = Path(__file__).resolve().parents[2]


@message
class Boom:
    """Makes a ``Victim`` raise in the callback that receives it."""


@message
class Question:
    """A call a ``Victim`` or ``Holder`` keeps unanswered: a call left pending."""


@message
class Unprintable:
    """A message whose ``repr`` raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr today")


class UnprintableError(Exception):
    """An exception whose ``str`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str today")


class Watcher(Actor):
    """Monitors the pid or name it is told of; records every info message (``Down``, ``Exit``)."""

    def init(self) -> None:
        self.seen: list[Any] = []

    def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("monitor", target):
                pid = target if not isinstance(target, str) else self.runtime.whereis(target)
                self.seen.append(("ref", self.monitor(pid)))
            case ("link", pid):
                self.link(pid)
            case ("unlink", pid):
                self.unlink(pid)
            case ("demonitor", ref):
                self.demonitor(ref)

    def handle_info(self, msg: Any) -> None:
        self.seen.append(msg)

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return tuple(self.seen)


class AsyncRecorder(Recorder):
    """A ``Recorder`` that takes a checkpoint in each cast, so it runs as an async actor."""

    async def handle_cast(self, msg: Any) -> None:
        await asyncio.sleep(0)
        super().handle_cast(msg)


def run_virtual(main: Callable[[], Coroutine[Any, Any, Any]], deadlock_after: float = 0.5) -> Any:
    """Run ``main()`` on a fresh virtual loop that raises ``Deadlock`` after a short grace."""
    with asyncio.Runner(loop_factory=lambda: VirtualEventLoop(deadlock_after=deadlock_after)) as runner:
        return runner.run(main())


def monitored_then_down(seen: tuple, pid: Any, reason: Any) -> tuple:
    """What a ``Watcher`` that monitored ``pid`` once records when ``pid`` exits with ``reason``."""
    ref = seen[0][1] if seen and seen[0][0] == "ref" else None
    return (("ref", ref), Down(ref, pid, reason))


# A burst task cancelled before its first step ---------------------------------------------------


class Burst(Actor):
    """An async actor that notes each cast it handles in a list it was given."""

    def init(self, handled: list) -> None:
        self.handled = handled

    async def handle_cast(self, msg: Any) -> None:
        self.handled.append(msg)
        await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_async_actor_whose_burst_is_cancelled_before_its_first_step_by_a_linked_crash_exits() -> None:
    """The linked crash is its exit reason: its name is freed, its monitor told, shutdown completes."""
    handled: list = []
    async with Runtime(clock="virtual") as rt:
        a = rt.spawn(Burst, handled, name="a")
        c = rt.spawn(Recorder, link=a)
        watcher = rt.spawn(Watcher)
        rt.cast(watcher, ("monitor", a))
        await rt.wait_idle()
        rt.cast(a, "work")  # a's burst task is created first in the batch ...
        rt.cast(c, Crash("c failed"))  # ... then c crashes, and its exit signal cancels that task

        reason = await rt.wait_exit(a, timeout=1)

        assert [] == handled  # the burst never ran a step
        assert isinstance(reason, ValueError)
        assert "c failed" == str(reason)
        assert rt.whereis("a") is None
        seen = await rt.call(watcher, Get())
        assert monitored_then_down(seen, a, reason) == seen
        assert [watcher] == rt.processes()
        assert "noproc" == await rt.stop(a)
        assert 0 == rt.statistics().runnable

    assert [] == rt.processes()


# Callbacks raising BaseException ---------------------------------------------------------------

SITES = ("init", "handle_call", "handle_cast", "handle_info", "terminate")
ESCAPES = (SystemExit, KeyboardInterrupt, GeneratorExit, asyncio.CancelledError)


class Victim(Actor):
    """Raises ``raises`` in the callback named ``site``; keeps calls of ``Question`` unanswered.

    With site ``terminate`` a ``Boom`` cast stops it, and its ``terminate`` raises.
    """

    def init(self, site: str, raises: type[BaseException]) -> None:
        self.site = site
        self.raises = raises
        self.held: list = []
        self._raise_in("init")

    def handle_call(self, msg: Any, caller: Any) -> Any:
        if type(msg) is Question:
            self.held.append(caller)
            return NoReply
        self._raise_in("handle_call")
        return None

    def handle_cast(self, msg: Any) -> None:
        if type(msg) is Boom:
            if self.site == "terminate":
                raise Stop("done")
            self._raise_in("handle_cast")

    def handle_info(self, msg: Any) -> None:
        if type(msg) is Boom:
            self._raise_in("handle_info")

    def terminate(self, reason: Any) -> None:
        self._raise_in("terminate")

    def _raise_in(self, site: str) -> None:
        if site == self.site:
            raise self.raises(f"raised in {site}")


class AsyncVictim(Victim):
    """The same ``Victim`` with every callback ``async``, each taking a checkpoint first."""

    async def init(self, site: str, raises: type[BaseException]) -> None:
        await asyncio.sleep(0)
        super().init(site, raises)

    async def handle_call(self, msg: Any, caller: Any) -> Any:
        await asyncio.sleep(0)
        return super().handle_call(msg, caller)

    async def handle_cast(self, msg: Any) -> None:
        await asyncio.sleep(0)
        super().handle_cast(msg)

    async def handle_info(self, msg: Any) -> None:
        await asyncio.sleep(0)
        super().handle_info(msg)

    async def terminate(self, reason: Any) -> None:
        await asyncio.sleep(0)
        super().terminate(reason)


async def escape_scenario(victim_class: type[Victim], site: str, raises: type[BaseException]) -> None:
    """One batch: a watcher, the victim, two bystanders; a call to the victim is pending."""
    async with Runtime(clock="virtual") as rt:
        watcher = rt.spawn(Watcher)
        after_async = rt.spawn(AsyncRecorder)
        after = rt.spawn(Recorder)
        await rt.wait_idle()
        if site == "init":
            # Created first, so it is queued behind the victim's init, before the batch runs.
            pending = asyncio.ensure_future(rt.call("victim", Question(), timeout=None))
            rt.cast(watcher, ("monitor", "victim"))
            victim = rt.spawn(victim_class, site, raises, name="victim")
        else:
            victim = rt.spawn(victim_class, site, raises, name="victim")
            await rt.wait_idle()
            pending = asyncio.ensure_future(rt.call("victim", Question(), timeout=None))
            await asyncio.sleep(0)
            rt.cast(watcher, ("monitor", "victim"))
            if site == "handle_info":
                rt.send(victim, Boom())
            elif site == "handle_call":
                rt.cast(victim, "busy")  # scheduled: the call below is queued, not run inline
            else:
                rt.cast(victim, Boom())
        rt.cast(after_async, "hello")
        rt.cast(after, "hello")
        if site == "handle_call":
            with pytest.raises(ActorExited) as trigger:
                await rt.call(victim, Boom(), timeout=None)
        await rt.wait_idle()

        with pytest.raises(ActorExited) as held:
            await pending

        reason = held.value.reason
        assert victim == held.value.pid
        assert raises is type(reason)
        assert f"raised in {site}" == str(reason)
        if site == "handle_call":
            assert reason is trigger.value.reason
        assert rt.whereis("victim") is None
        seen = await rt.call(watcher, Get())
        assert monitored_then_down(seen, victim, reason) == seen
        assert ("hello",) == await rt.call(after_async, Get())
        assert ("hello",) == await rt.call(after, Get())
        assert [watcher, after_async, after] == rt.processes()
    assert [] == rt.processes()


@pytest.mark.parametrize("raises", ESCAPES, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("victim_class", [Victim, AsyncVictim], ids=["sync", "async"])
def test_a_callback_raising_a_base_exception_ends_its_process_with_it(
    victim_class: type[Victim], site: str, raises: type[BaseException]
) -> None:
    """The exception is the exit reason, the pending call fails, the batch and the program go on."""
    try:
        run_virtual(lambda: escape_scenario(victim_class, site, raises))
    except ESCAPES as exc:
        pytest.fail(f"{exc!r} escaped the runtime")


class FastVictim(Actor):
    """A sync actor whose ``handle_call`` raises the exception type it was started with."""

    def init(self, raises: type[BaseException]) -> None:
        self.raises = raises

    def handle_call(self, msg: Any, caller: Any) -> Any:
        raise self.raises("raised on the fast path")


@pytest.mark.parametrize("raises", ESCAPES, ids=lambda kind: kind.__name__)
def test_a_base_exception_on_the_call_fast_path_fails_only_the_call(raises: type[BaseException]) -> None:
    """An idle sync target runs in the caller's stack; what it raises still only ends the target."""

    async def main() -> None:
        async with Runtime(clock="virtual") as rt:
            pid = rt.spawn(FastVictim, raises)
            await rt.wait_idle()

            with pytest.raises(ActorExited) as info:
                await rt.call(pid, Question())

            assert raises is type(info.value.reason)
            assert not rt.is_alive(pid)

    try:
        run_virtual(main)
    except ESCAPES as exc:
        pytest.fail(f"{exc!r} escaped the runtime")


# Crash reports that fail -----------------------------------------------------------------------


class Fragile(Actor):
    """Raises an exception whose ``str`` raises, on any call."""

    def handle_call(self, msg: Any, caller: Any) -> Any:
        raise UnprintableError()


class AsyncFragile(Actor):
    """``Fragile``, as an async actor."""

    async def handle_call(self, msg: Any, caller: Any) -> Any:
        await asyncio.sleep(0)
        raise UnprintableError()


#: What still fails with ``trace=True``: the trace renders with ``repr`` and ``str``, which raise.


@pytest.mark.parametrize(
    "trace",
    [False, True],
    ids=["untraced", "traced"],
)
@pytest.mark.parametrize("actor", [Fragile, AsyncFragile], ids=["sync", "async"])
@pytest.mark.asyncio
async def test_a_crash_whose_exception_cannot_be_printed_still_ends_the_process(
    actor: type[Actor], trace: bool, log_events: list
) -> None:
    """The report names the type; the caller, the monitor, the registry and the trace all hear of it."""
    async with Runtime(clock="virtual", trace=trace) as rt:
        pid = rt.spawn(actor, name="fragile")
        watcher = rt.spawn(Watcher)
        rt.cast(watcher, ("monitor", pid))
        await rt.wait_idle()

        with pytest.raises(ActorExited) as info:
            await rt.call(pid, Question())

        assert f"{pid!r} exited: <UnprintableError>" == str(info.value)
        seen = await rt.call(watcher, Get())
        assert monitored_then_down(seen, pid, info.value.reason) == seen
        assert rt.whereis("fragile") is None
        assert 1 == rt.statistics().crashed
        assert [] == [e for e in log_events if e["event"] == "internal_error"]
        if trace:
            assert any(event.split()[1:3] == ["exit", repr(pid)] for event in rt.trace_events())
    assert [] == rt.processes()


class BrokenPipeLogger:
    """A structlog sink whose every write fails, as a closed pipe does; notes what it was given."""

    def __init__(self, attempts: list[str]) -> None:
        self.attempts = attempts

    def msg(self, message: str) -> None:
        self.attempts.append(message)
        raise BrokenPipeError(32, "Broken pipe")

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


@pytest.fixture
def broken_log_sink() -> Iterator[list[str]]:
    """structlog writing into a broken pipe, for the test; yields the lines it tried to write."""
    saved = structlog.get_config()
    attempts: list[str] = []
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
        logger_factory=lambda *args: BrokenPipeLogger(attempts),
        cache_logger_on_first_use=False,
    )
    try:
        yield attempts
    finally:
        structlog.configure(**saved)


@pytest.mark.asyncio
async def test_a_log_sink_that_fails_on_every_write_changes_nothing(broken_log_sink: list[str]) -> None:
    """Crashes, drops and stray messages are reported into a broken pipe; every actor still ends cleanly."""
    async with Runtime(clock="virtual", log_level="debug") as rt:
        crasher = rt.spawn(Recorder)
        async_crasher = rt.spawn(AsyncFragile)
        dropper = rt.spawn(Recorder, mailbox=MailboxPolicy(capacity=1, overflow="drop_newest"))
        evicter = rt.spawn(Recorder, mailbox=MailboxPolicy(capacity=1, overflow="drop_oldest"))
        bare = rt.spawn(Actor)
        watcher = rt.spawn(Watcher)
        rt.cast(watcher, ("monitor", crasher))
        await rt.wait_idle()

        rt.cast(dropper, 1)
        rt.cast(dropper, 2)  # dropped, and the drop is logged
        rt.cast(evicter, 1)
        rt.cast(evicter, 2)  # evicts 1, and the drop is logged
        rt.send(bare, "stray")  # the default handle_info logs it
        rt.send_after(1.0, dropper, "timer")
        with pytest.raises(ActorExited) as sync_crash:
            await rt.call(crasher, Crash("logged into a broken pipe"))
        with pytest.raises(ActorExited) as async_crash:
            await rt.call(async_crasher, Question())
        await asyncio.sleep(2)

        assert "logged into a broken pipe" == str(sync_crash.value.reason)
        assert isinstance(async_crash.value.reason, UnprintableError)
        assert (1, "timer") == await rt.call(dropper, Get())
        assert (2,) == await rt.call(evicter, Get())
        assert 1 == rt.process_info(dropper).mailbox.dropped
        assert 1 == rt.process_info(evicter).mailbox.dropped
        seen = await rt.call(watcher, Get())
        assert monitored_then_down(seen, crasher, sync_crash.value.reason) == seen
        assert [dropper, evicter, bare, watcher] == rt.processes()
    assert [] == rt.processes()
    tried = {line.split()[0] for line in broken_log_sink}
    assert {"event='crash_report'", "event='mailbox_overflow'", "event='unexpected_message'"} <= tried


@pytest.mark.asyncio
async def test_an_unprintable_stray_message_is_logged_by_type_and_ignored(log_events: list) -> None:
    """The default ``handle_info`` names a message whose ``repr`` raises by its type, and carries on."""
    async with Runtime(clock="virtual") as rt:
        pid = rt.spawn(Actor)
        rt.send(pid, Unprintable())
        await rt.wait_idle()

        assert rt.is_alive(pid)
        assert ["<Unprintable>"] == [e["message"] for e in log_events if e["event"] == "unexpected_message"]


@pytest.mark.asyncio
async def test_a_traced_cast_of_an_unprintable_message_delivers_it_and_returns() -> None:
    """With ``trace=True`` the trace names the message by its type; cast neither raises nor strands it."""
    async with Runtime(clock="virtual", trace=True) as rt:
        pid = rt.spawn(Recorder)
        await rt.wait_idle()
        msg = Unprintable()

        rt.cast(pid, msg)
        await rt.wait_idle()

        assert (msg,) == await rt.call(pid, Get())
        assert any(" Unprintable" in event for event in rt.trace_events() if " send " in event)


# Full mailboxes: timeouts and deadlocks --------------------------------------------------------


class Sleepy(Actor):
    """Sleeps as many seconds as each cast says: its mailbox fills meanwhile."""

    async def handle_cast(self, msg: Any) -> None:
        await asyncio.sleep(msg)

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return msg


@pytest.mark.asyncio
async def test_a_call_into_a_full_backpressure_mailbox_times_out_after_its_whole_timeout() -> None:
    """The timeout covers the wait for room: ``CallTimeout`` at 0.5 virtual s, not after the room came."""
    async with Runtime(clock="virtual") as rt:
        pid = rt.spawn(Sleepy, mailbox=MailboxPolicy(capacity=1, overflow="backpressure"))
        rt.cast(pid, 100.0)
        await asyncio.sleep(0.1)
        rt.cast(pid, 100.0)  # queued behind the sleep: the mailbox is full
        start = rt.now()

        with pytest.raises(CallTimeout) as info:
            await rt.call(pid, "hello", timeout=0.5)

        assert 0.5 == rt.now() - start
        assert f"no reply from {pid!r} to str within 0.5 s" == str(info.value)
        assert 1 == rt.process_info(pid).mailbox.depth


class Relay(Actor):
    """On ``go`` sends two casts to its peer with ``cast_wait``: it waits while the peer is full."""

    def init(self) -> None:
        self.peer = None

    async def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("peer", pid):
                self.peer = pid
            case "go":
                for n in range(2):
                    await self.runtime.cast_wait(self.peer, n)


def test_two_actors_waiting_for_room_in_each_others_full_mailbox_raise_deadlock() -> None:
    """The virtual clock reports the deadlock, naming both waiting processes, instead of hanging."""
    pids: list = []

    async def main() -> None:
        async with Runtime(clock="virtual") as rt:
            a = rt.spawn(Relay, mailbox=MailboxPolicy(capacity=1))
            b = rt.spawn(Relay, mailbox=MailboxPolicy(capacity=1))
            pids.extend((a, b))
            rt.cast(a, ("peer", b))
            rt.cast(b, ("peer", a))
            await rt.wait_idle()
            rt.cast(a, "go")
            rt.cast(b, "go")
            await rt.wait_idle()

    with pytest.raises(Deadlock) as info:
        run_virtual(main, deadlock_after=0.1)

    bursts = [line for line in info.value.waits if "Process._run_async" in line]
    named = [line.split(" waits")[0] for line in bursts]
    assert [f"task '{pid!r}' (Process._run_async)" for pid in pids] == named


# Linked to the dead at spawn -------------------------------------------------------------------


@pytest.mark.parametrize("actor", [Recorder, AsyncRecorder], ids=["sync", "async"])
@pytest.mark.asyncio
async def test_spawn_linked_to_a_dead_pid_schedules_the_process_once(actor: type[Actor]) -> None:
    """It exits with ``noproc`` at its first turn; nothing stays runnable and ``wait_idle`` returns."""
    async with Runtime(clock="virtual", trace=True) as rt:
        dead = rt.spawn(Recorder)
        await rt.stop(dead)

        pid = rt.spawn(actor, link=dead)
        async with asyncio.timeout(1):
            await rt.wait_idle()

        assert 0 == rt.statistics().runnable
        assert [] == rt.processes()
        events = [event.split(" ", 1)[1] for event in rt.trace_events() if f" {pid!r}" in event]
        assert [f"spawn {pid!r} '{actor.__name__}'", f"exit {pid!r} 'noproc'"] == events


# Bad arguments are refused before anything happens ---------------------------------------------


class Clocked(Actor):
    """Records each call and info message with the virtual time it arrived at."""

    def init(self) -> None:
        self.seen: list = []

    def handle_info(self, msg: Any) -> None:
        self.seen.append((msg, self.runtime.now()))

    def handle_call(self, msg: Any, caller: Any) -> Any:
        if type(msg) is Get:
            return tuple(self.seen)
        self.seen.append((msg, self.runtime.now()))
        return msg


class Asker(Actor):
    """Calls the pid it is cast with the timeout it was started with; records what that raised."""

    def init(self, timeout: Any) -> None:
        self.timeout = timeout
        self.errors: list = []

    async def handle_cast(self, target: Any) -> None:
        try:
            await self.call(target, "hello", timeout=self.timeout)
        except (TypeError, ValueError) as error:
            self.errors.append(str(error))

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return tuple(self.errors)


async def clocked_target(rt: Runtime) -> Any:
    """A ``Clocked`` process with a timer due at 1.0 virtual s, whose init has run."""
    pid = rt.spawn(Clocked)
    rt.send_after(1.0, pid, "tick")
    await rt.wait_idle()
    return pid


async def assert_untouched_and_on_time(rt: Runtime, pid: Any) -> None:
    """``pid`` got nothing but its timer, which fired at exactly 1.0 virtual s."""
    await asyncio.sleep(2)
    assert (("tick", 1.0),) == await rt.call(pid, Get())


NOT_SECONDS = [
    (math.nan, ValueError, "timeout must be finite seconds >= 0 (got nan)"),
    (-1, ValueError, "timeout must be finite seconds >= 0 (got -1)"),
    ("5", TypeError, "timeout must be seconds (a number) or None (got '5', a str)"),
]


@pytest.mark.parametrize(("timeout", "error", "text"), NOT_SECONDS, ids=["nan", "negative", "str"])
@pytest.mark.asyncio
async def test_a_call_or_wait_with_a_bad_timeout_is_refused_before_anything_is_queued(
    timeout: Any, error: type[Exception], text: str
) -> None:
    """``call`` (from the runtime or an actor) and ``wait_exit`` refuse; nothing reaches the target."""
    async with Runtime(clock="virtual") as rt:
        pid = await clocked_target(rt)
        asker = rt.spawn(Asker, timeout)

        with pytest.raises(error) as called:
            await rt.call(pid, "hello", timeout=timeout)
        with pytest.raises(error) as waited:
            await rt.wait_exit(pid, timeout=timeout)
        rt.cast(asker, pid)
        await rt.wait_idle()

        assert text == str(called.value)
        assert text == str(waited.value)
        assert (text,) == await rt.call(asker, Get())
        await assert_untouched_and_on_time(rt, pid)


@pytest.mark.parametrize("delay", [math.nan, math.inf], ids=["nan", "inf"])
@pytest.mark.asyncio
async def test_send_after_with_a_delay_that_is_not_finite_is_refused(delay: float) -> None:
    """No timer is set, so none can fire at once or corrupt the loop's timer heap."""
    async with Runtime(clock="virtual") as rt:
        pid = await clocked_target(rt)

        with pytest.raises(ValueError) as info:
            rt.send_after(delay, pid, "never")

        assert f"delay must be finite seconds >= 0 (got {delay!r})" == str(info.value)
        assert 1 == rt.statistics().timers
        await assert_untouched_and_on_time(rt, pid)


@pytest.mark.parametrize("shutdown", ["forever", math.nan, -1.0], ids=["word", "nan", "negative"])
@pytest.mark.asyncio
async def test_spawn_with_a_bad_shutdown_is_refused_before_the_process_exists(shutdown: Any) -> None:
    """No process is created, no name taken; the runtime still shuts down."""
    async with Runtime(clock="virtual") as rt:
        pid = await clocked_target(rt)

        with pytest.raises(ValueError) as info:
            rt.spawn(Recorder, name="never", shutdown=shutdown)

        expected = f"shutdown must be 'brutal_kill', 'infinity' or finite seconds >= 0 (got {shutdown!r})"
        assert expected == str(info.value)
        assert [pid] == rt.processes()
        assert 1 == rt.statistics().spawned
        assert rt.whereis("never") is None
        await assert_untouched_and_on_time(rt, pid)
    assert [] == rt.processes()


# Cancelled from outside ------------------------------------------------------------------------


class Trapper(Actor):
    """Traps exits and takes a virtual second to terminate; notes the reason in a shared list."""

    trap_exit = True

    def init(self, terminated: list) -> None:
        self.terminated = terminated

    async def terminate(self, reason: Any) -> None:
        await asyncio.sleep(1)
        self.terminated.append(reason)


async def populate(rt: Runtime, terminated: list) -> None:
    """Give ``rt`` a trapping actor, an async and a sync actor, all started."""
    rt.spawn(Trapper, terminated)
    rt.spawn(AsyncRecorder)
    rt.spawn(Recorder)
    await rt.wait_idle()


def assert_shut_down(rt: Runtime, terminated: list) -> None:
    """The trapping actor's terminate ran, no process is left, and the runtime says it stopped."""
    assert ["shutdown"] == terminated
    assert [] == rt.processes()
    assert repr(rt).endswith("stopped>")
    with pytest.raises(RuntimeClosed):
        rt.spawn(Recorder)


@pytest.mark.asyncio
async def test_a_runtime_left_through_a_cancelled_anyio_scope_shuts_down_completely() -> None:
    """Shutdown runs to the end inside the cancelled scope, terminate included."""
    terminated: list = []
    with anyio.CancelScope() as scope:
        async with Runtime(clock="virtual") as rt:
            await populate(rt, terminated)
            scope.cancel()
            await anyio.sleep(10)

    assert scope.cancelled_caught
    assert_shut_down(rt, terminated)


@pytest.mark.asyncio
async def test_a_runtime_in_a_cancelled_anyio_task_group_shuts_down_completely() -> None:
    """A task group cancelled from outside its runtime's task still gets a complete shutdown."""
    terminated: list = []
    runtimes: list = []

    async def serve() -> None:
        async with Runtime(clock="virtual") as rt:
            runtimes.append(rt)
            await populate(rt, terminated)
            await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(serve)
        await anyio.sleep(1)
        group.cancel_scope.cancel()

    assert_shut_down(runtimes[0], terminated)


@pytest.mark.asyncio
async def test_a_runtime_whose_shutdown_outlasts_an_asyncio_timeout_shuts_down_completely() -> None:
    """The timeout fires in the middle of the shutdown, which still runs to the end; then ``TimeoutError``."""
    terminated: list = []

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):  # the trapping actor's terminate takes 1 s
            async with Runtime(clock="virtual") as rt:
                await populate(rt, terminated)

    assert 1.0 == rt.now()
    assert_shut_down(rt, terminated)


# Dispatch into full mailboxes ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_dispatch_to_a_group_with_full_mailboxes_reaches_every_member_and_says_how() -> None:
    """Never raises halfway: each member is delivered, dropped or refused, in join order."""
    async with Runtime(clock="virtual") as rt:
        overflows = ["fail", "backpressure", "drop_newest", "drop_oldest"]
        first = rt.spawn(Recorder)
        full = {overflow: rt.spawn(Recorder, mailbox=MailboxPolicy(1, overflow)) for overflow in overflows}
        last = rt.spawn(Recorder)
        await rt.wait_idle()
        for pid in [first, *full.values(), last]:
            rt.join("shards", pid)
        for pid in full.values():
            rt.cast(pid, "filler")  # full now, and not run before the dispatch

        result = rt.dispatch("shards", "news")
        await rt.wait_idle()

        assert Dispatched(
            delivered=(first, full["drop_oldest"], last),
            dropped=(full["drop_newest"],),
            refused=(full["fail"], full["backpressure"]),
        ) == result
        assert ("news",) == await rt.call(first, Get())
        assert ("news",) == await rt.call(last, Get())
        assert ("news",) == await rt.call(full["drop_oldest"], Get())
        for overflow in ["fail", "backpressure", "drop_newest"]:
            assert ("filler",) == await rt.call(full[overflow], Get())


# Replay under another PYTHONHASHSEED -----------------------------------------------------------


class Holder(Actor):
    """Keeps every call unanswered; links and monitors on request; crashes on ``Crash``."""

    trap_exit = False

    def init(self, collector: Any) -> None:
        self.collector = collector

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return NoReply

    def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("link", pids):
                for pid in pids:
                    self.link(pid)
            case ("monitor", pids):
                for pid in pids:
                    self.monitor(pid)
            case Crash(reason):
                raise ValueError(reason)

    def handle_info(self, msg: Any) -> None:
        self.cast(self.collector, ("heard", self.pid, msg))


class Hub(Holder):
    """A ``Holder`` that traps exits, and tells the collector which of its pids are still alive."""

    trap_exit = True

    def init(self, collector: Any, watched: frozenset) -> None:
        super().init(collector)
        self.watched = watched

    def handle_info(self, msg: Any) -> None:
        super().handle_info(msg)
        self.watched = self.watched - {msg.pid}
        self.cast(self.collector, ("alive", self.watched))


class CallReporter(Actor):
    """Calls the target it is cast; tells the collector how the call ended."""

    def init(self, index: int, collector: Any) -> None:
        self.index = index
        self.collector = collector

    async def handle_cast(self, target: Any) -> None:
        try:
            outcome = await self.call(target, ("ask", self.index), timeout=30)
        except ActorExited as exited:
            outcome = format_reason(exited.reason)
        self.cast(self.collector, ("answer", self.index, outcome))


def seeded_trace(seed: int) -> str:
    """The trace digest of a seeded run with links, monitors, kills, pending calls and pid sets."""

    async def main() -> str:
        async with Runtime(clock="virtual", seed=seed, trace=True) as rt:
            collector = rt.spawn(Recorder)
            holders = [rt.spawn(Holder, collector) for _ in range(6)]
            hub = rt.spawn(Hub, collector, frozenset(holders))
            rt.cast(hub, ("link", tuple(holders)))
            rt.cast(hub, ("monitor", tuple(reversed(holders))))
            for holder, other in zip(holders, holders[1:] + holders[:1], strict=True):
                rt.cast(holder, ("link", (other,)))
            watchers = [rt.spawn(Holder, collector) for _ in range(3)]
            for watcher in watchers:
                rt.cast(watcher, ("monitor", tuple(holders)))
            callers = [rt.spawn(CallReporter, index, collector) for index in range(12)]
            for index, pid in enumerate(callers):
                rt.cast(pid, holders[index % 3])
            rt.cast(collector, frozenset(holders + watchers + callers))
            await asyncio.sleep(1)
            rt.exit(holders[0], "kill")
            rt.cast(holders[3], Crash("ring broken"))
            await asyncio.sleep(1)
            return rt.trace_digest()

    return run(main, clock="virtual")


def test_a_seeded_run_has_the_same_trace_under_every_hash_seed() -> None:
    """Links, monitors, kills with pending calls and pid sets replay alike in fresh interpreters."""
    script = "from tests.runtime.test_reliability import seeded_trace; print(seeded_trace(11))"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for hash_seed in ("0", "1", "2")
    ]
    digests = set()
    for child in children:
        out, err = child.communicate(timeout=60)
        assert 0 == child.returncode, err
        digests.add(out.splitlines()[-1])  # the digest follows the run's log lines

    assert {seeded_trace(11)} == digests


@pytest.mark.asyncio
async def test_the_pending_calls_of_a_killed_actor_fail_in_call_order() -> None:
    """Forty callers waiting on one process hear of its death in the order they called."""
    async with Runtime(clock="virtual") as rt:
        holder = rt.spawn(Holder, None)
        failed: list = []
        calls = []
        for index in range(40):
            call = asyncio.ensure_future(rt.call(holder, index, timeout=None))
            call.add_done_callback(lambda _, index=index: failed.append(index))
            calls.append(call)
        await rt.wait_idle()

        rt.exit(holder, "kill")
        outcomes = await asyncio.gather(*calls, return_exceptions=True)

        assert list(range(40)) == failed
        assert all(type(outcome) is ActorExited and outcome.reason == "killed" for outcome in outcomes)


# Context variables -----------------------------------------------------------------------------

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


class Setter(Actor):
    """Sets ``request_id`` in every callback; answers a call with the value it set."""

    def handle_call(self, msg: Any, caller: Any) -> Any:
        request_id.set(msg)
        return request_id.get()

    def handle_cast(self, msg: Any) -> None:
        request_id.set(msg)


class Reader(Recorder):
    """Records the ``request_id`` it sees in each cast."""

    def handle_cast(self, msg: Any) -> None:
        self.seen.append(request_id.get())


@pytest.mark.asyncio
async def test_a_context_variable_set_by_a_handler_on_the_call_fast_path_stays_in_that_turn() -> None:
    """An idle sync target runs in the caller's stack, yet the caller's context is untouched."""
    async with Runtime(clock="virtual") as rt:
        pid = rt.spawn(Setter)
        await rt.wait_idle()
        request_id.set("caller")

        assert "handler" == await rt.call(pid, "handler")

        assert "caller" == request_id.get()


@pytest.mark.asyncio
async def test_a_context_variable_set_by_a_handler_in_a_batch_reaches_neither_caller_nor_batch() -> None:
    """On the normal path the next process of the same batch does not see it either."""
    async with Runtime(clock="virtual") as rt:
        setter = rt.spawn(Setter)
        reader = rt.spawn(Reader)
        await rt.wait_idle()
        request_id.set("caller")
        rt.cast(setter, "leaked")  # one batch: the setter, then the reader
        rt.cast(reader, "look")

        assert "handler" == await rt.call(setter, "handler")

        assert "caller" == request_id.get()
        assert ("unset",) == await rt.call(reader, Get())


# Link bookkeeping ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_process_info_lists_links_in_link_order_and_counts_monitors() -> None:
    """``links`` is a tuple in link order; ``monitors`` follows monitors coming and going."""
    async with Runtime(clock="virtual") as rt:
        hub = rt.spawn(Watcher)
        a, b, c = (rt.spawn(Recorder) for _ in range(3))
        watchers = [rt.spawn(Watcher) for _ in range(3)]
        for pid in (c, a, b):
            rt.cast(hub, ("link", pid))
        for watcher in watchers:
            rt.cast(watcher, ("monitor", hub))
        await rt.wait_idle()

        info = rt.process_info(hub)
        assert (c, a, b) == info.links
        assert 3 == info.monitors

        rt.cast(hub, ("unlink", a))
        ref = (await rt.call(watchers[0], Get()))[0][1]
        rt.cast(watchers[0], ("demonitor", ref))
        await rt.stop(watchers[1])
        await rt.wait_idle()

        info = rt.process_info(hub)
        assert (c, b) == info.links
        assert 1 == info.monitors
        assert (hub,) == rt.process_info(c).links
