"""Links and monitors by Erlang's rules: who dies, who is told, and the races."""

import asyncio

import pytest
from neural_actors.runtime import Actor, Down, Exit, Runtime

from .helpers import Crash, Get, Recorder


class Linker(Recorder):
    """A recorder that links to or monitors a pid on request (casts of tuples)."""

    def handle_cast(self, msg):
        match msg:
            case ("link", pid):
                self.link(pid)
            case ("unlink", pid):
                self.unlink(pid)
            case ("monitor", pid):
                self.seen.append(("ref", self.monitor(pid)))
            case ("demonitor", ref):
                self.demonitor(ref)
            case ("spawn_link",):
                self.seen.append(("child", self.spawn_link(Recorder)))
            case ("spawn_monitor",):
                self.seen.append(("child", *self.spawn_monitor(Recorder)))
            case ("exit", pid, reason):
                self.exit(pid, reason)
            case _:
                super().handle_cast(msg)


async def linked_pair(rt: Runtime, trap: bool) -> tuple:
    a = rt.spawn(Linker, trap)
    b = rt.spawn(Recorder)
    rt.cast(a, ("link", b))
    await rt.wait_idle()
    return a, b


@pytest.mark.asyncio
async def test_abnormal_exit_kills_linked_process(actor_runtime: Runtime) -> None:
    """A crash propagates along a link to a process that does not trap exits."""
    a, b = await linked_pair(actor_runtime, trap=False)
    actor_runtime.cast(b, Crash())

    reason = await actor_runtime.wait_exit(a)

    assert isinstance(reason, ValueError)
    assert not actor_runtime.is_alive(b)


@pytest.mark.asyncio
async def test_normal_exit_does_not_kill_linked_process(actor_runtime: Runtime) -> None:
    """An exit signal ``normal`` is ignored by a process that does not trap exits."""
    a, b = await linked_pair(actor_runtime, trap=False)
    actor_runtime.cast(a, ("exit", b, "normal"))
    await actor_runtime.wait_idle()

    assert actor_runtime.is_alive(a) and actor_runtime.is_alive(b)


@pytest.mark.asyncio
async def test_killed_reason_propagates_along_links(actor_runtime: Runtime) -> None:
    """A killed process's links die with ``killed`` (which, unlike ``kill``, is an ordinary reason)."""
    a, b = await linked_pair(actor_runtime, trap=False)
    actor_runtime.exit(b, "kill")

    assert "killed" == await actor_runtime.wait_exit(a)


@pytest.mark.asyncio
async def test_trapping_process_gets_exit_message(actor_runtime: Runtime) -> None:
    """A process trapping exits survives and receives ``Exit(pid, reason)``."""
    a, b = await linked_pair(actor_runtime, trap=True)
    actor_runtime.exit(b, "shutdown")
    await actor_runtime.wait_idle()

    assert (Exit(b, "shutdown"),) == await actor_runtime.call(a, Get())


@pytest.mark.asyncio
async def test_kill_cannot_be_trapped_and_becomes_killed(actor_runtime: Runtime) -> None:
    """``exit(pid, 'kill')`` kills a trapping process; its links see ``killed``."""
    a, b = await linked_pair(actor_runtime, trap=True)
    watcher = actor_runtime.spawn(Linker, True)
    actor_runtime.cast(watcher, ("link", a))
    await actor_runtime.wait_idle()

    actor_runtime.exit(a, "kill")

    assert "killed" == await actor_runtime.wait_exit(a)
    assert (Exit(a, "killed"),) == await actor_runtime.call(watcher, Get())


@pytest.mark.asyncio
async def test_linking_to_dead_pid_exits_with_noproc(actor_runtime: Runtime) -> None:
    """Linking to a dead pid kills a non-trapping linker with ``noproc``, and tells a trapping one."""
    dead = actor_runtime.spawn(Recorder)
    await actor_runtime.stop(dead)
    plain = actor_runtime.spawn(Linker)
    trapping = actor_runtime.spawn(Linker, True)
    actor_runtime.cast(plain, ("link", dead))
    actor_runtime.cast(trapping, ("link", dead))

    assert "noproc" == await actor_runtime.wait_exit(plain)
    await actor_runtime.wait_idle()
    assert (Exit(dead, "noproc"),) == await actor_runtime.call(trapping, Get())


@pytest.mark.asyncio
async def test_monitor_delivers_down_with_reason(actor_runtime: Runtime) -> None:
    """A monitor turns the target's exit into a ``Down`` message and never kills."""
    watcher = actor_runtime.spawn(Linker)
    target = actor_runtime.spawn(Recorder)
    actor_runtime.cast(watcher, ("monitor", target))
    actor_runtime.cast(target, Crash("gone"))
    await actor_runtime.wait_idle()

    (_, ref), down = await actor_runtime.call(watcher, Get())

    assert (ref, target) == (down.ref, down.pid)
    assert "gone" == str(down.reason)


@pytest.mark.asyncio
async def test_monitor_of_dead_pid_is_noproc_at_once(actor_runtime: Runtime) -> None:
    """The race "child died between spawn and monitor" yields ``Down(noproc)``."""
    child = actor_runtime.spawn(Recorder)
    actor_runtime.exit(child, "kill")
    await actor_runtime.wait_idle()
    watcher = actor_runtime.spawn(Linker)
    actor_runtime.cast(watcher, ("monitor", child))
    await actor_runtime.wait_idle()

    (_, ref), down = await actor_runtime.call(watcher, Get())

    assert Down(ref, child, "noproc") == down


@pytest.mark.asyncio
async def test_demonitor_flushes_a_down_already_queued(actor_runtime: Runtime) -> None:
    """After ``demonitor`` no ``Down`` for that ref is ever seen."""
    target = actor_runtime.spawn(Recorder)

    class Flusher(Recorder):
        def handle_cast(self, msg):
            if msg == "go":
                ref = self.monitor(target)
                self.exit(target, "kill")
                # The demonitor is queued first; the Down, queued when the target dies, waits
                # behind it, so it is in the mailbox when the demonitor runs.
                self.cast(self.pid, ("demonitor", ref))
            else:
                self.demonitor(msg[1])

    watcher = actor_runtime.spawn(Flusher)
    actor_runtime.cast(watcher, "go")
    await actor_runtime.wait_idle()

    assert () == await actor_runtime.call(watcher, Get())


@pytest.mark.asyncio
async def test_spawn_link_is_atomic_and_child_crash_reaches_trapping_parent(actor_runtime: Runtime) -> None:
    """A child spawned linked cannot die unlinked; its crash reaches the parent."""
    parent = actor_runtime.spawn(Linker, True)
    actor_runtime.cast(parent, ("spawn_link",))
    (_, child), = await actor_runtime.call(parent, Get())
    actor_runtime.cast(child, Crash())
    await actor_runtime.wait_idle()

    (_, _), exit_msg = await actor_runtime.call(parent, Get())

    assert child == exit_msg.pid and isinstance(exit_msg.reason, ValueError)


@pytest.mark.asyncio
async def test_spawn_monitor_reports_child_exit(actor_runtime: Runtime) -> None:
    """``spawn_monitor`` gives a pid and a ref whose ``Down`` arrives on exit."""
    parent = actor_runtime.spawn(Linker)
    actor_runtime.cast(parent, ("spawn_monitor",))
    (_, child, ref), = await actor_runtime.call(parent, Get())
    actor_runtime.exit(child, "kill")
    await actor_runtime.wait_idle()

    assert Down(ref, child, "killed") == (await actor_runtime.call(parent, Get()))[1]


@pytest.mark.asyncio
async def test_unlink_stops_propagation(actor_runtime: Runtime) -> None:
    """After ``unlink`` a crash of the other side no longer kills."""
    a, b = await linked_pair(actor_runtime, trap=False)
    actor_runtime.cast(a, ("unlink", b))
    await actor_runtime.wait_idle()
    actor_runtime.cast(b, Crash())
    await actor_runtime.wait_idle()

    assert actor_runtime.is_alive(a) and not actor_runtime.is_alive(b)


@pytest.mark.asyncio
async def test_exit_signal_interrupts_an_awaiting_async_actor(actor_runtime: Runtime) -> None:
    """A kill reaches an actor blocked in an await, without running terminate."""
    terminated = []

    class Waiter(Actor):
        async def handle_cast(self, msg):
            await asyncio.sleep(1000)

        def terminate(self, reason):
            terminated.append(reason)

    pid = actor_runtime.spawn(Waiter)
    actor_runtime.cast(pid, "wait")
    await asyncio.sleep(1)
    actor_runtime.exit(pid, "kill")

    assert "killed" == await actor_runtime.wait_exit(pid)
    assert [] == terminated
    assert actor_runtime.now() < 2
