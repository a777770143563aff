"""Cycle-level network-on-chip simulator: input-buffered virtual-channel routers, credits, wormhole.

The model (after BookSim2's input-queued router and Dally & Towles, *Principles and Practices
of Interconnection Networks*, ch. 16, 19 and 23):

* **Topology and routing**: those of ``noc_topology`` (mesh, torus, Tenstorrent's one-way
  torus; dimension order, X then Y on NoC 0, Y then X on NoC 1). Every router has five input
  ports (four link directions and the injection channel from its node's interface unit) and
  five output ports (four link directions and the ejection channel).
* **Packets** are ``flits`` flits, a header first and the tail last, and travel wormhole
  fashion: the header takes a virtual channel hop by hop, the body follows in it, and the
  tail gives it back.
* **Virtual channels**: every input port has ``vcs`` VCs of ``buffer_depth`` flits. On a
  torus (either kind) they split into two dateline classes, as BookSim's ``dim_order_torus``
  does: a packet uses the lower half in a dimension until it takes that dimension's
  wrap-around link, the upper half from that link on, and the lower half again in the next
  dimension. That breaks the rings' cyclic buffer dependencies, so dimension-order routing is
  deadlock-free. On a mesh every packet may use every VC.
* **Flow control** is credit-based: a flit leaves only into a downstream VC with a free slot
  whose credit has come back; a slot freed at cycle ``t`` is usable upstream from
  ``t + credit_cycles``.
* **A cycle**: each interface unit sends at most one flit of the packet at the head of its
  source queue (infinite, first come first served) into its router's injection port, taking
  a free injection VC for a header. Each router then allocates its switch, separable and
  input first (BookSim's ``separable_input_first``): every input port picks one of its VCs
  whose front flit has arrived and can go (a header needs a free VC of its class with a
  credit at its output port, a body flit a credit in its packet's VC; the ejection port
  always accepts), round-robin from the VC after the last one granted; every output port
  grants one asking input port, round-robin likewise. Ports left unmatched try again, for
  ``switch_iterations`` rounds in all (iSLIP's iterations). A header is routed and given its
  VC in the cycle it first wins (routing, VC and switch allocation are one step; the
  lowest-numbered eligible VC). A VC is free again once the tail has left the upstream
  router, so a new packet can queue behind the previous one's tail.
* **Timing**: a flit sent on a link at cycle ``t`` may leave the next router from
  ``t + hop_cycles``; the router's pipeline is inside ``hop_cycles`` (Tenstorrent quotes 9
  cycles router to router). Injection and ejection channels take ``inject_cycles``. Every
  channel carries one flit per cycle. A packet alone in the network therefore arrives exactly
  ``zero_load_latency(hops, flits, hop_cycles, inject_cycles)`` cycles after its creation.

Not modelled: multicast, read requests and their responses, ordering flags, non-core tiles'
behaviour (DRAM, PCIe, Ethernet), adaptive routing, router speedup, and Tenstorrent's real
buffer sizes and arbiters (not public).

Measurement (Dally & Towles §23.2): packets are created from cycle 0; those created in
``[warmup, warmup + measure)`` are measured, and the run goes on (still creating packets)
until all of them have arrived or ``drain`` more cycles have passed. Accepted throughput counts
the flits that reach their destination inside the window.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal, NamedTuple

import numpy as np

from .noc_cycles import run_cycles
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
    next_ports,
    node_coords,
    route,
    route_table,
    zero_load_latency,
)
from .noc_traffic import PATTERNS, Pattern, bernoulli_packets, permutation

__all__ = [
    "BLACKHOLE",
    "EJECT",
    "MAX_PACKET_FLITS",
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
    "next_ports",
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

#: Packets are at most this many flits (the loop stores a flit as ``packet << 16 | index``).
MAX_PACKET_FLITS = 1 << 16


class Network(NamedTuple):
    """A simulated network: topology, grid, which NoC, and the routers' parameters.

    ``vcs`` VCs (1 to 32; even on a torus, for the two dateline classes) of ``buffer_depth``
    flits per input port; ``switch_iterations`` rounds of switch allocation per cycle (1 to
    5). The defaults are a textbook router with one-cycle hops and credits; with 8 VCs of 8
    flits and two rounds every topology saturates at 0.77 to 0.87 of its uniform-traffic bound
    (4 VCs and one round: 0.69 to 0.79; docs/kernels-noc.md has the table).
    """

    topology: Topology = "mesh"
    kx: int = 8
    ky: int = 8
    noc: int = 0
    vcs: int = 8
    buffer_depth: int = 8
    hop_cycles: int = 1
    inject_cycles: int = 1
    credit_cycles: int = 1
    switch_iterations: int = 2


def chip_network(chip: Chip, noc: int = 0, vcs: int = 8) -> Network:
    """One NoC of a Tenstorrent chip, over its whole NoC grid.

    Documented: the grid, the one-way torus, 9-cycle hops, 5 cycles into and out of a router.
    Assumed (not public): credits take a hop's 9 cycles back; ``buffer_depth`` is
    ``2 * hop_cycles + 2``, the credit round trip, so one VC alone can stream a flit per cycle;
    8 VCs, the unicast-request share of the four-bit VC number (dateline bit, two request
    classes, buddy bit).
    """
    return Network(
        topology="one_way_torus",
        kx=chip.kx,
        ky=chip.ky,
        noc=noc,
        vcs=vcs,
        buffer_depth=2 * chip.hop_cycles + 2,
        hop_cycles=chip.hop_cycles,
        inject_cycles=chip.inject_cycles,
        credit_cycles=chip.hop_cycles,
    )


class NocStats(NamedTuple):
    """One synthetic-traffic run. Rates are flits per cycle per node; latencies are cycles.

    ``offered`` and ``accepted``: flits created, and flits that reached their destination, in
    the measurement window; ``generated`` and ``delivered`` count the same per source node.
    Latencies are over the measured packets that arrived: ``latency_*`` from creation to the
    tail's arrival, ``network_latency_mean`` from the header leaving the source queue.
    ``undelivered``: measured packets that had not arrived when the run stopped (0 when the
    network carries the load). ``link_load``: flits per cycle on each link id in the window.
    ``cycles`` and ``flit_hops`` (flits times router-to-router links crossed) count the run.
    """

    offered: float
    accepted: float
    latency_mean: float
    latency_p99: float
    network_latency_mean: float
    packets: int
    undelivered: int
    generated: np.ndarray
    delivered: np.ndarray
    link_load: np.ndarray
    cycles: int
    flit_hops: int


class TraceResult(NamedTuple):
    """A trace run: per packet, the cycle its header left the source queue (``sent``) and the
    cycle its tail arrived (``arrived``; -1 if it had not by ``max_cycles``); per link id, the
    flits it carried; the run's ``cycles`` and ``flit_hops``."""

    sent: np.ndarray
    arrived: np.ndarray
    link_flits: np.ndarray
    cycles: int
    flit_hops: int


# Checks -----------------------------------------------------------------------------------


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
    if type(net.noc) is not int or net.noc not in (0, 1):
        raise ValueError(f"net.noc must be 0 or 1 (got {net.noc!r})")
    _check_int("net.vcs", net.vcs, 1, 32)
    if net.topology != "mesh" and net.vcs % 2:
        raise ValueError(
            f"net.vcs must be even on a {net.topology}, for its two dateline classes "
            f"(got {net.vcs})"
        )
    for name in ("buffer_depth", "hop_cycles", "inject_cycles", "credit_cycles"):
        _check_int(f"net.{name}", getattr(net, name), 1)
    _check_int("net.switch_iterations", net.switch_iterations, 1, 5)


def _check_packets(
    name: str, values: object, low: int = 0, high: int | None = None, size: int | None = None
) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be a 1-D integer array (got {array.dtype} of shape {array.shape})"
        )
    if size is not None and array.size != size:
        raise ValueError(f"{name} must have the length of src, {size} (got {array.size})")
    if array.size and array.min() < low:
        raise ValueError(f"{name} must be >= {low} (got {array.min()})")
    if high is not None and array.size and array.max() > high:
        raise ValueError(f"{name} must be <= {high} (got {array.max()})")
    return array.astype(np.int64)


# Running it -------------------------------------------------------------------------------


def _execute(
    net: Network,
    src: np.ndarray,
    dst: np.ndarray,
    time: np.ndarray,
    flits: np.ndarray,
    window_start: int,
    window_end: int,
    end_cycle: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Runs packets grouped by source in creation order; returns
    ``(sent, arrived, delivered, link_flits, cycles, flit_hops)``."""
    nodes = net.kx * net.ky
    _, link_dst = link_endpoints(net.topology, net.kx, net.ky, net.noc)
    x, y = node_coords(net.kx, np.arange(4 * nodes) // 4)
    direction = np.arange(4 * nodes) % 4
    wrap = (link_dst >= 0) & (
        ((direction == 0) & (x == net.kx - 1))
        | ((direction == 1) & (x == 0))
        | ((direction == 2) & (y == net.ky - 1))
        | ((direction == 3) & (y == 0))
    )
    first = np.zeros(nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=nodes), out=first[1:])
    measured = int(np.count_nonzero((time >= window_start) & (time < window_end)))
    sent = np.full(src.size, -1, dtype=np.int64)
    arrived = np.full(src.size, -1, dtype=np.int64)
    delivered = np.zeros(nodes, dtype=np.int64)
    link_flits = np.zeros(4 * nodes, dtype=np.int64)
    cycles, flit_hops = run_cycles(
        net.topology == "mesh",
        nodes,
        net.vcs,
        net.buffer_depth,
        net.hop_cycles,
        net.inject_cycles,
        net.credit_cycles,
        net.switch_iterations,
        next_ports(net.topology, net.kx, net.ky, net.noc).reshape(-1),
        link_dst,
        wrap,
        src,
        dst,
        time,
        flits,
        first,
        window_start,
        window_end,
        end_cycle,
        measured,
        sent,
        arrived,
        delivered,
        link_flits,
    )
    return sent, arrived, delivered, link_flits, int(cycles), int(flit_hops)


def run_trace(
    net: Network,
    src: np.ndarray,
    dst: np.ndarray,
    time: np.ndarray,
    flits: np.ndarray,
    max_cycles: int | None = None,
) -> TraceResult:
    """Simulates given packets, each entering its source's queue at its creation cycle.

    A source sends its packets in creation order (equal cycles in the order given).

    Args:
        net: the network.
        src, dst: ``(P,)`` node ids.
        time: ``(P,)`` creation cycles, ``>= 0``.
        flits: ``(P,)`` flits per packet including the header, 1 to ``MAX_PACKET_FLITS``.
        max_cycles: stop there even if packets are still travelling; by default a generous
            bound (every flit crossing every channel alone, one after another).

    Returns:
        A ``TraceResult``; ``arrived - time`` are the packets' latencies.
    """
    _check_network(net)
    nodes = net.kx * net.ky
    src = _check_packets("src", src, high=nodes - 1)
    dst = _check_packets("dst", dst, high=nodes - 1, size=src.size)
    time = _check_packets("time", time, size=src.size)
    flits = _check_packets("flits", flits, low=1, high=MAX_PACKET_FLITS, size=src.size)
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
    """Runs synthetic traffic at an offered load; measures throughput and latency.

    Args:
        net: the network.
        pattern: ``"uniform"`` (self-traffic included), ``"transpose"``,
            ``"bit_complement"``, ``"tornado"`` or ``"hotspot"`` (see ``noc_traffic``).
        rate: offered load per node per cycle in ``unit``; each node creates a packet in a
            cycle with probability ``rate / packet_flits`` (flits) or ``rate`` (packets), at
            most 1.
        unit: ``"flits"`` or ``"packets"``.
        packet_flits: flits per packet including the header, 1 to ``MAX_PACKET_FLITS``.
        warmup, measure: cycles before the measurement window, and in it.
        drain: most cycles to run after the window for measured packets to arrive (default
            ``measure // 4``).
        seed: seeds the packet generator; equal seeds give identical results.
        hotspot: the hotspot pattern's node (default the centre, ``(kx // 2, ky // 2)``).
        hotspot_fraction: share of packets the hotspot pattern sends to it, in ``[0, 1]``.

    Returns:
        ``NocStats``.
    """
    _check_network(net)
    nodes = net.kx * net.ky
    if pattern not in PATTERNS:
        raise ValueError(
            f"pattern must be one of {', '.join(map(repr, PATTERNS))} (got {pattern!r})"
        )
    if pattern == "transpose" and net.kx != net.ky:
        raise ValueError(f"pattern 'transpose' needs a square grid (got kx={net.kx}, ky={net.ky})")
    if unit not in ("flits", "packets"):
        raise ValueError(f"unit must be 'flits' or 'packets' (got {unit!r})")
    _check_int("packet_flits", packet_flits, 1, MAX_PACKET_FLITS)
    if not isinstance(rate, Real) or isinstance(rate, bool) or not 0 <= rate < math.inf:
        raise ValueError(f"rate must be a finite number >= 0 (got {rate!r})")
    p = rate / packet_flits if unit == "flits" else float(rate)
    if p > 1:
        most = f"{packet_flits} flits" if unit == "flits" else "1 packet"
        raise ValueError(
            f"rate must be at most one packet per cycle per node, {most} (got {rate!r})"
        )
    _check_int("warmup", warmup, 0)
    _check_int("measure", measure, 1)
    drain = measure // 4 if drain is None else drain
    _check_int("drain", drain, 0)
    _check_int("seed", seed, 0)
    hotspot = (net.ky // 2) * net.kx + net.kx // 2 if hotspot is None else hotspot
    _check_int("hotspot", hotspot, 0, nodes - 1)
    if not isinstance(hotspot_fraction, Real) or not 0 <= hotspot_fraction <= 1:
        raise ValueError(f"hotspot_fraction must be a number in [0, 1] (got {hotspot_fraction!r})")

    window_start, window_end = warmup, warmup + measure
    end_cycle = window_end + drain
    src, dst, time = bernoulli_packets(
        np.random.default_rng(seed),
        pattern,
        net.kx,
        net.ky,
        p,
        end_cycle,
        hotspot,
        float(hotspot_fraction),
    )
    flits = np.full(src.size, packet_flits, dtype=np.int64)
    sent, arrived, delivered, link_flits, cycles, flit_hops = _execute(
        net, src, dst, time, flits, window_start, window_end, end_cycle
    )
    measured = (time >= window_start) & (time < window_end)
    done = measured & (arrived >= 0)
    latency = (arrived - time)[done]
    generated = np.bincount(src[measured], minlength=nodes) * packet_flits
    any_done = latency.size > 0
    return NocStats(
        offered=float(generated.sum()) / (nodes * measure),
        accepted=float(delivered.sum()) / (nodes * measure),
        latency_mean=float(latency.mean()) if any_done else math.nan,
        latency_p99=float(np.percentile(latency, 99)) if any_done else math.nan,
        network_latency_mean=float((arrived - sent)[done].mean()) if any_done else math.nan,
        packets=int(measured.sum()),
        undelivered=int(measured.sum() - done.sum()),
        generated=generated,
        delivered=delivered,
        link_load=link_flits / measure,
        cycles=cycles,
        flit_hops=flit_hops,
    )


def sweep(net: Network, pattern: Pattern, rates: list[float], **options: object) -> list[NocStats]:
    """``simulate`` at each offered rate with the same seed (common random numbers, so the
    curve is smooth); ``options`` are ``simulate``'s keyword arguments."""
    return [simulate(net, pattern, rate, **options) for rate in rates]


def saturation_rate(
    net: Network, pattern: Pattern, *, high: float = 1.0, steps: int = 7, **options: object
) -> float:
    """The highest offered load (flits per cycle per node) the network carries, by bisection.

    A load is carried when every packet created in the measurement window arrives within
    ``drain`` cycles after the window (``NocStats.undelivered == 0``). Below saturation every
    source keeps up and latencies stay short; past it some source's queue grows without bound
    and its packets from late in the window are still queued when the drain ends. This catches
    a pattern whose bottleneck starves a few sources, which the average accepted rate hides.
    Defaults here: ``measure=8000``, ``drain=measure // 16``. A source that gets a share
    ``s`` of its load is caught once ``s < measure / (measure + drain)`` (16/17), so the answer
    can exceed the true saturation by up to 1/16; a latency tail longer than ``drain`` below
    saturation errs the other way.

    Args:
        net, pattern: as ``simulate``.
        high: the largest load to consider, at most ``packet_flits`` flits.
        steps: bisection steps (resolution ``high / 2**steps``), 1 to 30.
        options: ``simulate``'s other keyword arguments; ``unit`` must stay ``"flits"``.

    Returns:
        The highest carried load found (0.0 if none).
    """
    if options.get("unit", "flits") != "flits":
        raise ValueError(f"unit must be 'flits' for saturation_rate (got {options['unit']!r})")
    if not isinstance(high, Real) or isinstance(high, bool) or not 0 < high < math.inf:
        raise ValueError(f"high must be a finite number > 0 (got {high!r})")
    _check_int("steps", steps, 1, 30)
    options.setdefault("measure", 8000)
    if isinstance(options["measure"], int):
        options.setdefault("drain", options["measure"] // 16)
    low = 0.0
    for _ in range(steps):
        middle = (low + high) / 2
        if simulate(net, pattern, middle, **options).undelivered == 0:
            low = middle
        else:
            high = middle
    return low
