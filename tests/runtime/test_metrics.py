"""Runtime metrics: what the seam counts (sent, delivered, dropped by reason), call latency by
outcome, mailbox depth, the mesh's links; and that they are off unless asked for."""

import asyncio

import numpy as np
import pytest
from neural_actors.runtime import (
    Actor,
    ActorExited,
    CallTimeout,
    MailboxFull,
    MailboxPolicy,
    NoReply,
    Runtime,
    freeze,
)
from neural_actors.runtime.metrics import CALL_BUCKETS


class Echo(Actor):
    """Answers calls with the request; ``"never"`` is never answered; ``"crash"`` crashes."""

    def handle_call(self, msg, caller):
        if msg == "crash":
            raise RuntimeError("crash")
        return NoReply if msg == "never" else msg

    def handle_cast(self, msg):
        pass

    def handle_info(self, msg):
        pass


class Slow(Actor):
    """Replies after ``msg`` seconds."""

    async def handle_call(self, msg, caller):
        await asyncio.sleep(msg)
        return msg


@pytest.mark.asyncio
async def test_metrics_are_off_unless_asked_for() -> None:
    """Without ``metrics=True`` there are no counters and a snapshot says how to get one."""
    async with Runtime(clock="virtual") as rt:
        assert rt.metrics is None
        with pytest.raises(RuntimeError) as raised:
            rt.metrics_snapshot()

    assert "metrics are off; start the runtime with Runtime(metrics=True)" == str(raised.value)


def test_metrics_must_be_a_bool() -> None:
    with pytest.raises(TypeError) as raised:
        Runtime(metrics="yes")

    assert "metrics must be True or False (got 'yes')" == str(raised.value)


@pytest.mark.asyncio
async def test_messages_sent_by_kind_and_delivered() -> None:
    """Each cast, send, call, timer and reply counts as sent; each queued one as delivered."""
    async with Runtime(clock="virtual", metrics=True) as rt:
        pid = rt.spawn(Echo, name="echo")
        rt.cast(pid, 1)
        rt.send("echo", 2)
        rt.send_after(0.5, pid, 3)
        assert "hi" == await rt.call(pid, "hi")
        await asyncio.sleep(1)
        snap = rt.metrics_snapshot()

    assert {"cast": 1, "send": 1, "call": 1, "timer": 1, "reply": 1} == dict(snap.sent)
    assert 5 == snap.delivered
    assert {"dead_letter": 0, "overflow": 0, "refused": 0} == dict(snap.dropped)


@pytest.mark.asyncio
async def test_drops_by_reason() -> None:
    """Dead letters, mailbox policy drops, refusals and messages left at exit, each counted."""
    async with Runtime(clock="virtual", metrics=True) as rt:
        dead = rt.spawn(Echo)
        await rt.stop(dead)
        rt.cast(dead, "late")  # dead_letter
        with pytest.raises(ActorExited):
            await rt.call(dead, "late")  # dead_letter too
        dropping = rt.spawn(Echo, mailbox=MailboxPolicy(1, "drop_newest"))
        rt.cast(dropping, 1)
        rt.cast(dropping, 2)  # overflow
        refusing = rt.spawn(Echo, mailbox=MailboxPolicy(1, "fail"))
        rt.cast(refusing, 1)
        with pytest.raises(MailboxFull):
            rt.cast(refusing, 2)  # refused
        doomed = rt.spawn(Echo)
        for n in range(3):
            rt.cast(doomed, n)
        rt.exit(doomed, "kill")  # dies before its turn: 3 exited
        await rt.wait_exit(doomed)
        live = dict(rt.metrics_snapshot().dropped)
        await rt.stop(dropping)
        await rt.stop(refusing)
        after_exit = dict(rt.metrics_snapshot().dropped)

    assert {"dead_letter": 2, "overflow": 1, "refused": 1, "exited": 3} == live
    assert live == after_exit  # a mailbox's counts outlive it


@pytest.mark.asyncio
async def test_call_latency_by_outcome() -> None:
    """A call's latency lands in its outcome's histogram: ok, exited, timeout."""
    async with Runtime(clock="virtual", metrics=True) as rt:
        slow = rt.spawn(Slow)
        echo = rt.spawn(Echo)
        assert 0.003 == await rt.call(slow, 0.003)
        assert 0.3 == await rt.call(slow, 0.3)
        with pytest.raises(CallTimeout):
            await rt.call(echo, "never", timeout=2.0)
        with pytest.raises(ActorExited):
            await rt.call(echo, "crash")
        await asyncio.sleep(0)
        calls = rt.metrics_snapshot().calls

    ok = calls["ok"]
    assert (2, pytest.approx(0.303)) == (ok.count, ok.sum)
    assert [0] * 8 + [1] * 6 + [2] * 6 == [count for _, count in ok.buckets]  # 5 ms and 0.5 s buckets
    assert (*CALL_BUCKETS, float("inf")) == tuple(bound for bound, _ in ok.buckets)
    assert (1, 2.0) == (calls["timeout"].count, calls["timeout"].sum)
    assert (1, 0.0) == (calls["exited"].count, calls["exited"].sum)


@pytest.mark.asyncio
async def test_a_call_to_a_dead_pid_is_an_exited_call_and_a_dead_letter() -> None:
    async with Runtime(clock="virtual", metrics=True) as rt:
        pid = rt.spawn(Echo)
        await rt.stop(pid)
        with pytest.raises(ActorExited):
            await rt.call(pid, "hi")
        snap = rt.metrics_snapshot()

    assert (1, 1, 1) == (snap.sent["call"], snap.dropped["dead_letter"], snap.calls["exited"].count)


@pytest.mark.asyncio
async def test_mailbox_depth_of_named_processes_and_totals() -> None:
    async with Runtime(clock="virtual", metrics=True) as rt:
        named = rt.spawn(Echo, name="named")
        other = rt.spawn(Echo)
        for n in range(3):
            rt.cast(named, n)
        rt.cast(other, 0)
        snap = rt.metrics_snapshot()  # nothing has run yet
        await rt.wait_idle()
        idle = rt.metrics_snapshot()

    assert ({"named": 3}, 4, 3) == (dict(snap.mailbox_depth), snap.mailbox_total, snap.mailbox_max)
    assert ({"named": 0}, 0, 0) == (dict(idle.mailbox_depth), idle.mailbox_total, idle.mailbox_max)
    assert (2, 2, 0, 0) == (snap.processes, snap.spawned, snap.exited, snap.crashed)


@pytest.mark.asyncio
async def test_mesh_links_that_carried_traffic() -> None:
    """On a mesh, each link that carried a message shows its bytes and utilisation."""
    async with Runtime(clock="virtual", metrics=True, mesh="mesh:4x4") as rt:
        near = rt.spawn(Echo, core=0)
        far = rt.spawn(Echo, core=3)
        payload = freeze(np.zeros(256, np.float32))
        rt.cast(far, payload)
        await rt.wait_idle()
        links = rt.metrics_snapshot().links
        assert near.core != far.core

    assert 3 == len(links)  # three hops east along the first row
    assert all(nbytes >= 1024 and 0 < busy <= 1 for *_, nbytes, busy in links)


@pytest.mark.asyncio
async def test_a_transport_adds_its_own_drops() -> None:
    """``drop`` counts a reason the runtime does not know (a fault plan's)."""
    async with Runtime(clock="virtual", metrics=True) as rt:
        rt.metrics.drop("fault", 2)

        assert 2 == rt.metrics_snapshot().dropped["fault"]


@pytest.mark.asyncio
async def test_a_call_a_full_mailbox_refuses_ends_refused() -> None:
    async with Runtime(clock="virtual", metrics=True) as rt:
        pid = rt.spawn(Echo, mailbox=MailboxPolicy(1, "fail"))
        rt.cast(pid, "fills it")
        with pytest.raises(MailboxFull):
            await rt.call(pid, "hi")
        await asyncio.sleep(0)
        snap = rt.metrics_snapshot()

    assert (1, 1, 2) == (snap.calls["refused"].count, snap.dropped["refused"], snap.sent["cast"] + snap.sent["call"])
