"""Message faults (drop, delay, duplicate, reorder) as the plan's transport applies them: which
messages each selects, what it does to them, and that every message stays accounted for."""

import asyncio

import pytest
from neural_actors.faults import Delay, Drop, Duplicate, FaultPlan, Link, Messages, Reorder, Schedule
from neural_actors.runtime import Actor, CallTimeout, MailboxPolicy, Runtime, Unreachable

from .helpers import Echo, Ping, Pong


class Relay(Actor):
    """Casts ``msg`` to ``target`` when cast ``(target, msg)``."""

    def handle_cast(self, msg):
        target, payload = msg
        self.cast(target, payload)


async def seen(rt: Runtime, name: str) -> tuple:
    await rt.wait_idle()
    return await rt.call(name, "seen")


def balanced(injector) -> bool:
    counts = injector.accounting()
    return counts.unaccounted == 0 and counts.in_flight == 0


# Drop ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_drop_loses_the_messages_it_selects_and_counts_each(actor_runtime: Runtime, inject_faults) -> None:
    """Every cast to ``a`` is dropped; ``b`` gets all of its; the accounting balances."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    await rt.start(Echo, name="b")
    injector = inject_faults(FaultPlan([Drop(Messages(receiver="a", kinds=("cast",)))]))
    await asyncio.sleep(0.1)
    for n in range(5):
        rt.cast("a", Ping(n))
        rt.cast("b", Ping(n))

    assert () == await seen(rt, "a")
    assert tuple(Ping(n) for n in range(5)) == await seen(rt, "b")
    counts = injector.accounting()
    assert (("drop", 5),) == counts.dropped
    assert (5 + 5 + 2) == counts.sent  # the two "seen" calls are messages too
    assert balanced(injector)


@pytest.mark.asyncio
async def test_a_dropped_call_ends_in_a_timeout_not_a_hang(actor_runtime: Runtime, inject_faults) -> None:
    """A request lost on the way leaves its caller a ``CallTimeout``, and no call pending."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    inject_faults(FaultPlan([Drop(Messages(receiver="a", kinds=("call",)))]))
    await asyncio.sleep(0.1)

    with pytest.raises(CallTimeout):
        await rt.call("a", Ping(1), timeout=0.5)
    assert [] == rt.pending_calls()


@pytest.mark.asyncio
async def test_a_dropped_reply_leaves_the_handler_run_and_the_caller_timed_out(actor_runtime: Runtime, inject_faults) -> None:
    """Replies are selected only when asked for: the request arrives, its answer does not."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    injector = inject_faults(FaultPlan([Drop(Messages(sender="a", kinds=("reply",), types=("Ping",)))]))
    await asyncio.sleep(0.1)

    with pytest.raises(CallTimeout):
        await rt.call("a", Ping(1), timeout=0.5)
    assert (("call", Ping(1)),) == await seen(rt, "a")
    assert (("drop", 1),) == injector.statistics().injected
    assert () == injector.accounting().dropped  # replies are not messages of the accounting


@pytest.mark.asyncio
async def test_drop_selects_by_type_kind_and_sender(actor_runtime: Runtime, inject_faults) -> None:
    """Only ``Ping`` sends relayed by ``r1`` are dropped: casts, ``Pong`` and ``r2``'s pass."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    await rt.start(Relay, name="r1")
    await rt.start(Relay, name="r2")
    inject_faults(FaultPlan([Drop(Messages(sender="r1", types=("Pi*",), kinds=("cast",)))]))
    await asyncio.sleep(0.1)
    for relay in ("r1", "r2"):
        rt.cast(relay, ("a", Ping(1)))
        rt.cast(relay, ("a", Pong(2)))
    rt.cast("a", Ping(3))

    assert (Ping(3), Pong(2), Ping(1), Pong(2)) == await seen(rt, "a")


@pytest.mark.asyncio
async def test_drop_with_a_probability_is_seeded(inject_faults, actor_runtime: Runtime) -> None:
    """Half the casts, drawn from the plan's generator: some pass, some do not."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    injector = inject_faults(FaultPlan([Drop(Messages(receiver="a", kinds=("cast",)), Schedule(probability=0.5))]))
    await asyncio.sleep(0.1)
    for n in range(100):
        rt.cast("a", n)
    arrived = await seen(rt, "a")

    assert 20 < len(arrived) < 80
    assert sorted(arrived) == list(arrived)
    assert 100 - len(arrived) == dict(injector.accounting().dropped)["drop"]


@pytest.mark.asyncio
async def test_a_drop_window_opens_and_closes_on_time(actor_runtime: Runtime, inject_faults) -> None:
    """Dropping from 1 s to 2 s: casts at 0.5 s and 2.5 s arrive, the one at 1.5 s does not."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    inject_faults(FaultPlan([Drop(Messages(receiver="a", kinds=("cast",)), Schedule.window(1, 2))]))
    for when in (0.5, 1.5, 2.5):
        await asyncio.sleep(when - rt.now())
        rt.cast("a", when)

    assert (0.5, 2.5) == await seen(rt, "a")


# Delay -----------------------------------------------------------------------------------------


class Clocked(Actor):
    """Records each cast with the time it was handled."""

    def init(self) -> None:
        self.seen: list = []

    def handle_cast(self, msg):
        self.seen.append((msg, round(self.runtime.now(), 9)))

    def handle_call(self, msg, caller):
        return tuple(self.seen)


@pytest.mark.asyncio
async def test_a_delayed_message_holds_back_the_rest_of_its_pair(actor_runtime: Runtime, inject_faults) -> None:
    """``Ping`` is delayed a second; the ``Pong`` cast after it waits behind it (FIFO per pair),
    while another sender's message to the same target passes at once."""
    rt = actor_runtime
    await rt.start(Clocked, name="a")
    await rt.start(Relay, name="r")
    inject_faults(FaultPlan([Delay(1.0, messages=Messages(receiver="a", types=("Ping",)))]))
    await asyncio.sleep(0.1)
    rt.cast("a", Ping(1))
    rt.cast("a", Pong(2))
    rt.cast("r", ("a", Pong(3)))

    assert ((Pong(3), 0.1), (Ping(1), 1.1), (Pong(2), 1.1)) == await seen(rt, "a")


@pytest.mark.asyncio
async def test_jittered_delays_keep_each_pair_in_order(actor_runtime: Runtime, inject_faults) -> None:
    """Random delays on half the messages reorder nothing within a pair."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    injector = inject_faults(FaultPlan([Delay(0.1, jitter=0.5, messages=Messages(receiver="a"), schedule=Schedule(probability=0.5))]))
    await asyncio.sleep(0.1)
    for n in range(50):
        rt.cast("a", n)
        await asyncio.sleep(0.01)

    assert tuple(range(50)) == await seen(rt, "a")
    assert balanced(injector)


@pytest.mark.asyncio
async def test_wait_idle_waits_for_delayed_messages(actor_runtime: Runtime, inject_faults) -> None:
    """A message the plan holds is in flight: ``wait_idle`` returns once it has landed."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    inject_faults(FaultPlan([Delay(3.0)]))
    await asyncio.sleep(0.1)
    rt.cast("a", Ping(1))
    await rt.wait_idle()

    assert 3.1 == pytest.approx(rt.now())


# Duplicate -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_duplicate_delivers_twice_and_a_duplicated_call_is_answered_once(actor_runtime: Runtime, inject_faults) -> None:
    """The cast arrives twice, the call's handler runs twice, its caller gets one reply."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    injector = inject_faults(FaultPlan([Duplicate(Messages(receiver="a", types=("Ping",)))]))
    await asyncio.sleep(0.1)
    rt.cast("a", Ping(1))
    answer = await rt.call("a", Ping(2))

    assert Ping(2) == answer
    assert (Ping(1), Ping(1), ("call", Ping(2)), ("call", Ping(2))) == await seen(rt, "a")
    counts = injector.accounting()
    assert (2, 5) == (counts.duplicated, counts.sent)
    assert balanced(injector)


# Reorder ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reorder_swaps_a_message_with_the_next_of_its_pair(actor_runtime: Runtime, inject_faults) -> None:
    """The held ``Ping`` arrives right after the next message; one is held at a time."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    inject_faults(FaultPlan([Reorder(messages=Messages(receiver="a", types=("Ping",)))]))
    await asyncio.sleep(0.1)
    for msg in (Ping(1), Pong(2), Ping(3), Ping(4), Pong(5)):
        rt.cast("a", msg)

    assert (Pong(2), Ping(1), Ping(4), Ping(3), Pong(5)) == await seen(rt, "a")


@pytest.mark.asyncio
async def test_a_held_message_is_released_after_its_hold(actor_runtime: Runtime, inject_faults) -> None:
    """With no next message, the held one arrives ``hold`` seconds later."""
    rt = actor_runtime
    await rt.start(Echo, name="a")
    inject_faults(FaultPlan([Reorder(hold=0.5, messages=Messages(receiver="a", kinds=("cast",)))]))
    await asyncio.sleep(0.1)
    rt.cast("a", Ping(1))
    await asyncio.sleep(0.25)
    early = await rt.call("a", "seen")
    await asyncio.sleep(0.5)

    assert () == early
    assert (Ping(1),) == await rt.call("a", "seen")


# On the mesh -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_link_and_core_selectors_pick_messages_by_their_route() -> None:
    """On a 4x1 mesh, dropping what crosses (1,0)+x loses core 0->3 but not 0->1; a cores
    selector picks one source and destination."""
    async with Runtime(clock="virtual", mesh="mesh:4x1") as rt:
        near = await rt.start(Echo, core=1)
        far = await rt.start(Echo, core=3)
        plan = FaultPlan([Drop(Messages(link=Link(0, 1, 0, "+x"), kinds=("cast",))), Drop(Messages(cores=(0, 1), types=("Pong",)))])
        plan.install(rt)
        await asyncio.sleep(0.1)
        for pid in (near, far):
            rt.cast(pid, Ping(1))
            rt.cast(pid, Pong(2))
        await rt.wait_idle()

        assert (Ping(1),) == await rt.call(near, "seen")
        assert () == await rt.call(far, "seen")


@pytest.mark.asyncio
async def test_a_delay_adds_to_the_mesh_latency() -> None:
    """Through the mesh and a 1 s delay, a message lands at mesh latency plus one second."""
    async with Runtime(clock="virtual", mesh="mesh:4x1") as rt:
        far = await rt.start(Echo, core=3)
        start = rt.now()
        await rt.call(far, Ping(0))
        round_trip = rt.now() - start
        FaultPlan([Delay(1.0, messages=Messages(kinds=("call",)))]).install(rt)
        await asyncio.sleep(0.1)
        start = rt.now()
        await rt.call(far, Ping(1))

        assert round_trip + 1.0 == pytest.approx(rt.now() - start)


@pytest.mark.asyncio
async def test_a_send_the_mesh_refuses_is_not_counted_as_sent() -> None:
    """``Unreachable`` reaches the sender, and the accounting counts it refused, not sent."""
    async with Runtime(clock="virtual", mesh="mesh:2x1") as rt:
        far = await rt.start(Echo, core=1)
        injector = FaultPlan().install(rt)
        rt.fail_core(1)
        with pytest.raises(Unreachable):
            rt.cast(far, Ping(1))
        await rt.wait_idle()
        counts = injector.accounting()

    assert (0, 1) == (counts.sent, counts.refused)


@pytest.mark.parametrize("overflow", ["drop_newest", "drop_oldest", "fail"])
@pytest.mark.asyncio
async def test_a_full_mailbox_s_drops_are_counted_as_the_mailbox_s(actor_runtime: Runtime, inject_faults, overflow: str) -> None:
    """Five casts into a one-message mailbox: one delivered, four dropped by the mailbox, whatever
    its policy (``drop_oldest`` keeps the newest, the others the first)."""
    rt = actor_runtime
    await rt.start(Echo, name="a", mailbox=MailboxPolicy(1, overflow))
    injector = inject_faults(FaultPlan())
    for n in range(5):
        rt.cast("a", n)
    await rt.wait_idle()
    counts = injector.accounting()

    assert (5, 1, 4) == (counts.sent, counts.delivered, counts.dropped_by_mailbox)
    assert ((4,) if overflow == "drop_oldest" else (0,)) == await seen(rt, "a")
