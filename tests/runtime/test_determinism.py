"""Deterministic simulation: same seed, same trace; different seed, different interleaving.

Also the per-pair FIFO guarantee, checked under many seeded interleavings.
"""

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st
from neural_actors.runtime import Actor, Runtime, run

from .helpers import Get, Recorder


class Reporter(Actor):
    """On any cast, reports its index to the collector, then ticks itself once a second."""

    def init(self, index: int, collector: object) -> None:
        self.index = index
        self.collector = collector

    def handle_cast(self, msg):
        self.cast(self.collector, (self.index, msg))
        if msg < 3:
            self.send_after(1.0, self.pid, msg + 1)

    def handle_info(self, msg):
        self.handle_cast(msg)


def scenario(seed: int) -> tuple[str, tuple]:
    """Ten reporters racing to a collector over three virtual seconds; returns (digest, order)."""

    async def main() -> tuple[str, tuple]:
        async with Runtime(clock="virtual", seed=seed, trace=True) as rt:
            collector = rt.spawn(Recorder)
            reporters = [rt.spawn(Reporter, i, collector) for i in range(10)]
            for pid in reporters:
                rt.cast(pid, 0)
            await asyncio.sleep(5)
            order = await rt.call(collector, Get())
            return rt.trace_digest(), order

    return run(main, clock="virtual")


def test_same_seed_gives_the_same_trace() -> None:
    """Two runs with one seed produce identical traces and orders."""
    first = scenario(7)
    second = scenario(7)

    assert first == second
    assert 40 == len(first[1])


def test_different_seed_changes_the_interleaving_and_the_trace() -> None:
    """Another seed shuffles the batches differently, so the trace hash differs."""
    digest_a, order_a = scenario(7)
    digest_b, order_b = scenario(8)

    assert order_a != order_b
    assert digest_a != digest_b
    assert sorted(order_a) == sorted(order_b)


class Sender(Actor):
    """Sends its numbered messages to the receiver by cast, send or call, as told."""

    def init(self, index: int, receiver: object, kinds: tuple) -> None:
        self.index = index
        self.receiver = receiver
        self.kinds = kinds

    async def handle_cast(self, msg):
        for seq, kind in enumerate(self.kinds):
            payload = (self.index, seq)
            if kind == "cast":
                self.cast(self.receiver, payload)
            elif kind == "send":
                self.send(self.receiver, payload)
            else:
                await self.call(self.receiver, payload)


class Sink(Recorder):
    def handle_call(self, msg, caller):
        if type(msg) is tuple:
            self.seen.append(msg)
            return None
        return super().handle_call(msg, caller)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    plans=st.lists(st.lists(st.sampled_from(["cast", "send", "call"]), max_size=12), min_size=1, max_size=5),
)
def test_property_order_between_one_sender_and_one_receiver_is_fifo(seed: int, plans: list) -> None:
    """Whatever the interleaving, each sender's messages arrive in the order it sent them."""

    async def main() -> tuple:
        async with Runtime(clock="virtual", seed=seed) as rt:
            sink = rt.spawn(Sink)
            senders = [rt.spawn(Sender, i, sink, tuple(plan)) for i, plan in enumerate(plans)]
            for pid in senders:
                rt.cast(pid, "go")
            await rt.wait_idle()
            return await rt.call(sink, Get())

    received = run(main, clock="virtual")

    for index, plan in enumerate(plans):
        assert list(range(len(plan))) == [seq for i, seq in received if i == index]
