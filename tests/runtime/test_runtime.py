"""The Runtime's lifetime: embedding, shutdown order and timeouts, sync use, snapshots."""

import asyncio

import pytest
from neural_actors.runtime import Actor, Runtime, RuntimeClosed, run

import neural_actors as na

from .helpers import Crash, Get, Recorder


class Stubborn(Actor):
    """Traps exits and takes ``delay`` seconds to terminate; logs its stop to a shared list."""

    trap_exit = True

    def init(self, name: str, log: list, delay: float = 0.0) -> None:
        self.name = name
        self.log = log
        self.delay = delay

    async def terminate(self, reason):
        await asyncio.sleep(self.delay)
        self.log.append((self.name, reason))


@pytest.mark.asyncio
async def test_leaving_the_block_stops_processes_in_reverse_start_order() -> None:
    """Top-level processes stop last-started first, each running terminate."""
    log: list = []
    async with Runtime(clock="virtual") as rt:
        for name in "abc":
            rt.spawn(Stubborn, name, log)
        await rt.wait_idle()

    assert [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")] == log
    assert [] == rt.processes()


@pytest.mark.asyncio
async def test_shutdown_timeout_then_kill() -> None:
    """A process slower than its shutdown timeout is killed after exactly that timeout."""
    log: list = []
    async with Runtime(clock="virtual") as rt:
        slow = rt.spawn(Stubborn, "slow", log, 60.0, shutdown=2.0)
        rt.spawn(Stubborn, "quick", log, 0.5)
        await rt.wait_idle()
        start = rt.now()

    assert [("quick", "shutdown")] == log
    assert 2.5 == rt.now() - start
    assert not rt.is_alive(slow)


@pytest.mark.asyncio
async def test_unlinked_children_of_actors_are_killed_at_the_end() -> None:
    """Whatever the top-level shutdown leaves alive is killed: nothing keeps running."""

    class Parent(Actor):
        def init(self) -> None:
            self.runtime.spawn(Recorder)  # not linked: an orphan at shutdown

    async with Runtime(clock="virtual") as rt:
        rt.spawn(Parent)
        await rt.wait_idle()
        assert 2 == len(rt.processes())

    assert 0 == rt.statistics().processes


@pytest.mark.asyncio
async def test_a_crashing_actor_never_takes_the_runtime_down(actor_runtime: Runtime) -> None:
    """After a crash the runtime and the other actors go on."""
    survivor = actor_runtime.spawn(Recorder)
    victim = actor_runtime.spawn(Recorder)
    actor_runtime.cast(victim, Crash())
    actor_runtime.cast(survivor, 1)
    await actor_runtime.wait_idle()

    assert (1,) == await actor_runtime.call(survivor, Get())
    assert (1, 1) == (actor_runtime.statistics().crashed, actor_runtime.statistics().exited)


@pytest.mark.asyncio
async def test_spawn_and_exit_events_are_logged_at_debug(log_events: list) -> None:
    """With ``log_level='debug'`` every spawn and exit is an event with its reason."""
    async with Runtime(clock="virtual", log_level="debug") as rt:
        pid = rt.spawn(Recorder)
        await rt.wait_idle()
        await rt.stop(pid)

    events = [(e["event"], e.get("reason")) for e in log_events if e.get("pid") == repr(pid)]
    assert [("spawn", None), ("started", None), ("exit", "shutdown")] == events


@pytest.mark.asyncio
async def test_process_info_and_statistics_are_snapshots(actor_runtime: Runtime) -> None:
    """``process_info`` reports state, links and mailbox; dead pids give ``None``."""
    pid = actor_runtime.spawn(Recorder, name="r")
    actor_runtime.cast(pid, 1)
    info = actor_runtime.process_info(pid)
    await actor_runtime.stop(pid)

    assert ("Recorder", "r", "scheduled", 1) == (info.actor, info.name, info.state, info.mailbox.depth)
    assert actor_runtime.process_info(pid) is None
    assert "<0.0.1>" == repr(pid)


@pytest.mark.asyncio
async def test_spawn_outside_a_running_runtime_is_refused() -> None:
    """Using a runtime that is not running says how to start it."""
    with pytest.raises(RuntimeClosed, match=r"use 'async with Runtime\(\) as rt'"):
        Runtime().spawn(Recorder)


@pytest.mark.asyncio
async def test_virtual_clock_needs_a_virtual_loop() -> None:
    """``clock='virtual'`` on a real loop is refused with the fix."""
    import concurrent.futures

    def real_loop() -> None:
        async def main() -> None:
            async with Runtime(clock="virtual"):
                pass

        asyncio.run(main())

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(RuntimeError, match=r"neural_actors.run\(main, clock='virtual'\)"):
            pool.submit(real_loop).result()


def test_blocking_runtime_serves_sync_code() -> None:
    """``Runtime.blocking()`` runs the runtime on a loop thread for sync callers."""
    with Runtime.blocking(clock="virtual") as rt:
        pid = rt.spawn(Recorder, name="r")
        rt.cast("r", 1)
        answer = rt.call(pid, Get())
        reason = rt.stop(pid)

    assert ((1,), "shutdown") == (answer, reason)


def test_run_uses_the_virtual_clock() -> None:
    """``run(main, clock='virtual')`` sleeps an hour instantly."""

    async def main() -> float:
        await asyncio.sleep(3600)
        return asyncio.get_running_loop().time()

    assert 3600.0 == run(main, clock="virtual")
    assert run is na.run


@pytest.mark.asyncio
async def test_internal_error_ends_only_the_process_it_hit(
    actor_runtime: Runtime, log_events: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside the runtime is reported as such, and the rest of the batch still runs."""
    from neural_actors.runtime.process import Process

    victim = actor_runtime.spawn(Recorder)
    bystander = actor_runtime.spawn(Recorder)
    await actor_runtime.wait_idle()
    run_sync = Process._run_sync

    def buggy(process: Process) -> None:  # stands in for a bug in the runtime
        if process.pid == victim:
            raise ZeroDivisionError("bug")
        run_sync(process)

    monkeypatch.setattr(Process, "_run_sync", buggy)
    actor_runtime.cast(victim, 1)
    actor_runtime.cast(bystander, 2)

    assert (2,) == await actor_runtime.call(bystander, Get())
    assert not actor_runtime.is_alive(victim)
    assert ["internal error in neural-actors - please report it"] == [
        e["hint"] for e in log_events if e["event"] == "internal_error"
    ]


@pytest.mark.asyncio
async def test_registered_names_and_groups_are_snapshots_without_the_dead(actor_runtime: Runtime) -> None:
    """``registered()`` and ``groups()`` list live entries in order; an exit removes its own."""
    rt = actor_runtime
    a = rt.spawn(Recorder, name="a")
    b = rt.spawn(Recorder, name="b")
    rt.join("g", b)
    rt.join("g", a)
    before = (rt.registered(), rt.groups())
    rt.exit(a, "kill")
    await rt.wait_exit(a)

    assert ({"a": a, "b": b}, {"g": (b, a)}) == before
    assert ({"b": b}, {"g": (b,)}) == (rt.registered(), rt.groups())


@pytest.mark.asyncio
async def test_pending_calls_lists_the_calls_still_waiting(actor_runtime: Runtime) -> None:
    """A call to a busy async actor is pending until it is answered."""
    from .helpers import Sleep, Sleeper

    rt = actor_runtime
    sleeper = rt.spawn(Sleeper)
    waiting = asyncio.ensure_future(rt.call(sleeper, Sleep(1.0)))
    await asyncio.sleep(0.5)
    pending = [caller.describe() for caller in rt.pending_calls()]
    await waiting

    assert [f"{rt.pid!r} waits for a reply from {sleeper!r} to Sleep(seconds=1.0)"] == pending
    assert [] == rt.pending_calls()


@pytest.mark.asyncio
async def test_record_event_adds_to_the_trace_only_when_tracing(actor_runtime: Runtime) -> None:
    """A layer above records its own events; without a trace the call does nothing."""
    actor_runtime.record_event("fault.kill", 0, actor_runtime.pid, "w1")
    async with Runtime(clock="virtual") as untraced:
        untraced.record_event("fault.kill", 0)

    assert "0.000000000 fault.kill 0 <0.0.0> 'w1'" == actor_runtime.trace_events()[-1]


@pytest.mark.asyncio
async def test_hooks_are_readable_so_a_wrapper_can_chain_them(actor_runtime: Runtime) -> None:
    """``rt.hooks`` is what ``set_hooks`` set, ``None`` by default."""

    class Hooks:
        def before_init(self, process): ...

        def before_dispatch(self, process, item): ...

    hooks = Hooks()
    default = actor_runtime.hooks
    actor_runtime.set_hooks(hooks)

    assert (None, hooks) == (default, actor_runtime.hooks)
    actor_runtime.set_hooks(None)
