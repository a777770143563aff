"""Network-on-chip topologies: node and link numbering, dimension-order routes, hop counts.

These are the pure functions a mesh model reuses (numpy in, numpy out); the cycle-level
simulator in ``noc.py`` routes with the same next-port table, so its packets take exactly
these routes.

Nodes. A ``kx`` by ``ky`` grid; node ``n = y * kx + x`` (x fastest), as NoC coordinates
``(x, y)``, where ``y`` grows downwards in Tenstorrent's pictures.

Links. Every node owns four outgoing link ids, ``link = 4 * node + direction``, with
direction ``0: +x``, ``1: -x``, ``2: +y``, ``3: -y``. A link id is in ``[0, 4 * kx * ky)``
whether or not the link exists, so per-link counters are plain arrays of that length;
``link_endpoints`` says which exist and where they lead.

Topologies.

* ``"mesh"``: bidirectional 2D mesh, no wrap-around links.
* ``"torus"``: bidirectional 2D torus; the wrap links go ``k-1 -> 0`` on ``+`` and
  ``0 -> k-1`` on ``-``.
* ``"one_way_torus"``: one of Tenstorrent's two NoCs (Wormhole, Blackhole). Each is a 2D torus
  whose links flow one way: NoC 0 only ``+x`` / ``+y``, NoC 1 only ``-x`` / ``-y``.

Routing is dimension order. ``noc=0`` routes X then Y, ``noc=1`` Y then X (on the one-way
torus, Tenstorrent's NoC 0 and NoC 1; NoC 1's route ``s -> d`` is then NoC 0's route
``d -> s`` walked backwards). A torus goes the shorter way round; exactly half way round (even
``k``) it goes ``+`` from an even coordinate and ``-`` from an odd one, so under uniform
traffic both directions carry the same load (always ``+`` would load ``+`` links
``(k + 2) / k`` times the average and lower the saturation bound by as much). A dimension of
size 1 has no links.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numba
import numpy as np

__all__ = [
    "BLACKHOLE",
    "DIRECTIONS",
    "EJECT",
    "TOPOLOGIES",
    "WORMHOLE_B0",
    "Chip",
    "RouteTable",
    "Topology",
    "hop_count",
    "link_endpoints",
    "next_ports",
    "node_coords",
    "route",
    "route_table",
    "zero_load_latency",
]

Topology = Literal["mesh", "torus", "one_way_torus"]
TOPOLOGIES: tuple[str, ...] = ("mesh", "torus", "one_way_torus")
#: Direction of each of a node's four link ids, in order.
DIRECTIONS: tuple[str, ...] = ("+x", "-x", "+y", "-y")
#: The next-port value that means "this is the destination: eject".
EJECT = 4

_MESH, _TORUS, _ONE_WAY = 0, 1, 2


class RouteTable(NamedTuple):
    """Every pair's route, for one topology and NoC.

    ``links[s, d, :hops[s, d]]`` are the link ids from node ``s`` to node ``d`` in order (the
    rest is -1); ``next_port[s, d]`` is the first hop's direction (0-3) or ``EJECT`` when
    ``s == d``; it is the table the simulator routes by.
    """

    links: np.ndarray  # (N, N, max_hops) int32
    hops: np.ndarray  # (N, N) int32
    next_port: np.ndarray  # (N, N) int8


class Chip(NamedTuple):
    """A Tenstorrent chip's NoC, as its public documentation gives it.

    Each of its two NoCs is a one-way torus over the whole ``kx`` x ``ky`` NoC grid (Tensix
    cores, DRAM, Ethernet, PCIe, ARC and empty tiles alike); the Tensix cores sit at the
    product of ``tensix_x`` and ``tensix_y``. A flit is ``flit_bytes``; a packet is one header
    flit and up to ``max_data_flits`` data flits; every link carries one flit per cycle. A
    header takes about ``hop_cycles`` from router to router and ``inject_cycles`` from a
    core's interface unit to its router (and from the router to the interface unit).
    """

    name: str
    kx: int
    ky: int
    flit_bytes: int
    max_data_flits: int
    hop_cycles: int
    inject_cycles: int
    tensix_x: tuple[int, ...]
    tensix_y: tuple[int, ...]

    @property
    def tensix_nodes(self) -> np.ndarray:
        """Node ids of the Tensix cores, row by row (``y`` outer), as int32."""
        x = np.array(self.tensix_x, dtype=np.int32)
        y = np.array(self.tensix_y, dtype=np.int32)
        return (y[:, None] * self.kx + x[None, :]).reshape(-1)


# tt-isa-documentation WormholeB0/NoC (flits, latencies), tt-metal wormhole_b0_80_arch.yaml
# (10 x 12 grid; Tensix at x 1-4, 6-9 and y 1-5, 7-11: 8 x 10).
WORMHOLE_B0 = Chip(
    name="wormhole_b0",
    kx=10,
    ky=12,
    flit_bytes=32,
    max_data_flits=256,
    hop_cycles=9,
    inject_cycles=5,
    tensix_x=(1, 2, 3, 4, 6, 7, 8, 9),
    tensix_y=(1, 2, 3, 4, 5, 7, 8, 9, 10, 11),
)
# tt-isa-documentation BlackholeA0/NoC, tt-metal blackhole_140_arch.yaml (17 x 12 grid;
# Tensix at x 1-7, 10-16 and y 2-11: 14 x 10).
BLACKHOLE = Chip(
    name="blackhole",
    kx=17,
    ky=12,
    flit_bytes=64,
    max_data_flits=256,
    hop_cycles=9,
    inject_cycles=5,
    tensix_x=(1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16),
    tensix_y=tuple(range(2, 12)),
)


def _topology_code(topology: object) -> int:
    if topology not in TOPOLOGIES:
        raise ValueError(
            f"topology must be one of {', '.join(map(repr, TOPOLOGIES))} (got {topology!r})"
        )
    return TOPOLOGIES.index(topology)


def _check_grid(kx: object, ky: object) -> None:
    for name, k in (("kx", kx), ("ky", ky)):
        if type(k) is not int or not 1 <= k <= 4096:
            raise ValueError(f"{name} must be an int from 1 to 4096 (got {k!r})")


def _check_noc(noc: object) -> None:
    if noc not in (0, 1) or type(noc) is not int:
        raise ValueError(f"noc must be 0 (X then Y) or 1 (Y then X) (got {noc!r})")


def _check_nodes(name: str, nodes: object, count: int) -> np.ndarray:
    array = np.asarray(nodes)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer node ids (got dtype {array.dtype})")
    if array.size and (array.min() < 0 or array.max() >= count):
        raise ValueError(
            f"{name} must hold node ids in [0, {count}) (got {array.min()}..{array.max()})"
        )
    return array.astype(np.int64)


def _checked(topology: object, kx: object, ky: object, noc: object) -> int:
    code = _topology_code(topology)
    _check_grid(kx, ky)
    _check_noc(noc)
    return code


def node_coords(kx: int, nodes: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` of node ids on a grid ``kx`` wide: ``x = n % kx``, ``y = n // kx``."""
    nodes = np.asarray(nodes)
    return nodes % kx, nodes // kx


@numba.njit(cache=True, nogil=True, inline="always")
def _step(code, noc, k, c, d):  # pragma: no cover - compiled
    """+1, -1 or 0: which way dimension-order routing moves from coordinate ``c`` to ``d``."""
    if c == d:
        return 0
    if code == _MESH:
        return 1 if d > c else -1
    if code == _ONE_WAY:
        return 1 if noc == 0 else -1
    delta = (d - c) % k
    if 2 * delta < k:
        return 1
    if 2 * delta > k:
        return -1
    return 1 if c % 2 == 0 else -1


@numba.njit(cache=True, nogil=True, inline="always")
def _next_port(code, noc, kx, ky, s, d):  # pragma: no cover - compiled
    """The direction (0-3) of the first hop from node ``s`` to node ``d``, or 4 (eject)."""
    x_step = _step(code, noc, kx, s % kx, d % kx)
    y_step = _step(code, noc, ky, s // kx, d // kx)
    if x_step != 0 and (noc == 0 or y_step == 0):
        return 0 if x_step > 0 else 1
    if y_step != 0:
        return 2 if y_step > 0 else 3
    return 4


@numba.njit(cache=True, nogil=True)
def _next_ports(code, noc, kx, ky, table):  # pragma: no cover - compiled
    nodes = kx * ky
    for s in range(nodes):
        for d in range(nodes):
            table[s, d] = _next_port(code, noc, kx, ky, s, d)


@numba.njit(cache=True, nogil=True)
def _route(code, noc, kx, ky, link_dst, src, dst, links):  # pragma: no cover - compiled
    """Writes the route's links into ``links``; returns how many."""
    node = src
    count = 0
    while node != dst:
        link = 4 * node + _next_port(code, noc, kx, ky, node, dst)
        links[count] = link
        count += 1
        node = link_dst[link]
    return count


@numba.njit(cache=True, nogil=True)
def _walk(next_port, link_dst, links, hops):  # pragma: no cover - compiled
    nodes = next_port.shape[0]
    for s in range(nodes):
        for d in range(nodes):
            node = s
            count = 0
            while next_port[node, d] != 4:
                link = 4 * node + next_port[node, d]
                links[s, d, count] = link
                count += 1
                node = link_dst[link]
            hops[s, d] = count


def link_endpoints(
    topology: Topology, kx: int, ky: int, noc: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Where each link id starts and ends.

    Args:
        topology: ``"mesh"``, ``"torus"`` or ``"one_way_torus"``.
        kx, ky: grid size, 1 to 4096 each.
        noc: 0 or 1; selects the flow direction of the one-way torus (the others have the
            same links on both).

    Returns:
        ``(source, target)``, two ``(4 * kx * ky,)`` int32 arrays of node ids; both are -1 for
        a link id that does not exist (a mesh edge, a dimension of size 1, the other
        direction of a one-way torus). ``source[l] == l // 4`` wherever the link exists.
    """
    code = _checked(topology, kx, ky, noc)
    node = np.arange(kx * ky, dtype=np.int32)
    x, y = node % kx, node // kx
    source = np.repeat(node, 4).reshape(-1, 4)
    target = np.empty_like(source)
    exists = np.ones_like(source, dtype=bool)
    for direction, (dim, sign) in enumerate(((0, 1), (0, -1), (1, 1), (1, -1))):
        c, k = (x, kx) if dim == 0 else (y, ky)
        moved = c + sign
        wraps = (moved < 0) | (moved >= k)
        moved %= k
        target[:, direction] = moved + y * kx if dim == 0 else x + moved * kx
        exists[:, direction] = k > 1
        if code == _MESH:
            exists[:, direction] &= ~wraps
        if code == _ONE_WAY:
            exists[:, direction] &= sign == (1 if noc == 0 else -1)
    source = np.where(exists, source, -1).reshape(-1)
    target = np.where(exists, target, -1).reshape(-1)
    return source.astype(np.int32), target.astype(np.int32)


def next_ports(topology: Topology, kx: int, ky: int, noc: int = 0) -> np.ndarray:
    """The first hop of every pair's route: ``(N, N)`` int8, a direction 0-3 or ``EJECT``.

    What a router needs to route (the simulator's table); ``N * N`` bytes where
    ``route_table`` takes ``N * N * max_hops`` int32s.

    Args:
        topology, kx, ky, noc: as ``route_table``.
    """
    code = _checked(topology, kx, ky, noc)
    table = np.empty((kx * ky, kx * ky), dtype=np.int8)
    _next_ports(code, noc, kx, ky, table)
    return table


def route_table(topology: Topology, kx: int, ky: int, noc: int = 0) -> RouteTable:
    """Every source-destination pair's dimension-order route (see the module docstring).

    Args:
        topology: ``"mesh"``, ``"torus"`` or ``"one_way_torus"``.
        kx, ky: grid size, 1 to 4096 each (the table is ``N * N * max_hops`` int32s).
        noc: 0 routes X then Y, 1 Y then X (and on the one-way torus flows ``-x`` / ``-y``).

    Returns:
        A ``RouteTable`` of ``links``, ``hops`` and ``next_port``.
    """
    nodes = kx * ky
    next_port = next_ports(topology, kx, ky, noc)
    _, target = link_endpoints(topology, kx, ky, noc)
    if topology == "torus":
        longest = kx // 2 + ky // 2
    else:
        longest = (kx - 1) + (ky - 1)
    links = np.full((nodes, nodes, max(longest, 1)), -1, dtype=np.int32)
    hops = np.empty((nodes, nodes), dtype=np.int32)
    _walk(next_port, target, links, hops)
    return RouteTable(links, hops, next_port)


def route(topology: Topology, kx: int, ky: int, src: int, dst: int, noc: int = 0) -> np.ndarray:
    """The link ids from node ``src`` to node ``dst``, in order (empty when equal).

    Args:
        topology, kx, ky, noc: as ``route_table``.
        src, dst: node ids ``y * kx + x``.

    Returns:
        ``(hops,)`` int32 link ids; for many pairs build a ``route_table`` once instead.
    """
    code = _checked(topology, kx, ky, noc)
    nodes = kx * ky
    for name, value in (("src", src), ("dst", dst)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not 0 <= value < nodes
        ):
            raise ValueError(f"{name} must be a node id in [0, {nodes}) (got {value!r})")
    _, target = link_endpoints(topology, kx, ky, noc)
    links = np.empty(kx + ky, dtype=np.int32)
    count = _route(code, noc, kx, ky, target, int(src), int(dst), links)
    return links[:count].copy()


def hop_count(
    topology: Topology, kx: int, ky: int, src: np.ndarray | int, dst: np.ndarray | int, noc: int = 0
) -> np.ndarray:
    """Router-to-router hops of the route from ``src`` to ``dst``, elementwise.

    Closed forms per dimension, with ``delta = (d - s) mod k``: mesh ``|d - s|``; torus
    ``min(delta, k - delta)``; one-way torus ``delta`` on NoC 0 and ``(s - d) mod k`` on NoC 1.

    Args:
        topology, kx, ky, noc: as ``route_table``.
        src, dst: node ids (ints or integer arrays that broadcast together).

    Returns:
        int64 array of the broadcast shape.
    """
    code = _checked(topology, kx, ky, noc)
    src = _check_nodes("src", src, kx * ky)
    dst = _check_nodes("dst", dst, kx * ky)
    total = np.zeros(np.broadcast_shapes(src.shape, dst.shape), dtype=np.int64)
    for s, d, k in ((src % kx, dst % kx, kx), (src // kx, dst // kx, ky)):
        if code == _MESH:
            total += np.abs(d - s)
        elif code == _TORUS:
            delta = (d - s) % k
            total += np.minimum(delta, k - delta)
        else:
            total += (d - s) % k if noc == 0 else (s - d) % k
    return total


def zero_load_latency(
    hops: np.ndarray | int, flits: np.ndarray | int, hop_cycles: int, inject_cycles: int
) -> np.ndarray:
    """Cycles from a packet's creation to its tail flit's arrival, alone in the network.

    ``2 * inject_cycles + hops * hop_cycles + (flits - 1)``: the header crosses the injection
    channel (interface unit to router), ``hops`` router-to-router hops and the ejection
    channel (router to interface unit); the other ``flits - 1`` flits follow one per cycle.
    A hop's ``hop_cycles`` include the router's pipeline, as Tenstorrent's 9 cycles do.

    Args:
        hops: router-to-router hops (``hop_count``), ``>= 0``.
        flits: flits per packet including the header, ``>= 1``.
        hop_cycles, inject_cycles: ``>= 1`` each.

    Returns:
        int64 array of the broadcast shape.
    """
    hops = np.asarray(hops)
    flits = np.asarray(flits)
    if hops.dtype.kind not in "iu" or (hops.size and hops.min() < 0):
        raise ValueError(f"hops must be integers >= 0 (got {hops!r})")
    if flits.dtype.kind not in "iu" or (flits.size and flits.min() < 1):
        raise ValueError(f"flits must be integers >= 1 (got {flits!r})")
    for name, value in (("hop_cycles", hop_cycles), ("inject_cycles", inject_cycles)):
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be an int >= 1 (got {value!r})")
    return 2 * inject_cycles + hops.astype(np.int64) * hop_cycles + flits.astype(np.int64) - 1
