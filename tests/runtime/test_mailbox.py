"""Bounded mailboxes: each overflow policy, drop accounting, and signals that are never dropped."""

import asyncio

import pytest
from neural_actors.runtime import Exit, MailboxFull, MailboxPolicy, Runtime

from .helpers import Get, Recorder


def bounded(overflow: str, capacity: int = 2) -> MailboxPolicy:
    return MailboxPolicy(capacity=capacity, overflow=overflow)


async def full_recorder(rt: Runtime, overflow: str) -> object:
    """A recorder whose init has run, then filled with casts 0 and 1 while it is not scheduled."""
    pid = rt.spawn(Recorder, mailbox=bounded(overflow))
    await rt.wait_idle()
    return pid


@pytest.mark.asyncio
async def test_drop_newest_drops_incoming_and_counts(actor_runtime: Runtime, log_events: list) -> None:
    """With ``drop_newest`` the message that finds the mailbox full is dropped, counted and logged."""
    pid = await full_recorder(actor_runtime, "drop_newest")
    for n in range(4):
        actor_runtime.cast(pid, n)
    info = actor_runtime.process_info(pid)
    await actor_runtime.wait_idle()

    assert (0, 1) == await actor_runtime.call(pid, Get())
    assert 2 == info.mailbox.dropped
    assert [1, 2] == [e["dropped_total"] for e in log_events if e["event"] == "mailbox_overflow"]


@pytest.mark.asyncio
async def test_drop_oldest_keeps_the_newest(actor_runtime: Runtime) -> None:
    """With ``drop_oldest`` the oldest queued message makes room."""
    pid = await full_recorder(actor_runtime, "drop_oldest")
    for n in range(4):
        actor_runtime.cast(pid, n)
    await actor_runtime.wait_idle()

    assert (2, 3) == await actor_runtime.call(pid, Get())
    assert 2 == actor_runtime.process_info(pid).mailbox.dropped


@pytest.mark.asyncio
async def test_fail_raises_mailbox_full_at_the_sender(actor_runtime: Runtime) -> None:
    """With ``fail`` the sender gets ``MailboxFull`` and the queue is unchanged."""
    pid = await full_recorder(actor_runtime, "fail")
    actor_runtime.cast(pid, 0)
    actor_runtime.cast(pid, 1)

    with pytest.raises(MailboxFull) as info:
        actor_runtime.cast(pid, 2)

    assert (pid, 2, "fail") == (info.value.pid, info.value.capacity, info.value.overflow)
    await actor_runtime.wait_idle()
    assert (0, 1) == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_backpressure_makes_waiting_senders_wait_and_sync_senders_fail(actor_runtime: Runtime) -> None:
    """Under ``backpressure`` ``cast_wait`` waits for room, ``cast`` says how to wait, nothing is lost."""
    pid = await full_recorder(actor_runtime, "backpressure")
    sender = asyncio.ensure_future(_send_all(actor_runtime, pid, range(6)))
    await asyncio.sleep(0)
    with pytest.raises(MailboxFull, match=r"await cast_wait\(\)/send_wait\(\) to wait for room"):
        actor_runtime.cast(pid, 99)
    await sender
    await actor_runtime.wait_idle()

    assert (0, 1, 2, 3, 4, 5) == await actor_runtime.call(pid, Get())
    assert 2 == actor_runtime.process_info(pid).mailbox.peak


async def _send_all(rt: Runtime, pid: object, values: range) -> None:
    for value in values:
        await rt.cast_wait(pid, value)


@pytest.mark.asyncio
async def test_exit_signals_are_never_dropped(actor_runtime: Runtime) -> None:
    """An ``Exit`` reaches a trapping process whose mailbox is full."""

    class Linking(Recorder):
        def handle_info(self, msg):
            if type(msg) is tuple and msg[0] == "link":
                self.link(msg[1])
            else:
                super().handle_info(msg)

    pid = actor_runtime.spawn(Linking, True, mailbox=bounded("drop_newest", capacity=1))
    other = actor_runtime.spawn(Recorder)
    actor_runtime.send(pid, ("link", other))
    await actor_runtime.wait_idle()
    actor_runtime.cast(pid, "fills")
    actor_runtime.cast(pid, "dropped")
    actor_runtime.exit(other, "kill")

    assert 1 == actor_runtime.process_info(pid).mailbox.dropped  # full when the exit came
    await actor_runtime.wait_idle()
    assert ("fills", Exit(other, "killed")) == await actor_runtime.call(pid, Get())


@pytest.mark.asyncio
async def test_a_dropped_call_fails_its_caller_at_once(actor_runtime: Runtime) -> None:
    """A call that a full ``drop_newest`` mailbox drops raises ``MailboxFull`` without waiting."""
    pid = await full_recorder(actor_runtime, "drop_newest")
    actor_runtime.cast(pid, 0)
    actor_runtime.cast(pid, 1)

    with pytest.raises(MailboxFull):
        await actor_runtime.call(pid, Get(), timeout=100)
    assert 0 == actor_runtime.now()


def test_policy_validation_names_the_field() -> None:
    """Bad capacities and overflow names are refused with what was expected."""
    with pytest.raises(ValueError, match=r"capacity must be a positive int or None \(got 0\)"):
        MailboxPolicy(capacity=0)
    with pytest.raises(ValueError, match=r"overflow must be one of backpressure, drop_newest, drop_oldest, fail \(got 'spill'\)"):
        MailboxPolicy(capacity=1, overflow="spill")  # type: ignore[arg-type]
