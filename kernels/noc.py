"""Cycle-level network-on-chip simulator: input-buffered virtual-channel routers, credits, wormhole.

The model (after BookSim2's input-queued router, Dally & Towles ch. 16-17 and 23):

* **Topology and routing**: those of ``noc_topology`` (mesh, torus, Tenstorrent's one-way
  torus; dimension order, XY on NoC 0, YX on NoC 1). Every router has five input ports (four
  link directions and the injection channel from its node's interface unit) and five output
  ports (four link directions and the ejection channel).
* **Packets** are ``flits`` flits (a header, then body flits, the last one the tail) and
  travel in wormhole fashion: the header reserves a virtual channel hop by hop, the body
  follows in it, and the tail releases it.
* **Virtual channels**: every input port has ``vcs`` VCs of ``buffer_depth`` flits. On a
  torus (either kind) the VCs split into two dateline classes, as BookSim's
  ``dim_order_torus`` does: a packet uses the lower half in a dimension until it takes that
  dimension's wrap-around link, the upper half from that link on, and the lower half again in
  the next dimension. That breaks the rings' cyclic buffer dependencies, so dimension-order
  routing is deadlock-free; on a mesh every packet may use every VC.
* **Flow control** is credit-based: a flit leaves only into a downstream VC buffer with a
  free slot whose credit has come back. A flit that leaves a buffer at cycle ``t`` frees its
  slot for the upstream sender from cycle ``t + credit_cycles``.
* **A cycle**: each interface unit sends at most one flit of the packet at the head of its
  source queue (infinite, first come first served) into its router's injection port, taking a
  free injection VC for a header. Each router then allocates its switch, separable and
  input-first (BookSim's default): every input port picks one of its VCs whose front flit has
  arrived and can go (a header needs a free VC of the right class with a credit at its output,
  a body flit a credit in its packet's VC; the ejection port always accepts), round-robin
  from the VC after the last one granted; every output port grants one of the input ports
  asking for it, round-robin likewise. A header is routed and allocated its VC in the cycle it
  first asks (routing, VC and switch allocation are one step). A VC is free again once the
  tail has left the upstream router, so a new packet can queue behind the old one's tail.
* **Timing**: a flit sent on a link at cycle ``t`` may leave the next router from
  ``t + hop_cycles``; the router's pipeline is inside ``hop_cycles`` (Tenstorrent quotes 9
  cycles router to router). Injection and ejection channels take ``inject_cycles``. Every
  channel carries one flit per cycle. A lone packet's latency is therefore exactly
  ``zero_load_latency(hops, flits, hop_cycles, inject_cycles)``.

Not modelled: multicast, read requests and their responses, ordering flags, DRAM and other
non-core tiles' behaviour, adaptive routing, router speedup, and Tenstorrent's real buffer
sizes and arbitration (not public).

Measurement (Dally & Towles §23.2): packets are created from cycle 0; the packets created in
``[warmup, warmup + measure)`` are measured, and the run goes on (still injecting) until all
of them have arrived or ``drain`` more cycles have passed. Accepted throughput counts the flits
arriving at their destination in the measurement window.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal, NamedTuple

import numba
# numba's count-trailing-zeros (one instruction): picks round-robin winners from bitmasks
from numba.cpython.unsafe.numbers import trailing_zeros as _ctz
import numpy as np

from .noc_topology import (
    BLACKHOLE,
    EJECT,
    TOPOLOGIES,
    WORMHOLE_B0,
    Chip,
    RouteTable,
    Topology,
    hop_count,
    link_endpoints,
    node_coords,
    route,
    route_table,
    zero_load_latency,
)
from .noc_traffic import PATTERNS, Pattern, bernoulli_packets, permutation

__all__ = [
    "BLACKHOLE",
    "EJECT",
    "PATTERNS",
    "TOPOLOGIES",
    "WORMHOLE_B0",
    "Chip",
    "Network",
    "NocStats",
    "Pattern",
    "RouteTable",
    "Topology",
    "TraceResult",
    "chip_network",
    "hop_count",
    "link_endpoints",
    "node_coords",
    "permutation",
    "route",
    "route_table",
    "run_trace",
    "saturation_rate",
    "simulate",
    "sweep",
    "zero_load_latency",
]

#: Packets are at most this many flits (a flit is stored as ``packet << 16 | flit index``).
MAX_PACKET_FLITS = 1 << 16


class Network(NamedTuple):
    """A simulated network: topology, grid, which NoC, and the routers' parameters.

    ``vcs`` VCs of ``buffer_depth`` flits per input port; ``vcs`` must be even and ``>= 2`` on
    a torus (two dateline classes). The defaults are a textbook router: one-cycle hops and
    credits, so 8 flits per VC cover the credit round trip.
    """

    topology: Topology = "mesh"
    kx: int = 8
    ky: int = 8
    noc: int = 0
    vcs: int = 4
    buffer_depth: int = 8
    hop_cycles: int = 1
    inject_cycles: int = 1
    credit_cycles: int = 1


def chip_network(chip: Chip, noc: int = 0, vcs: int = 8) -> Network:
    """One NoC of a Tenstorrent chip over its whole NoC grid.

    Documented: the grid, one-way torus, 9-cycle hops, 5-cycle injection and ejection.
    Assumed (not public): credits take a hop's 9 cycles back; ``buffer_depth`` covers the
    credit round trip ``2 * hop_cycles + 1`` so one VC alone can stream a flit per cycle; 8
    VCs are the unicast-request VCs of the four-bit VC number (dateline bit, two request
    classes, buddy bit).
    """
    return Network(
        "one_way_torus", chip.kx, chip.ky, noc, vcs, 2 * chip.hop_cycles + 2,
        chip.hop_cycles, chip.inject_cycles, chip.hop_cycles,
    )


class NocStats(NamedTuple):
    """One synthetic-traffic run. Rates are flits per cycle per node; latencies in cycles.

    ``offered`` and ``accepted`` are the flits created and the flits delivered in the
    measurement window; ``generated`` and ``delivered`` count them per source node, and
    ``worst_delivery`` is the lowest ``delivered / generated`` of a source (below 1 by more
    than noise when a source's packets cannot all get through: the network is saturated for
    it). Latencies are over the measured packets that arrived: ``latency_*`` from creation to
    the tail's arrival, ``network_latency_mean`` from the header leaving the source queue.
    ``undelivered`` measured packets had not arrived when the run stopped. ``link_load`` is
    each link id's flits per cycle in the window; ``cycles`` and ``flit_hops`` (flits times
    router-to-router links crossed) count the whole run.
    """

    offered: float
    accepted: float
    latency_mean: float
    latency_p99: float
    network_latency_mean: float
    packets: int
    undelivered: int
    worst_delivery: float
    generated: np.ndarray
    delivered: np.ndarray
    link_load: np.ndarray
    cycles: int
    flit_hops: int


class TraceResult(NamedTuple):
    """A trace run: per packet, the cycle its header left the source queue (``sent``) and the
    cycle its tail arrived (``arrived``; -1 if it had not by ``max_cycles``), per link id the
    flits carried, and the run's ``cycles`` and ``flit_hops``."""

    sent: np.ndarray
    arrived: np.ndarray
    link_flits: np.ndarray
    cycles: int
    flit_hops: int


# The cycle loop ------------------------------------------------------------------------------


# Per buffer, one 64-byte row of ``state``: the ring's head slot and flit count, the credits its
# sender still has, the cycle its front flit arrives (or later), then for the packet at its
# front: the output port (-1: not routed yet), the VCs its class may take there (a bitmask) and
# the downstream buffer it holds (-1: none yet).
_HEAD, _COUNT, _CREDITS, _FRONT, _PORT, _CLASS, _TARGET = 0, 1, 2, 3, 4, 5, 6
_FIELDS = 8


@numba.njit(cache=True, nogil=True, inline="always")
def _push(state, b, value, arrives, slots, depth):  # pragma: no cover - compiled
    used = state[b, _COUNT]
    slot = state[b, _HEAD] + used
    if slot >= depth:
        slot -= depth
    slots[b * depth + slot, 0] = value
    slots[b * depth + slot, 1] = arrives
    if used == 0:
        state[b, _FRONT] = arrives
    state[b, _COUNT] = used + 1
    state[b, _CREDITS] -= 1


@numba.njit(cache=True, nogil=True)
def _run(
    mesh, nodes, vcs, depth, hop_cycles, inject_cycles, credit_cycles,
    next_port, link_dst, link_wrap,
    pkt_src, pkt_dst, pkt_time, pkt_flits, first,
    window_start, window_end, end_cycle, measured,
    sent, arrived, delivered, link_flits,
):  # pragma: no cover - compiled
    """Simulates until the measured packets have arrived (after the window) or ``end_cycle``.

    Buffers are indexed by ``port * vcs + vc`` with ``port = node * 5 + input port`` of the
    receiving router (input port = the direction the link flows, 4 = injection), so a router's
    input stage reads one contiguous block. A flit enters its downstream buffer when sent,
    stamped with the cycle it arrives, so links need no pipeline of their own. A credit freed
    at cycle ``t`` waits in a queue until ``t + credit_cycles``. Per port, bitmasks say which
    VCs hold flits (``occupied``) and which no packet holds (``free``).
    Returns ``(cycles simulated, flit-hops)``.
    """
    ports = 5 * nodes
    buffers = ports * vcs
    slots = np.zeros((buffers * depth, 2), dtype=np.int64)  # each slot: flit, cycle it arrives
    state = np.zeros((buffers, _FIELDS), dtype=np.int64)
    state[:, _CREDITS] = depth
    state[:, _PORT] = -1
    state[:, _TARGET] = -1
    all_vcs = (np.int64(1) << vcs) - 1
    occupied = np.zeros(ports, dtype=np.int64)
    free = np.full(ports, all_vcs, dtype=np.int64)
    # credits on their way back: a ring of (cycle due, buffer), due cycles never decreasing
    pending = (credit_cycles + 1) * 5 * nodes + 1
    credit_due = np.zeros(pending, dtype=np.int64)
    credit_buffer = np.zeros(pending, dtype=np.int64)
    credit_first = 0
    credit_count = 0
    width = vcs if mesh else vcs // 2
    low_class = (np.int64(1) << width) - 1

    down = np.full(4 * nodes, -1, dtype=np.int64)  # per link: the port it feeds
    for link in range(4 * nodes):
        if link_dst[link] >= 0:
            down[link] = link_dst[link] * 5 + (link & 3)
    in_rr = np.zeros(nodes * 5, dtype=np.int64)
    out_rr = np.zeros(nodes * 5, dtype=np.int64)
    router_flits = np.zeros(nodes, dtype=np.int64)

    queue_next = first[:-1].copy()
    next_time = np.full(nodes, end_cycle, dtype=np.int64)  # creation of the next queued packet
    for node in range(nodes):
        if first[node] < first[node + 1]:
            next_time[node] = pkt_time[first[node]]
    current = np.full(nodes, -1, dtype=np.int64)
    current_flit = np.zeros(nodes, dtype=np.int64)
    current_buffer = np.full(nodes, -1, dtype=np.int64)

    asked = np.zeros(5, dtype=np.int64)  # per output port: a bit per input port asking for it
    want_buffer = np.empty(5, dtype=np.int64)  # per input port: its chosen VC's buffer
    want_target = np.empty(5, dtype=np.int64)  # and the downstream buffer it would enter

    flit_hops = 0
    left = measured
    t = 0
    # The loop: one iteration per cycle. Credits due come back, interface units inject, then
    # every router with flits allocates its switch and moves the winners.
    while t < end_cycle:
        while credit_count > 0 and credit_due[credit_first] <= t:
            state[credit_buffer[credit_first], _CREDITS] += 1
            credit_first = credit_first + 1 if credit_first + 1 < pending else 0
            credit_count -= 1

        for node in range(nodes):
            p = current[node]
            if p < 0:
                if next_time[node] > t:
                    continue
                p = queue_next[node]
                queue_next[node] = p + 1
                next_time[node] = pkt_time[p + 1] if p + 1 < first[node + 1] else end_cycle
                current[node] = p
                current_flit[node] = 0
                current_buffer[node] = -1
            b = current_buffer[node]
            port = node * 5 + 4
            if b < 0:
                for v in range(vcs):
                    if (free[port] >> v) & 1 and state[port * vcs + v, _CREDITS] > 0:
                        b = port * vcs + v
                        break
                if b < 0:
                    continue
                free[port] &= ~(np.int64(1) << (b - port * vcs))
                current_buffer[node] = b
                sent[p] = t
            elif state[b, _CREDITS] == 0:
                continue
            index = current_flit[node]
            _push(state, b, (p << 16) | index, t + inject_cycles, slots, depth)
            occupied[port] |= np.int64(1) << (b - port * vcs)
            router_flits[node] += 1
            if index + 1 == pkt_flits[p]:
                free[port] |= np.int64(1) << (b - port * vcs)
                current[node] = -1
            else:
                current_flit[node] = index + 1

        for r in range(nodes):
            if router_flits[r] == 0:
                continue
            # input stage: each input port picks one VC that can go, round-robin
            outputs = 0
            for i in range(5):
                port = r * 5 + i
                mask = occupied[port]
                if mask == 0:
                    continue
                start = in_rr[r * 5 + i]
                rot = ((mask >> start) | (mask << (vcs - start))) & all_vcs
                while rot != 0:
                    v = start + _ctz(rot)
                    rot &= rot - 1
                    if v >= vcs:
                        v -= vcs
                    b = port * vcs + v
                    if state[b, _FRONT] > t:
                        continue
                    o = state[b, _PORT]
                    if o < 0:  # a header at the front: route it
                        header = slots[b * depth + state[b, _HEAD], 0]
                        o = next_port[r * nodes + pkt_dst[header >> 16]]
                        state[b, _PORT] = o
                        if mesh or o == 4:
                            state[b, _CLASS] = all_vcs
                        elif (i < 4 and (i >> 1) == (o >> 1) and v >= width) or link_wrap[4 * r + o]:
                            state[b, _CLASS] = low_class << width
                        else:
                            state[b, _CLASS] = low_class
                    tgt = -1
                    if o != 4:
                        tgt = state[b, _TARGET]
                        if tgt >= 0:
                            if state[tgt, _CREDITS] == 0:
                                continue
                        else:
                            next_in = down[4 * r + o]
                            choice = free[next_in] & state[b, _CLASS]
                            if choice == 0:
                                continue
                            for c in range(vcs):
                                if (choice >> c) & 1 and state[next_in * vcs + c, _CREDITS] > 0:
                                    tgt = next_in * vcs + c
                                    break
                            if tgt < 0:
                                continue
                    asked[o] |= 1 << i
                    outputs |= 1 << o
                    want_buffer[i] = b
                    want_target[i] = tgt
                    break
            # output stage: each output port grants one asking input, round-robin
            while outputs != 0:
                o = _ctz(outputs)
                outputs &= outputs - 1
                m = asked[o]
                asked[o] = 0
                rr = out_rr[r * 5 + o]
                i = rr + _ctz(((m >> rr) | (m << (5 - rr))) & 31)
                if i >= 5:
                    i -= 5
                b = want_buffer[i]
                port = r * 5 + i
                v = b - port * vcs
                front = state[b, _HEAD]
                value = slots[b * depth + front, 0]
                front = front + 1 if front + 1 < depth else 0
                state[b, _HEAD] = front
                state[b, _COUNT] -= 1
                if state[b, _COUNT] == 0:
                    occupied[port] &= ~(np.int64(1) << v)
                else:
                    state[b, _FRONT] = slots[b * depth + front, 1]
                router_flits[r] -= 1
                slot = credit_first + credit_count
                if slot >= pending:
                    slot -= pending
                credit_due[slot] = t + credit_cycles
                credit_buffer[slot] = b
                credit_count += 1
                p = value >> 16
                tail = (value & 0xFFFF) + 1 == pkt_flits[p]
                if o == 4:
                    arrives = t + inject_cycles
                    if window_start <= arrives < window_end:
                        delivered[pkt_src[p]] += 1
                    if tail:
                        arrived[p] = arrives
                        if window_start <= pkt_time[p] < window_end:
                            left -= 1
                else:
                    tgt = want_target[i]
                    link = 4 * r + o
                    next_in = down[link]
                    bit = np.int64(1) << (tgt - next_in * vcs)
                    if state[b, _TARGET] < 0:
                        state[b, _TARGET] = tgt
                        free[next_in] &= ~bit
                    _push(state, tgt, value, t + hop_cycles, slots, depth)
                    occupied[next_in] |= bit
                    router_flits[link_dst[link]] += 1
                    flit_hops += 1
                    if window_start <= t < window_end:
                        link_flits[link] += 1
                    if tail:
                        free[next_in] |= bit
                if tail:
                    state[b, _PORT] = -1
                    state[b, _TARGET] = -1
                in_rr[r * 5 + i] = v + 1 if v + 1 < vcs else 0
                out_rr[r * 5 + o] = i + 1 if i < 4 else 0
        t += 1
        if left == 0 and t >= window_end:
            break
    return t, flit_hops


# Running it ----------------------------------------------------------------------------------


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if type(value) is not int or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an int {bound} (got {value!r})")


def _check_network(net: object) -> None:
    if not isinstance(net, Network):
        raise ValueError(f"net must be a Network (got {type(net).__name__})")
    if net.topology not in TOPOLOGIES:
        raise ValueError(
            f"net.topology must be one of {', '.join(map(repr, TOPOLOGIES))} (got {net.topology!r})"
        )
    _check_int("net.kx", net.kx, 1, 4096)
    _check_int("net.ky", net.ky, 1, 4096)
    if net.noc not in (0, 1) or type(net.noc) is not int:
        raise ValueError(f"net.noc must be 0 or 1 (got {net.noc!r})")
    _check_int("net.vcs", net.vcs, 1, 32)
    if net.topology != "mesh" and net.vcs % 2:
        raise ValueError(
            f"net.vcs must be even on a {net.topology} (two dateline classes) (got {net.vcs})"
        )
    for name in ("buffer_depth", "hop_cycles", "inject_cycles", "credit_cycles"):
        _check_int(f"net.{name}", getattr(net, name), 1)


def _tables(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The simulator's view of the topology: next-port table (flat), link targets, wrap links."""
    table = route_table(net.topology, net.kx, net.ky, net.noc)
    _, link_dst = link_endpoints(net.topology, net.kx, net.ky, net.noc)
    x, y = node_coords(net.kx, np.repeat(np.arange(net.kx * net.ky), 4))
    direction = np.tile(np.arange(4), net.kx * net.ky)
    wrap = (
        ((direction == 0) & (x == net.kx - 1)) | ((direction == 1) & (x == 0))
        | ((direction == 2) & (y == net.ky - 1)) | ((direction == 3) & (y == 0))
    )
    return table.next_port.reshape(-1), link_dst, wrap & (link_dst >= 0)


def _execute(
    net: Network, src: np.ndarray, dst: np.ndarray, time: np.ndarray, flits: np.ndarray,
    window_start: int, window_end: int, end_cycle: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Runs packets given grouped by source in creation order; returns
    ``(sent, arrived, delivered, link_flits, cycles, flit_hops)``."""
    nodes = net.kx * net.ky
    next_port, link_dst, wrap = _tables(net)
    first = np.zeros(nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=nodes), out=first[1:])
    measured = int(np.count_nonzero((time >= window_start) & (time < window_end)))
    sent = np.full(src.size, -1, dtype=np.int64)
    arrived = np.full(src.size, -1, dtype=np.int64)
    delivered = np.zeros(nodes, dtype=np.int64)
    link_flits = np.zeros(4 * nodes, dtype=np.int64)
    cycles, flit_hops = _run(
        net.topology == "mesh", nodes, net.vcs, net.buffer_depth, net.hop_cycles,
        net.inject_cycles, net.credit_cycles, next_port, link_dst, wrap,
        src, dst, time, flits, first, window_start, window_end, end_cycle, measured,
        sent, arrived, delivered, link_flits,
    )
    return sent, arrived, delivered, link_flits, int(cycles), int(flit_hops)


def _check_packets(
    name: str, values: object, nodes: int | None = None, low: int = 0, size: int | None = None
) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D integer array (got {array.dtype} of shape {array.shape})")
    if size is not None and array.size != size:
        raise ValueError(f"{name} must have the length of src, {size} (got {array.size})")
    if array.size and array.min() < low:
        raise ValueError(f"{name} must be >= {low} (got {array.min()})")
    high = nodes if nodes is not None else MAX_PACKET_FLITS + 1 if name == "flits" else None
    if high is not None and array.size and array.max() >= high:
        raise ValueError(f"{name} must be < {high} (got {array.max()})")
    return array.astype(np.int64)


def run_trace(
    net: Network,
    src: np.ndarray,
    dst: np.ndarray,
    time: np.ndarray,
    flits: np.ndarray,
    max_cycles: int | None = None,
) -> TraceResult:
    """Simulates given packets: each enters its source's queue at its creation cycle.

    A source sends its packets in creation order (equal cycles in the given order).

    Args:
        net: the network.
        src, dst: ``(P,)`` node ids.
        time: ``(P,)`` creation cycles, ``>= 0``.
        flits: ``(P,)`` flits per packet including the header, 1 to 65536.
        max_cycles: stop here even if packets are still travelling; by default a bound no
            deadlock-free run reaches (every flit crossing every hop alone, one at a time).

    Returns:
        A ``TraceResult``; ``arrived[p] - time[p]`` is packet ``p``'s latency.
    """
    _check_network(net)
    nodes = net.kx * net.ky
    src = _check_packets("src", src, nodes)
    dst = _check_packets("dst", dst, nodes, size=src.size)
    time = _check_packets("time", time, size=src.size)
    flits = _check_packets("flits", flits, low=1, size=src.size)
    if max_cycles is None:
        hops = hop_count(net.topology, net.kx, net.ky, src, dst, net.noc)
        slowest = max(net.hop_cycles, net.inject_cycles, net.credit_cycles) + 1
        max_cycles = int(time.max(initial=0)) + 1 + int((flits * (hops + 2)).sum()) * slowest
    _check_int("max_cycles", max_cycles, 0)
    order = np.lexsort((time, src))
    end = int(time.max(initial=-1)) + 1
    sent, arrived, _, link_flits, cycles, flit_hops = _execute(
        net, src[order], dst[order], time[order], flits[order], 0, end, max_cycles
    )
    back = np.empty_like(order)
    back[order] = np.arange(order.size)
    return TraceResult(sent[back], arrived[back], link_flits, cycles, flit_hops)


def simulate(
    net: Network,
    pattern: Pattern,
    rate: float,
    *,
    unit: Literal["flits", "packets"] = "flits",
    packet_flits: int = 4,
    warmup: int = 1000,
    measure: int = 4000,
    drain: int | None = None,
    seed: int = 0,
    hotspot: int | None = None,
    hotspot_fraction: float = 1.0,
) -> NocStats:
    """Runs synthetic traffic at an offered load and measures throughput and latency.

    Args:
        net: the network.
        pattern: ``"uniform"`` (self-traffic included), ``"transpose"``,
            ``"bit_complement"``, ``"tornado"`` or ``"hotspot"`` (see ``noc_traffic``).
        rate: offered load per node per cycle, in flits (``unit="flits"``) or packets; each
            node creates a packet in a cycle with probability ``rate / packet_flits`` (or
            ``rate``), which must be at most 1.
        unit: ``"flits"`` or ``"packets"``.
        packet_flits: flits per packet including the header, 1 to 65536.
        warmup, measure: cycles before and of the measurement window.
        drain: most cycles to run after the window for measured packets to arrive
            (default ``measure``).
        seed: seeds the packet generator; equal seeds give identical results.
        hotspot: the hotspot pattern's node (default the grid's centre ``(kx//2, ky//2)``).
        hotspot_fraction: share of packets sent to the hotspot, in ``[0, 1]``.

    Returns:
        ``NocStats``.
    """
    _check_network(net)
    nodes = net.kx * net.ky
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {', '.join(map(repr, PATTERNS))} (got {pattern!r})")
    if unit not in ("flits", "packets"):
        raise ValueError(f"unit must be 'flits' or 'packets' (got {unit!r})")
    _check_int("packet_flits", packet_flits, 1, MAX_PACKET_FLITS)
    if not isinstance(rate, Real) or isinstance(rate, bool) or not math.isfinite(rate) or rate < 0:
        raise ValueError(f"rate must be a finite number >= 0 (got {rate!r})")
    p = rate / packet_flits if unit == "flits" else float(rate)
    if p > 1:
        raise ValueError(
            f"rate must be at most one packet per cycle per node: {packet_flits} flits (got {rate!r} {unit})"
        )
    _check_int("warmup", warmup, 0)
    _check_int("measure", measure, 1)
    drain = measure if drain is None else drain
    _check_int("drain", drain, 0)
    _check_int("seed", seed, 0)
    hotspot = (net.ky // 2) * net.kx + net.kx // 2 if hotspot is None else hotspot
    _check_int("hotspot", hotspot, 0, nodes - 1)
    if not isinstance(hotspot_fraction, Real) or not 0 <= hotspot_fraction <= 1:
        raise ValueError(f"hotspot_fraction must be a number in [0, 1] (got {hotspot_fraction!r})")
    if pattern == "transpose":
        permutation(pattern, net.kx, net.ky)  # refuses a grid that is not square

    window_start, window_end = warmup, warmup + measure
    end_cycle = window_end + drain
    src, dst, time = bernoulli_packets(
        np.random.default_rng(seed), pattern, net.kx, net.ky, p, end_cycle, hotspot,
        float(hotspot_fraction),
    )
    flits = np.full(src.size, packet_flits, dtype=np.int64)
    sent, arrived, delivered, link_flits, cycles, flit_hops = _execute(
        net, src, dst, time, flits, window_start, window_end, end_cycle
    )
    in_window = (time >= window_start) & (time < window_end)
    generated = np.bincount(src[in_window], minlength=nodes) * packet_flits
    done = in_window & (arrived >= 0)
    latency = (arrived - time)[done]
    network_latency = (arrived - sent)[done]
    active = generated > 0
    worst = float((delivered[active] / generated[active]).min()) if active.any() else 1.0
    return NocStats(
        offered=float(generated.sum()) / (nodes * measure),
        accepted=float(delivered.sum()) / (nodes * measure),
        latency_mean=float(latency.mean()) if latency.size else math.nan,
        latency_p99=float(np.percentile(latency, 99)) if latency.size else math.nan,
        network_latency_mean=float(network_latency.mean()) if latency.size else math.nan,
        packets=int(in_window.sum()),
        undelivered=int(in_window.sum() - done.sum()),
        worst_delivery=worst,
        generated=generated,
        delivered=delivered,
        link_load=link_flits / measure,
        cycles=cycles,
        flit_hops=flit_hops,
    )


def sweep(net: Network, pattern: Pattern, rates: list[float], **options: object) -> list[NocStats]:
    """``simulate`` at each offered rate, with the same seed (common random numbers, so the
    curve is smooth); ``options`` are ``simulate``'s keyword arguments."""
    return [simulate(net, pattern, rate, **options) for rate in rates]


def saturation_rate(
    net: Network,
    pattern: Pattern,
    *,
    high: float = 1.0,
    threshold: float = 0.95,
    steps: int = 8,
    **options: object,
) -> float:
    """The highest offered load (flits per cycle per node) the network carries, by bisection.

    A load is carried when every source delivers at least ``threshold`` of the flits it
    created in the measurement window (``NocStats.worst_delivery``); this catches a pattern
    whose bottleneck starves only some sources, which the average accepted rate hides.

    Args:
        net, pattern: as ``simulate``.
        high: the largest load to consider.
        threshold: in ``(0, 1]``.
        steps: bisection steps (resolution ``high / 2**steps``).
        options: ``simulate``'s other keyword arguments (``unit`` must stay flits).

    Returns:
        The last carried load found (0.0 if none).
    """
    if not isinstance(threshold, Real) or not 0 < threshold <= 1:
        raise ValueError(f"threshold must be a number in (0, 1] (got {threshold!r})")
    _check_int("steps", steps, 1, 60)
    low = 0.0
    for _ in range(steps):
        middle = (low + high) / 2
        if simulate(net, pattern, middle, **options).worst_delivery >= threshold:
            low = middle
        else:
            high = middle
    return low
