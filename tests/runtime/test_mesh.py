"""The emulated packet mesh: routes, delivery time, contention, FIFO, failed cores and links."""

import asyncio

import numpy as np
import pytest
from neural_actors.runtime import Actor, Runtime, Unreachable, freeze, message
from neural_actors.runtime.mesh import Mesh

from .helpers import Get, Recorder


@message
class Blob:
    data: np.ndarray


class Stamper(Actor):
    """Records (virtual arrival time, message) of every cast."""

    def init(self) -> None:
        self.seen: list = []

    def handle_cast(self, msg):
        self.seen.append((self.runtime.now(), msg))

    def handle_call(self, msg, caller):
        return tuple(self.seen)


def blob(nbytes: int, tag: int = 0) -> Blob:
    return Blob(freeze(np.full(nbytes // 4, tag, dtype=np.float32)))


@pytest.mark.parametrize(
    ("preset", "src", "dst", "hops"),
    [
        ("mesh:8x8", (0, 0), (7, 7), 14),
        ("mesh:8x8", (5, 2), (1, 6), 8),
        ("torus:8x8", (0, 0), (7, 7), 2),
        ("torus:8x8", (0, 0), (4, 4), 8),
        ("noc:8x8", (1, 1), (0, 0), 14),  # NoC0 flows +x/+y only: the long way round
    ],
)
def test_route_lengths_follow_the_topology(preset: str, src: tuple, dst: tuple, hops: int) -> None:
    """Dimension-ordered routes: |dx|+|dy| on a mesh, the shorter way on a torus, one way on a NoC."""
    assert hops == Mesh.preset(preset).hops(src, dst)


def test_noc1_route_is_noc0_route_reversed() -> None:
    """Tenstorrent's NoC1 route s->d takes NoC0's route d->s backwards (Y then X, -x/-y)."""
    mesh = Mesh.preset("noc:10x12")
    for src, dst in [((1, 1), (6, 9)), ((9, 2), (0, 11)), ((3, 3), (3, 3))]:
        noc0_back = mesh.route(dst, src, 0)
        noc1 = mesh.route(src, dst, 1)

        assert len(noc0_back) == len(noc1)
        assert ((src[0] - dst[0]) % 10) + ((src[1] - dst[1]) % 12) == len(noc1)


def test_uniform_mean_hops_match_the_textbook() -> None:
    """Uniform traffic with self-traffic: H = 2(k^2-1)/(3k) (mesh), k/2 (torus), k-1 (one-way torus)."""
    assert 5.25 == pytest.approx(Mesh.preset("mesh:8x8").mean_hops())
    assert 4.0 == pytest.approx(Mesh.preset("torus:8x8").mean_hops())
    one_way = Mesh(8, 8, topology="noc")
    assert 7.0 == pytest.approx(sum(one_way.hops(a, b, 0) for a in one_way.cores for b in one_way.cores) / 64**2)


def test_wormhole_preset_has_80_tensix_cores_on_a_10x12_grid() -> None:
    """The Wormhole preset: 8x10 cores on 10x12 routers, 32-byte flits, 1,499,136 bytes of SRAM."""
    mesh = Mesh.preset("wormhole")

    assert (80, 10, 12, 32, 1_499_136) == (mesh.core_count, mesh.kx, mesh.ky, mesh.flit_bytes, mesh.sram_bytes)
    assert 140 == Mesh.preset("blackhole").core_count


@pytest.mark.asyncio
async def test_delivery_time_on_an_idle_mesh_equals_the_formula() -> None:
    """inject + hops x hop + flits + eject cycles, at the mesh's clock."""
    mesh = Mesh.preset("mesh:4x4")
    async with Runtime(clock="virtual", mesh=mesh) as rt:
        a = rt.spawn(Stamper, core=0)
        b = rt.spawn(Stamper, core=15)
        await rt.wait_idle()
        start = rt.now()
        rt.delivery.cast(a, b, blob(1024))
        await asyncio.sleep(1)

        ((arrived, _),) = await rt.call(b, Get())

    flits = 1024 // 32 + 1
    cycles = mesh.zero_load_cycles(hops=6, flits=flits)
    assert cycles / mesh.clock_hz == pytest.approx(arrived - start, rel=1e-9)


@pytest.mark.asyncio
async def test_a_second_packet_on_a_busy_link_waits_its_serialisation_time() -> None:
    """Two packets from different senders over the same links: the second trails by the first's flits."""
    mesh = Mesh.preset("mesh:4x1")
    async with Runtime(clock="virtual", mesh=mesh) as rt:
        sink = rt.spawn(Stamper, core=3)
        first = rt.spawn(Stamper, core=0)
        second = rt.spawn(Stamper, core=0)
        await rt.wait_idle()
        rt.delivery.cast(first, sink, blob(2048, 1))
        rt.delivery.cast(second, sink, blob(2048, 2))
        await asyncio.sleep(1)

        (t1, _), (t2, _) = await rt.call(sink, Get())

    flits = 2048 // 32 + 1
    assert flits / mesh.clock_hz == pytest.approx(t2 - t1, rel=1e-9)


@pytest.mark.asyncio
async def test_order_stays_fifo_per_pair_under_contention() -> None:
    """A big message then small ones from the same sender arrive in send order, however sized."""
    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        sink = rt.spawn(Stamper, core=15)
        src = rt.spawn(Stamper, core=0)
        noise = [rt.spawn(Stamper, core=c) for c in (1, 4, 5)]
        await rt.wait_idle()
        for i in range(20):
            for other in noise:
                rt.delivery.cast(other, sink, blob(512, 100))
            rt.delivery.cast(src, sink, blob(4096 if i % 3 == 0 else 8, i))
        await asyncio.sleep(1)

        seen = await rt.call(sink, Get())

    tags = [int(msg.data[0]) for _, msg in seen if int(msg.data[0]) != 100]
    assert list(range(20)) == tags


@pytest.mark.asyncio
async def test_same_core_messages_are_direct() -> None:
    """Processes on one core talk without delay."""
    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        a = rt.spawn(Stamper, core=5)
        b = rt.spawn(Stamper, core=5)
        await rt.wait_idle()
        rt.delivery.cast(a, b, blob(4096))
        await rt.wait_idle()

        ((arrived, _),) = await rt.call(b, Get())
        assert 0.0 == arrived
        assert 1 == rt.mesh_statistics().same_core


@pytest.mark.asyncio
async def test_a_failed_core_kills_its_processes_and_refuses_messages() -> None:
    """Processes on a failed core exit ``core_failed``; new sends to it raise ``Unreachable``."""
    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        victim = rt.spawn(Recorder, core=6)
        bystander = rt.spawn(Recorder, core=7)
        await rt.wait_idle()

        assert [victim] == rt.fail_core(6)
        with pytest.raises(Unreachable, match="core 6 failed"):
            rt.cast(victim, "hello")
        assert "core_failed" == await rt.wait_exit(victim)
        assert rt.is_alive(bystander)
        assert 6 != rt.spawn(Recorder, core=6).core  # placement avoids the failed core


@pytest.mark.asyncio
async def test_a_call_the_mesh_refuses_leaves_nothing_pending() -> None:
    """A call refused with ``Unreachable`` is not left waiting on its target, to be failed later
    with nobody listening."""
    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        victim = rt.spawn(Recorder, core=6)
        await rt.wait_idle()
        rt.fail_core(6)
        with pytest.raises(Unreachable, match="core 6 failed"):
            await rt.call(victim, Get())

        assert [] == rt.pending_calls()


@pytest.mark.asyncio
async def test_a_failed_link_is_routed_around_on_the_other_noc() -> None:
    """On a two-NoC mesh a failed NoC0 link makes the message take NoC1; with both failed,
    Unreachable; restored, the short way again."""
    async with Runtime(clock="virtual", mesh="noc:4x4") as rt:
        a = rt.spawn(Stamper, core=0)
        b = rt.spawn(Stamper, core=1)  # (1, 0): one hop +x on NoC0, three hops -x on NoC1
        await rt.wait_idle()
        rt.fail_link(0, 0, 0, "+x", noc=0)
        rt.delivery.cast(a, b, "via noc1")
        await asyncio.sleep(1)

        assert ((3, 1),) == rt.mesh_statistics().hop_histogram
        assert 1 == len(await rt.call(b, Get()))
        rt.fail_link(0, 0, 0, "-x", noc=1)
        with pytest.raises(Unreachable, match="every route crosses a failed link"):
            rt.delivery.cast(a, b, "nowhere")
        before = dict(rt.mesh_statistics().hop_histogram)
        rt.restore_link(0, 0, 0, "+x", noc=0)
        rt.delivery.cast(a, b, "restored")
        await asyncio.sleep(1)

        assert before.get(1, 0) + 1 == dict(rt.mesh_statistics().hop_histogram)[1]


@pytest.mark.asyncio
async def test_link_statistics_count_bytes_and_utilisation() -> None:
    """Every link of the route carries the packet's flits, and utilisation is busy / elapsed."""
    async with Runtime(clock="virtual", mesh="mesh:4x1") as rt:
        a = rt.spawn(Stamper, core=0)
        b = rt.spawn(Stamper, core=3)
        await rt.wait_idle()
        rt.delivery.cast(a, b, blob(3200))
        await asyncio.sleep(1e-6)

        stats = rt.mesh_statistics()

    assert [(0, "+x"), (1, "+x"), (2, "+x")] == [(link.x, link.direction) for link in stats.links]
    assert all(link.bytes == 101 * 32 and link.busy_cycles == 101 for link in stats.links)
    assert all(0 < link.utilisation <= 1 for link in stats.links)


def test_the_runtime_model_agrees_with_the_cycle_level_simulator_at_low_load() -> None:
    """Random traffic at low load: mean latency from the runtime's accounting is within 10% of
    the cycle-level simulator's (``kernels.noc``) for the same packets on the same 8x8 mesh."""
    import random

    from neural_actors.kernels import noc
    from neural_actors.runtime.mesh import MeshTransport
    from neural_actors.runtime.clock import VirtualEventLoop
    from neural_actors.runtime import Pid

    mesh = Mesh(8, 8, topology="mesh", hop_cycles=3, inject_cycles=2, clock_hz=1.0e9)
    rng = random.Random(5)
    packets = []
    for index in range(600):
        src, dst = rng.sample(range(64), 2)
        packets.append((index * 25 + rng.randrange(25), src, dst, rng.choice((32, 96, 224))))
    loop = VirtualEventLoop()
    transport = MeshTransport(mesh, loop, virtual=True)
    latencies: list[float] = []

    def send(cycle: int, src: int, dst: int, size: int) -> None:
        sent = loop.time()
        transport.carry(Pid(0, src, 1), Pid(0, dst, 2), "cast", b"x" * size, lambda: latencies.append(loop.time() - sent))

    for cycle, src, dst, size in packets:
        loop.call_at(cycle / mesh.clock_hz, send, cycle, src, dst, size)
    loop.run_until_complete(asyncio.sleep(1e-3))
    loop.close()

    ours = sum(latencies) / len(latencies) * mesh.clock_hz
    net = noc.Network("mesh", 8, 8, hop_cycles=3, inject_cycles=2)
    cycles, srcs, dsts, sizes = (np.array(column) for column in zip(*packets))
    trace = noc.run_trace(net, srcs, dsts, cycles, sizes // 32 + 1)
    simulated = float(np.mean(trace.arrived - trace.sent))

    assert 600 == len(latencies)
    assert ours == pytest.approx(simulated, rel=0.10)


@pytest.mark.asyncio
async def test_fifo_bookkeeping_forgets_pairs_whose_messages_arrived() -> None:
    """Per-pair ordering state stays bounded: pairs with nothing in flight are pruned."""
    from neural_actors.runtime import Pid

    async with Runtime(clock="virtual", mesh="mesh:4x4") as rt:
        transport = rt.transport
        for serial in range(20_000):
            transport.carry(Pid(0, 0, serial), Pid(0, 5, serial), "cast", b"x", lambda: None)
            if serial % 1000 == 999:
                await asyncio.sleep(1e-3)  # let them arrive

        assert transport.tracked_pairs() < 10_000
