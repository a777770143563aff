"""The emulated packet mesh: cores on a grid of routers, and a transport that carries messages
between them as packets that cross links, take time and contend.

A ``Mesh`` is a model people can reason with, not decoration: a grid of ``kx`` by ``ky``
routers (a 2D mesh, a 2D torus, or Tenstorrent's two one-way tori), some of whose nodes are
cores; links that move one flit per cycle; a fixed cost per router hop and for entering and
leaving the network; chips joined by Ethernet links that are far slower and longer.

A message between two cores becomes packets of at most ``max_packet_flits`` data flits behind a
header. Each packet follows its dimension-ordered route link by link; a link carries one packet
at a time, so a packet waits for the link to be free (contention), and its tail follows its
head by its length in flits (serialisation). So the delivery time of a packet is

    inject + hops * hop_cycles + (flits - 1) + queueing + eject

cycles (``zero_load_cycles`` without queueing), turned into seconds by the clock. Order stays
FIFO per sender/receiver pair. Same-core messages are direct. On the virtual clock a message
arrives exactly at its time; on the real clock the same accounting is kept, and the delay is
applied only from ``real_delay_threshold`` seconds on (times ``real_slowdown``).

Faults the fault plans drive are here too: a failed core (its processes exit with reason
``core_failed``; placement avoids it), a failed link (a route over it takes the other NoC when
that avoids it, else the send raises ``Unreachable``), a slowed core (messages to it take
``factor`` times longer).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, final

import attrs
import numpy as np

from .calls import Caller
from .errors import Unreachable
from .pid import Pid
from .process import Info

__all__ = ["PRESETS", "LinkStatistics", "Mesh", "MeshStatistics", "MeshTransport", "payload_bytes"]

Topology = Literal["mesh", "torus", "noc"]
Direction = Literal["+x", "-x", "+y", "-y"]

#: Bytes a message's fields other than numpy arrays are counted as (pids, small scalars, tags).
SMALL_FIELD_BYTES = 16

#: Signals the runtime must always deliver: a lost exit would leave a process running that its
#: supervisor stopped, a lost reply a caller waiting. With no live route they arrive at once.
CONTROL = frozenset({"exit", "down", "reply"})


# The model ------------------------------------------------------------------------------------


@final
@attrs.frozen
class Mesh:
    """A grid of cores on routers, its links, timing and chips.

    Args:
        kx, ky: routers per row and per column of one chip's grid.
        topology: ``mesh`` (bidirectional links, XY routing), ``torus`` (bidirectional
            wrap-around links, XY routing on the shorter way) or ``noc`` (Tenstorrent: two
            one-way tori; NoC0 flows +x/+y and routes X then Y, NoC1 flows -x/-y and routes Y
            then X; each message takes the NoC with fewer hops, NoC0 on a tie).
        cores: the grid nodes ``(x, y)`` that are cores, in core-number order; all nodes by
            default. Core ``n`` of chip ``c`` is core ``c * cores_per_chip + n``.
        flit_bytes: bytes per flit.
        max_packet_flits: data flits per packet; longer messages are several packets.
        hop_cycles: cycles for a flit's head to cross one router and link.
        inject_cycles: cycles between a core and its router, each way.
        clock_hz: the network clock.
        sram_bytes: memory per core, which ``pack`` placement respects.
        chips: ``(cx, cy)`` chips in a 2D mesh, joined by Ethernet links.
        ethernet_seconds: one Ethernet hop's latency.
        ethernet_bytes_per_second: one Ethernet link's bandwidth.
    """

    kx: int
    ky: int
    topology: Topology = "mesh"
    cores: tuple[tuple[int, int], ...] = ()
    flit_bytes: int = 32
    max_packet_flits: int = 256
    hop_cycles: int = 9
    inject_cycles: int = 5
    clock_hz: float = 1.0e9
    sram_bytes: int = 1_499_136
    chips: tuple[int, int] = (1, 1)
    ethernet_seconds: float = 1.0e-6
    ethernet_bytes_per_second: float = 12.5e9

    def __attrs_post_init__(self) -> None:
        for name in ("kx", "ky", "flit_bytes", "max_packet_flits", "hop_cycles", "inject_cycles", "sram_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if "cycles" in name else 1):
                raise ValueError(f"Mesh.{name} must be an int >= {0 if 'cycles' in name else 1} (got {value!r})")
        if self.topology not in ("mesh", "torus", "noc"):
            raise ValueError(f"Mesh.topology must be one of mesh, torus, noc (got {self.topology!r})")
        for name in ("clock_hz", "ethernet_seconds", "ethernet_bytes_per_second"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"Mesh.{name} must be a finite number > 0 (got {value!r})")
        if len(self.chips) != 2 or any(type(c) is not int or c < 1 for c in self.chips):
            raise ValueError(f"Mesh.chips must be (cx, cy) of ints >= 1 (got {self.chips!r})")
        if not self.cores:
            object.__setattr__(self, "cores", tuple((x, y) for y in range(self.ky) for x in range(self.kx)))
        seen = set()
        for node in self.cores:
            if not (0 <= node[0] < self.kx and 0 <= node[1] < self.ky) or node in seen:
                raise ValueError(f"Mesh.cores: {node!r} is outside the {self.kx}x{self.ky} grid or repeated")
            seen.add(node)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> Mesh:
        """A mesh by name: ``wormhole``, ``blackhole``, ``mesh:KxK``, ``torus:KxK``, ``noc:KxK``.

        Raises:
            ValueError: an unknown name, naming the known ones.
        """
        match = re.fullmatch(r"(mesh|torus|noc):(\d+)x(\d+)", name)
        if match:
            return cls(int(match[2]), int(match[3]), topology=match[1], **overrides)  # type: ignore[arg-type]
        if name not in PRESETS:
            raise ValueError(f"unknown mesh preset {name!r}: expected one of {', '.join(PRESETS)}, mesh:KXxKY, torus:KXxKY, noc:KXxKY")
        return attrs.evolve(PRESETS[name], **overrides)

    @property
    def cores_per_chip(self) -> int:
        return len(self.cores)

    @property
    def core_count(self) -> int:
        """Cores in the whole system, all chips."""
        return len(self.cores) * self.chips[0] * self.chips[1]

    def locate(self, core: int) -> tuple[int, int, int]:
        """``(chip, x, y)`` of ``core``.

        Raises:
            ValueError: no such core.
        """
        if not 0 <= core < self.core_count:
            raise ValueError(f"core {core} does not exist: this mesh has cores 0..{self.core_count - 1}")
        chip, local = divmod(core, len(self.cores))
        x, y = self.cores[local]
        return chip, x, y

    def chip_hops(self, a: int, b: int) -> int:
        """Ethernet hops between chips ``a`` and ``b`` (a 2D mesh of chips, XY)."""
        cx = self.chips[0]
        return abs(a % cx - b % cx) + abs(a // cx - b // cx)

    # Routes ---------------------------------------------------------------------------------

    def route(self, src: tuple[int, int], dst: tuple[int, int], noc: int = 0) -> list[tuple[int, int, Direction]]:
        """The links ``(x, y, direction)`` a packet takes from router ``src`` to router ``dst``.

        Dimension-ordered: X then Y (NoC1 of the ``noc`` topology: Y then X, flowing -x/-y).
        """
        if self.topology == "noc":
            if noc == 0:
                return _walk(src, dst, self.kx, self.ky, ("+x", "+y"), x_first=True)
            return _walk(src, dst, self.kx, self.ky, ("-x", "-y"), x_first=False)
        if self.topology == "torus":
            return _walk(src, dst, self.kx, self.ky, _shorter(src, dst, self.kx, self.ky), x_first=True)
        sx: Direction = "+x" if dst[0] >= src[0] else "-x"
        sy: Direction = "+y" if dst[1] >= src[1] else "-y"
        return _walk(src, dst, self.kx, self.ky, (sx, sy), x_first=True, wrap=False)

    def hops(self, src: tuple[int, int], dst: tuple[int, int], noc: int = 0) -> int:
        """Router-to-router hops from ``src`` to ``dst``."""
        return len(self.route(src, dst, noc))

    def zero_load_cycles(self, hops: int, flits: int) -> int:
        """Cycles for one packet of ``flits`` flits (header included) in an empty network."""
        return 2 * self.inject_cycles + hops * self.hop_cycles + flits - 1

    def mean_hops(self) -> float:
        """Mean hops over all ordered core pairs of one chip, self-pairs included (for checks)."""
        nocs = (0, 1) if self.topology == "noc" else (0,)
        total = sum(min(self.hops(a, b, noc) for noc in nocs) for a in self.cores for b in self.cores)
        return total / len(self.cores) ** 2

    def core_hops(self, a: int, b: int) -> int:
        """Router hops between cores ``a`` and ``b`` on the NoC a message would take (same chip
        position on both chips when they differ: Ethernet hops are counted apart)."""
        _, ax, ay = self.locate(a)
        _, bx, by = self.locate(b)
        nocs = (0, 1) if self.topology == "noc" else (0,)
        return min(self.hops((ax, ay), (bx, by), noc) for noc in nocs)


def _shorter(src: tuple[int, int], dst: tuple[int, int], kx: int, ky: int) -> tuple[Direction, Direction]:
    """On a bidirectional torus, the direction of the shorter way in each dimension (+ on a tie)."""
    dx = (dst[0] - src[0]) % kx
    dy = (dst[1] - src[1]) % ky
    return ("+x" if dx <= kx - dx else "-x", "+y" if dy <= ky - dy else "-y")


def _walk(
    src: tuple[int, int],
    dst: tuple[int, int],
    kx: int,
    ky: int,
    directions: tuple[Direction, Direction],
    *,
    x_first: bool,
    wrap: bool = True,
) -> list[tuple[int, int, Direction]]:
    links: list[tuple[int, int, Direction]] = []
    x, y = src
    order = ((0, directions[0]), (1, directions[1])) if x_first else ((1, directions[1]), (0, directions[0]))
    for axis, direction in order:
        step = 1 if direction[0] == "+" else -1
        size = kx if axis == 0 else ky
        while (x, y)[axis] != dst[axis]:
            links.append((x, y, direction))
            if axis == 0:
                x = (x + step) % size if wrap else x + step
            else:
                y = (y + step) % size if wrap else y + step
    return links


PRESETS: dict[str, Mesh] = {
    # Wormhole: 8x10 Tensix cores on a 10x12 NoC grid (columns 0 and 5, rows 0 and 6 hold
    # DRAM, Ethernet, PCIe and ARC), 32-byte flits, two one-way tori.
    "wormhole": Mesh(
        10,
        12,
        topology="noc",
        cores=tuple((x, y) for y in (*range(1, 6), *range(7, 12)) for x in (*range(1, 5), *range(6, 10))),
        flit_bytes=32,
    ),
    # Blackhole: 14x10 Tensix cores on a 17x12 grid, 64-byte flits.
    "blackhole": Mesh(
        17,
        12,
        topology="noc",
        cores=tuple((x, y) for y in range(2, 12) for x in (*range(1, 8), *range(10, 17))),
        flit_bytes=64,
    ),
}


def payload_bytes(item: Any) -> int:
    """The bytes a message occupies on the wire: numpy arrays their bytes, other fields a little."""
    if isinstance(item, np.ndarray):
        return int(item.nbytes)
    if isinstance(item, (bytes, str)):
        return len(item)
    if isinstance(item, tuple):
        return sum(payload_bytes(v) for v in item)
    if type(item) is Info:
        return payload_bytes(item.msg)
    if type(item) is Caller:
        return payload_bytes(item.request)
    fields = getattr(type(item), "__attrs_attrs__", None)
    if fields is not None:
        return sum(payload_bytes(getattr(item, f.name)) for f in fields)
    return SMALL_FIELD_BYTES


# Statistics -----------------------------------------------------------------------------------


@final
@attrs.frozen
class LinkStatistics:
    """One link's traffic: where it is, bytes and packets carried, busy cycles, utilisation."""

    chip: int
    x: int
    y: int
    direction: str
    noc: int
    bytes: int
    packets: int
    busy_cycles: int
    utilisation: float


@final
@attrs.frozen
class MeshStatistics:
    """A snapshot of a mesh transport's traffic."""

    messages: int
    same_core: int
    packets: int
    bytes: int
    elapsed_cycles: int
    links: tuple[LinkStatistics, ...]
    hop_histogram: tuple[tuple[int, int], ...]
    latency_p50: float
    latency_p99: float
    latency_by_pair: tuple[tuple[int, int, int, float, float], ...]  # src, dst, count, p50, p99 (s)


# The transport --------------------------------------------------------------------------------


@final
class MeshTransport:
    """Carries messages between cores of a ``Mesh``; install with ``Runtime(mesh=...)``.

    Keeps per-link reservations in cycles (when each link is next free), an arrival queue
    ordered by (time, sequence) so that simultaneous arrivals keep their send order, and one
    loop timer for the earliest arrival.
    """

    def __init__(
        self,
        mesh: Mesh,
        loop: asyncio.AbstractEventLoop,
        *,
        virtual: bool,
        real_delay_threshold: float = 1e-3,
        real_slowdown: float = 1.0,
        latency_samples: int = 4096,
    ) -> None:
        self.mesh = mesh
        self._loop = loop
        self._virtual = virtual
        self._threshold = real_delay_threshold
        self._slowdown = real_slowdown
        self._link_free: dict[tuple[int, int, int, str, int], float] = {}
        self._link_bytes: dict[tuple[int, int, int, str, int], list[int]] = {}
        self._eth_free: dict[tuple[int, int], float] = {}
        self._pair_last: dict[tuple[Pid, Pid], float] = {}
        self._prune_at = 4096
        self._pending: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._start = loop.time()
        self._failed_cores: set[int] = set()
        self._failed_links: set[tuple[int, int, int, str, int]] = set()
        self._slow: dict[int, float] = {}
        self._hops: dict[int, int] = {}
        self._latencies: list[float] = []
        self._pair_latencies: dict[tuple[int, int], list[float]] = {}
        self._samples = latency_samples
        self.messages = 0
        self.same_core = 0
        self.packets = 0
        self.bytes = 0

    # Faults ----------------------------------------------------------------------------------

    def fail_core(self, core: int) -> None:
        """Mark ``core`` failed: placement avoids it; messages to it are refused (``Unreachable``)."""
        self.mesh.locate(core)
        self._failed_cores.add(core)

    def restore_core(self, core: int) -> None:
        self._failed_cores.discard(core)

    def core_failed(self, core: int) -> bool:
        return core in self._failed_cores

    def fail_link(self, chip: int, x: int, y: int, direction: str, noc: int = 0) -> None:
        """Mark one link failed; routes over it take the other NoC when that avoids it."""
        self._failed_links.add((chip, x, y, direction, noc))

    def restore_link(self, chip: int, x: int, y: int, direction: str, noc: int = 0) -> None:
        self._failed_links.discard((chip, x, y, direction, noc))

    def slow_core(self, core: int, factor: float) -> None:
        """Messages to ``core`` take ``factor`` times longer (1.0 restores it)."""
        if not (math.isfinite(factor) and factor >= 1.0):
            raise ValueError(f"factor must be a finite number >= 1 (got {factor!r})")
        if factor == 1.0:
            self._slow.pop(core, None)
        else:
            self._slow[core] = factor

    # Carrying --------------------------------------------------------------------------------

    def carry(self, sender: Pid, target: Pid, kind: str, item: Any, arrive: Callable[[], None]) -> None:
        """Send ``item`` from ``sender``'s core to ``target``'s core; ``arrive()`` when it gets there.

        Raises:
            Unreachable: the target's core failed, or every route to it crosses a failed link.
        """
        self.messages += 1
        src, dst = sender.core, target.core
        if dst in self._failed_cores and kind not in CONTROL:
            raise Unreachable(target, f"core {dst} failed")
        if src == dst:
            self.same_core += 1
            arrive()
            return
        now = self._loop.time()
        start_cycles = (now - self._start) * self.mesh.clock_hz
        size = payload_bytes(item)
        try:
            done = self._send_packets(src, dst, size, start_cycles, target)
        except Unreachable:
            if kind not in CONTROL:
                raise
            arrive()  # exits, downs and replies are never lost to a dead link: see CONTROL
            return
        seconds = (done - start_cycles) / self.mesh.clock_hz
        seconds += self._ethernet(src, dst, size, now)
        seconds *= self._slow.get(dst, 1.0)
        pair = (sender, target)
        pair_last = self._pair_last
        when = max(now + seconds, pair_last.get(pair, 0.0))
        if len(pair_last) >= self._prune_at:
            # A pair's last arrival only orders a later message while it is still ahead: forget
            # those already arrived, or every pair of pids ever seen would be kept for good.
            self._pair_last = pair_last = {p: t for p, t in pair_last.items() if t > now}
            self._prune_at = max(4096, 2 * len(pair_last))
        pair_last[pair] = when
        self._record_latency(src, dst, when - now)
        if not self._virtual and when - now < self._threshold:
            arrive()
            return
        if not self._virtual:
            when = now + (when - now) * self._slowdown
        heapq.heappush(self._pending, (when, next(self._sequence), arrive))
        self._arm()

    def _send_packets(self, src: int, dst: int, size: int, start: float, target: Pid) -> float:
        """Reserve the links of every packet of a ``size``-byte message; returns the last arrival cycle."""
        mesh = self.mesh
        src_chip, sx, sy = mesh.locate(src)
        dst_chip, dx, dy = mesh.locate(dst)
        # Across chips a message crosses its own chip to the Ethernet edge and the far chip from
        # it; the model keeps both chips' routes to and from the router at the same position.
        a, b = (sx, sy), (dx, dy)
        noc, links = self._choose_route(src_chip, a, b, target)
        data_flits = max(1, math.ceil(size / mesh.flit_bytes))
        done = start
        remaining = data_flits
        t = start
        while remaining > 0:
            flits = min(remaining, mesh.max_packet_flits) + 1  # data plus a header flit
            remaining -= flits - 1
            head = t + mesh.inject_cycles
            for link in links:
                key = (src_chip, *link, noc)
                head = max(head + mesh.hop_cycles, self._link_free.get(key, 0.0))
                self._link_free[key] = head + flits
                counts = self._link_bytes.setdefault(key, [0, 0, 0])
                counts[0] += flits * mesh.flit_bytes
                counts[1] += 1
                counts[2] += flits
            done = max(done, head + flits - 1 + mesh.inject_cycles)  # the tail, flits - 1 behind
            t += flits  # the next packet enters behind this one's tail
            self.packets += 1
        self.bytes += size
        self._hops[len(links)] = self._hops.get(len(links), 0) + 1
        return done

    def _choose_route(self, chip: int, a: tuple[int, int], b: tuple[int, int], target: Pid) -> tuple[int, list[tuple[int, int, Direction]]]:
        mesh = self.mesh
        options = [0, 1] if mesh.topology == "noc" else [0]
        routes = sorted((len(r := mesh.route(a, b, noc)), noc, r) for noc in options)
        for _, noc, links in routes:
            if not any((chip, *link, noc) in self._failed_links for link in links):
                return noc, links
        raise Unreachable(target, "every route crosses a failed link")

    def _ethernet(self, src: int, dst: int, size: int, now: float) -> float:
        """Seconds spent on Ethernet between chips (latency per chip hop, serialised per chip pair)."""
        mesh = self.mesh
        a, b = src // mesh.cores_per_chip, dst // mesh.cores_per_chip
        if a == b:
            return 0.0
        hops = mesh.chip_hops(a, b)
        wire = size / mesh.ethernet_bytes_per_second
        key = (min(a, b), max(a, b))
        begin = max(now, self._eth_free.get(key, 0.0))
        self._eth_free[key] = begin + wire
        return (begin - now) + hops * mesh.ethernet_seconds + wire

    def _arm(self) -> None:
        first = self._pending[0][0]
        if self._timer is not None:
            if self._timer.when() <= first:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(first, self._deliver_due)

    def _deliver_due(self) -> None:
        self._timer = None
        now = self._loop.time()
        pending = self._pending
        while pending and pending[0][0] <= now:
            _, _, arrive = heapq.heappop(pending)
            arrive()
        if pending:
            self._arm()

    def _record_latency(self, src: int, dst: int, seconds: float) -> None:
        samples = self._latencies
        if len(samples) < self._samples:
            samples.append(seconds)
        pair = self._pair_latencies.setdefault((src, dst), [])
        if len(pair) < self._samples:
            pair.append(seconds)

    def tracked_pairs(self) -> int:
        """Sender/receiver pairs whose order is still tracked (bounded: arrived pairs are pruned)."""
        return len(self._pair_last)

    def next_arrival(self) -> float | None:
        """When the next message on its way arrives (loop time), or ``None``."""
        return self._pending[0][0] if self._pending else None

    def statistics(self) -> MeshStatistics:
        """Per-link bytes and utilisation, the hop histogram, latency percentiles (seconds)."""
        elapsed = max(1, int((self._loop.time() - self._start) * self.mesh.clock_hz))
        links = tuple(
            LinkStatistics(chip, x, y, direction, noc, counts[0], counts[1], counts[2], min(1.0, counts[2] / elapsed))
            for (chip, x, y, direction, noc), counts in sorted(self._link_bytes.items())
        )
        pairs = tuple(
            (src, dst, len(values), *_percentiles(values))
            for (src, dst), values in sorted(self._pair_latencies.items())
        )
        p50, p99 = _percentiles(self._latencies)
        return MeshStatistics(
            messages=self.messages,
            same_core=self.same_core,
            packets=self.packets,
            bytes=self.bytes,
            elapsed_cycles=elapsed,
            links=links,
            hop_histogram=tuple(sorted(self._hops.items())),
            latency_p50=p50,
            latency_p99=p99,
            latency_by_pair=pairs,  # type: ignore[arg-type]
        )


def _percentiles(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    array = np.asarray(values)
    return float(np.percentile(array, 50)), float(np.percentile(array, 99))

