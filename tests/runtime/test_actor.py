"""The Actor behaviour: callbacks sync and async, Continue, Stop, terminate, defaults."""

import asyncio

import pytest
from neural_actors.runtime import Actor, ActorExited, Ignore, Runtime, StartFailed, StartIgnored, Stop

from .helpers import Continuing, Get, Recorder


class Terminating(Actor):
    """Records its terminate reason in a list passed at start."""

    def init(self, log: list, trap: bool = False) -> None:
        self.log = log
        self.trap_exit = trap

    def handle_call(self, msg, caller):
        if msg == "stop":
            raise Stop("normal", reply="bye")
        raise RuntimeError("crash")

    def terminate(self, reason):
        self.log.append(reason)


@pytest.mark.asyncio
async def test_continue_runs_before_any_message(actor_runtime: Runtime) -> None:
    """``Continue`` from init runs ``handle_continue`` before the first call."""
    pid = actor_runtime.spawn(Continuing)

    assert ("init", "load") == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_stop_replies_then_terminates_normally(actor_runtime: Runtime) -> None:
    """``Stop(reply=...)`` answers the caller, runs terminate and exits with the reason."""
    log: list = []
    pid = await actor_runtime.start(Terminating, log)

    assert "bye" == await actor_runtime.call(pid, "stop")
    await actor_runtime.wait_idle()
    assert not actor_runtime.is_alive(pid)
    assert ["normal"] == log


@pytest.mark.asyncio
async def test_crash_runs_terminate_with_the_exception(actor_runtime: Runtime, log_events: list) -> None:
    """A crash in a handler runs terminate, logs a crash report with the traceback, and exits."""
    log: list = []
    pid = await actor_runtime.start(Terminating, log)

    with pytest.raises(ActorExited):
        await actor_runtime.call(pid, "boom")

    assert isinstance(log[0], RuntimeError)
    report = next(e for e in log_events if e["event"] == "crash_report")
    assert ("RuntimeError: crash", repr(pid)) == (report["reason"], report["pid"])
    assert isinstance(report["exc_info"], RuntimeError)


@pytest.mark.asyncio
async def test_exit_signal_from_parent_runs_terminate_when_trapping(actor_runtime: Runtime) -> None:
    """A trapping process told to shut down by its parent terminates with that reason."""
    log: list = []
    pid = await actor_runtime.start(Terminating, log, True)

    assert "shutdown" == await actor_runtime.stop(pid)
    assert ["shutdown"] == log


@pytest.mark.asyncio
async def test_killed_process_does_not_run_terminate(actor_runtime: Runtime) -> None:
    """An untrapped exit signal ends the process without terminate."""
    log: list = []
    pid = await actor_runtime.start(Terminating, log)
    actor_runtime.exit(pid, "shutdown")

    assert "shutdown" == await actor_runtime.wait_exit(pid)
    assert [] == log


@pytest.mark.asyncio
async def test_start_raises_start_failed_when_init_crashes(actor_runtime: Runtime) -> None:
    """``start`` raises ``StartFailed`` naming the actor and the reason; terminate does not run."""

    class Broken(Terminating):
        def init(self, log: list) -> None:
            self.log = log
            raise ValueError("no weights")

    log: list = []
    with pytest.raises(StartFailed, match="Broken failed to start: ValueError: no weights"):
        await actor_runtime.start(Broken, log)
    assert [] == log


@pytest.mark.asyncio
async def test_async_callbacks_may_await(actor_runtime: Runtime) -> None:
    """Async init and handlers run in order and may await."""

    class Slow(Actor):
        async def init(self) -> None:
            await asyncio.sleep(1)
            self.ready_at = self.runtime.now()

        async def handle_call(self, msg, caller):
            await asyncio.sleep(msg)
            return self.ready_at

    pid = await actor_runtime.start(Slow)

    assert 1.0 == await actor_runtime.call(pid, 2)
    assert 3.0 == actor_runtime.now()


@pytest.mark.asyncio
async def test_default_handle_info_logs_and_ignores(actor_runtime: Runtime, log_events: list) -> None:
    """A stray message to an actor without ``handle_info`` is logged, not fatal."""

    class Quiet(Actor):
        def handle_call(self, msg, caller):
            return "alive"

    pid = actor_runtime.spawn(Quiet)
    actor_runtime.send(pid, "stray")

    assert "alive" == await actor_runtime.call(pid, "ping")
    assert ["'stray'"] == [e["message"] for e in log_events if e["event"] == "unexpected_message"]


@pytest.mark.asyncio
async def test_missing_handle_cast_crashes_with_a_clear_reason(actor_runtime: Runtime) -> None:
    """A cast to an actor without ``handle_cast`` is a crash that says so."""

    class NoCasts(Actor):
        pass

    pid = actor_runtime.spawn(NoCasts)
    actor_runtime.cast(pid, "x")

    reason = await actor_runtime.wait_exit(pid)
    assert "NoCasts got cast 'x' but defines no handle_cast" == str(reason)


@pytest.mark.asyncio
async def test_init_without_override_refuses_arguments(actor_runtime: Runtime) -> None:
    """Passing arguments to an actor whose init takes none fails to start, saying why."""

    class Plain(Actor):
        pass

    with pytest.raises(StartFailed, match=r"Plain.init\(\) takes no arguments; override init\(\)"):
        await actor_runtime.start(Plain, 1)


@pytest.mark.asyncio
async def test_casts_to_one_actor_are_handled_in_order(actor_runtime: Runtime) -> None:
    """More casts than one turn's budget are all handled, in order."""
    pid = actor_runtime.spawn(Recorder)
    for n in range(1000):
        actor_runtime.cast(pid, n)

    assert tuple(range(1000)) == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_a_mutable_stop_reason_becomes_a_type_error(actor_runtime: Runtime) -> None:
    """Links and monitors share an exit reason, so a list as ``Stop``'s reason is refused: the
    process exits with the ``TypeError`` naming it instead."""

    class Stopping(Actor):
        def handle_cast(self, msg):
            raise Stop(["not", "shared"])

    pid = actor_runtime.spawn(Stopping)
    actor_runtime.cast(pid, "go")

    reason = await actor_runtime.wait_exit(pid)

    assert "Stop.reason: list is mutable; use a tuple or freeze()" == str(reason)


@pytest.mark.asyncio
async def test_a_mutable_exit_reason_is_refused_at_send(actor_runtime: Runtime) -> None:
    """``exit(pid, reason)`` refuses a mutable reason before signalling anyone."""
    pid = actor_runtime.spawn(Recorder)

    with pytest.raises(TypeError, match="exit reason: dict is mutable"):
        actor_runtime.exit(pid, {"why": "mutable"})
    assert actor_runtime.is_alive(pid)


class Quiet(Actor):
    """Counts idle timeouts; any message starts the silence again."""

    idle_timeout = 2.0

    def init(self) -> None:
        self.timeouts: list = []

    def handle_cast(self, msg):
        if msg == "stop_waiting":
            self.idle_timeout = None

    def handle_timeout(self):
        self.timeouts.append(self.runtime.now())

    def handle_call(self, msg, caller):
        return tuple(self.timeouts)


@pytest.mark.asyncio
async def test_idle_timeout_runs_after_silence_and_restarts_with_each_message(actor_runtime: Runtime) -> None:
    """gen_server's timeout: ``handle_timeout`` after ``idle_timeout`` s without a message."""
    pid = actor_runtime.spawn(Quiet)
    await asyncio.sleep(1.5)
    actor_runtime.cast(pid, "poke")  # at 1.5: the silence starts again
    await asyncio.sleep(4.5)  # timeouts at 3.5 and 5.5
    actor_runtime.cast(pid, "stop_waiting")  # at 6.0
    await asyncio.sleep(10)

    assert (3.5, 5.5) == await actor_runtime.call(pid, Get())


class Secretive(Actor):
    def init(self) -> None:
        self.count = 3
        self.password = "hunter2"
        self.buffer = [1, 2]

    def format_status(self, state):
        return {**state, "password": "***"}


@pytest.mark.asyncio
async def test_get_state_shows_a_snapshot_through_format_status(actor_runtime: Runtime) -> None:
    """``sys:get_state``: immutable values as they are, others by repr, secrets hidden."""
    pid = actor_runtime.spawn(Secretive)

    state = await actor_runtime.get_state(pid)
    status = await actor_runtime.get_status(pid)

    assert {"count": 3, "password": "***", "buffer": "[1, 2]"} == dict(state)
    assert (pid, "idle", state) == (status.info.pid, status.info.state, status.state)


class SlowStart(Actor):
    async def init(self) -> None:
        await asyncio.sleep(60)


@pytest.mark.asyncio
async def test_start_timeout_kills_a_slow_init_and_says_so(actor_runtime: Runtime) -> None:
    """``start(..., timeout=T)``: past T the process is killed and the start fails ``timeout``."""
    with pytest.raises(StartFailed, match="SlowStart failed to start: timeout"):
        await actor_runtime.start(SlowStart, timeout=5)

    assert 5 == actor_runtime.now()
    await actor_runtime.wait_idle()
    assert [] == actor_runtime.processes()


class Declining(Actor):
    def init(self) -> Ignore:
        return Ignore()


@pytest.mark.asyncio
async def test_init_returning_ignore_exits_normally_and_start_says_so(actor_runtime: Runtime) -> None:
    """OTP's ``ignore``: the process exits ``normal``; ``start`` raises ``StartIgnored``."""
    with pytest.raises(StartIgnored, match="Declining declined to start"):
        await actor_runtime.start(Declining)

    assert [] == actor_runtime.processes()
