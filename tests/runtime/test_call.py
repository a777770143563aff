"""Calls: replies, deferred replies, dead targets, timeouts, late replies."""

import pytest
from neural_actors.runtime import Actor, ActorExited, CallingSelf, CallTimeout, NoProcess, Runtime

from .helpers import Crash, Deferred, Get, Recorder, Sleep, Sleeper


@pytest.mark.asyncio
async def test_call_to_dead_pid_fails_at_once_with_noproc(actor_runtime: Runtime) -> None:
    """A call to a pid that exited raises ``ActorExited(pid, 'noproc')`` without waiting."""
    pid = actor_runtime.spawn(Recorder)
    await actor_runtime.stop(pid)
    start = actor_runtime.now()

    with pytest.raises(ActorExited) as info:
        await actor_runtime.call(pid, Get())

    assert (pid, "noproc") == (info.value.pid, info.value.reason)
    assert start == actor_runtime.now()


@pytest.mark.asyncio
async def test_call_to_unknown_name_fails_with_noproc(actor_runtime: Runtime) -> None:
    """A name nobody holds is a dead target: ``NoProcess``, an ``ActorExited`` with ``noproc``."""
    with pytest.raises(NoProcess, match="no process is registered as 'nobody'") as info:
        await actor_runtime.call("nobody", Get())

    assert isinstance(info.value, ActorExited)
    assert ("nobody", "noproc") == (info.value.pid, info.value.reason)


@pytest.mark.asyncio
async def test_target_crashing_in_the_call_fails_the_caller_with_the_reason(actor_runtime: Runtime) -> None:
    """The caller gets the crash as the exit reason, at once."""
    pid = actor_runtime.spawn(Recorder)

    with pytest.raises(ActorExited) as info:
        await actor_runtime.call(pid, Crash("bad input"))

    assert isinstance(info.value.reason, ValueError)
    assert "bad input" == str(info.value.reason)
    assert info.value.reason.__traceback__ is not None


@pytest.mark.asyncio
async def test_target_killed_while_call_pending_fails_at_once(actor_runtime: Runtime) -> None:
    """A call waiting on a slow actor fails when that actor is killed, long before the timeout."""
    import asyncio

    pid = actor_runtime.spawn(Sleeper)
    call = asyncio.ensure_future(actor_runtime.call(pid, Sleep(100.0), timeout=1000))
    await asyncio.sleep(1)
    actor_runtime.exit(pid, "kill")

    with pytest.raises(ActorExited) as info:
        await call

    assert "killed" == info.value.reason
    assert actor_runtime.now() < 2


@pytest.mark.asyncio
async def test_timeout_raises_call_timeout_on_virtual_time(actor_runtime: Runtime) -> None:
    """No reply within the timeout raises ``CallTimeout`` after exactly that virtual time."""
    pid = actor_runtime.spawn(Sleeper)

    with pytest.raises(CallTimeout) as info:
        await actor_runtime.call(pid, Sleep(3600.0), timeout=2.5)

    assert (pid, 2.5) == (info.value.pid, info.value.timeout)
    assert 2.5 == actor_runtime.now()
    assert "no reply from <0.0.1> to Sleep within 2.5 s" == str(info.value)


@pytest.mark.asyncio
async def test_late_reply_is_discarded(actor_runtime: Runtime) -> None:
    """A reply after the caller timed out reaches nobody and the actor goes on."""
    pid = actor_runtime.spawn(Deferred)
    with pytest.raises(CallTimeout):
        await actor_runtime.call(pid, Get(), timeout=1)

    actor_runtime.cast(pid, "late")
    await actor_runtime.wait_idle()

    assert actor_runtime.is_alive(pid)


@pytest.mark.asyncio
async def test_deferred_replies_reach_every_caller(actor_runtime: Runtime) -> None:
    """``NoReply`` plus ``caller.reply`` later answers each waiting caller."""
    import asyncio

    pid = actor_runtime.spawn(Deferred)
    calls = [asyncio.ensure_future(actor_runtime.call(pid, Get())) for _ in range(3)]
    await actor_runtime.wait_idle()
    actor_runtime.cast(pid, "answer")

    assert ["answer"] * 3 == await asyncio.gather(*calls)


@pytest.mark.asyncio
async def test_an_actor_calling_itself_is_refused(actor_runtime: Runtime) -> None:
    """Calling yourself raises ``CallingSelf`` instead of deadlocking."""

    class Narcissus(Actor):
        async def handle_call(self, msg, caller):
            try:
                await self.call(self.pid, msg)
            except CallingSelf as error:
                return str(error)

    pid = actor_runtime.spawn(Narcissus)

    assert "<0.0.1> called itself, which would deadlock; handle the request directly" == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_mutable_request_is_refused_at_the_sender(actor_runtime: Runtime) -> None:
    """A call with a mutable payload raises ``TypeError`` before anything is queued."""
    pid = actor_runtime.spawn(Recorder)

    with pytest.raises(TypeError, match=r"^message: list is mutable"):
        await actor_runtime.call(pid, [1])
    assert () == await actor_runtime.call(pid, Get())
