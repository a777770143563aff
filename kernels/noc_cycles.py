"""The network-on-chip simulator's cycle loop, compiled: what one cycle does to every router.

``noc.py`` describes the model and checks the arguments; this module is the loop alone, so its
data layout can be read in one place. One pass per cycle: credits that are due come back,
every interface unit sends at most one flit into its router's injection port, then every
router with flits allocates its switch (separable, input first, round-robin, repeated
``switch_iterations`` times for ports still unmatched) and moves the winners.
"""

from __future__ import annotations

import numba
import numpy as np

# numba's count-trailing-zeros (one instruction); round-robin picks come from bitmasks with it
from numba.cpython.unsafe.numbers import trailing_zeros as _ctz

__all__ = ["run_cycles"]

# Per buffer, one 64-byte row of ``state``: the ring's head slot and flit count, the credits its
# sender still has, the cycle its front flit arrives (or later), then for the packet at its
# front: the output port (-1: not routed yet), the VCs its class may take there (a bitmask) and
# the downstream buffer it holds (-1: none yet).
_HEAD, _COUNT, _CREDITS, _FRONT, _PORT, _CLASS, _TARGET = 0, 1, 2, 3, 4, 5, 6
_FIELDS = 8


@numba.njit(cache=True, nogil=True)
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
def run_cycles(
    mesh,
    nodes,
    vcs,
    depth,
    hop_cycles,
    inject_cycles,
    credit_cycles,
    switch_iterations,
    next_port,
    link_dst,
    link_wrap,
    pkt_src,
    pkt_dst,
    pkt_time,
    pkt_flits,
    first,
    window_start,
    window_end,
    end_cycle,
    measured,
    sent,
    arrived,
    delivered,
    link_flits,
):  # pragma: no cover - compiled
    """Simulates packets cycle by cycle until the measured ones have arrived, or ``end_cycle``.

    Args (validated by the caller, ``noc.py``):
        mesh: whether every packet may use every VC (else two dateline classes).
        nodes, vcs, depth: routers, VCs per input port, flits per VC.
        hop_cycles, inject_cycles, credit_cycles, switch_iterations: as ``Network``.
        next_port: ``(nodes * nodes,)`` int8, ``next_ports(...)`` flattened.
        link_dst: ``(4 * nodes,)`` each link's target node, -1 if absent.
        link_wrap: ``(4 * nodes,)`` bool, the torus wrap-around links.
        pkt_src, pkt_dst, pkt_time, pkt_flits: per packet, grouped by source in creation
            order; ``first[n]:first[n + 1]`` are node ``n``'s packets.
        window_start, window_end: packets created in ``[start, end)`` are measured; flits and
            link crossings are counted in it.
        measured: how many packets were created in the window.
        sent, arrived: per packet, written: the cycle its header left the source queue, the
            cycle its tail reached the destination's interface unit (-1 until then).
        delivered: per source node, flits arriving in the window (added to).
        link_flits: per link id, flits sent in the window (added to).

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
    busy_ports = np.zeros(nodes, dtype=np.int64)  # per router: a bit per input port with flits

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
            busy_ports[node] |= 16
            if index + 1 == pkt_flits[p]:
                free[port] |= np.int64(1) << (b - port * vcs)
                current[node] = -1
            else:
                current_flit[node] = index + 1

        for r in range(nodes):
            if busy_ports[r] == 0:
                continue
            # input ports that may still win this cycle: after a round, only those that asked
            # and lost (one with nothing eligible finds nothing later in the same cycle)
            trying = 31
            taken_out = 0  # output ports granted this cycle
            for _ in range(switch_iterations):
                # input stage: each input port picks one VC that can go, round-robin
                outputs = 0
                asking = 0
                inputs = trying & busy_ports[r]
                while inputs != 0:
                    i = _ctz(inputs)
                    inputs &= inputs - 1
                    port = r * 5 + i
                    mask = occupied[port]
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
                            same_dimension = i < 4 and (i >> 1) == (o >> 1)
                            if mesh or o == 4:
                                state[b, _CLASS] = all_vcs
                            elif (same_dimension and v >= width) or link_wrap[4 * r + o]:
                                state[b, _CLASS] = low_class << width
                            else:
                                state[b, _CLASS] = low_class
                        if (taken_out >> o) & 1:
                            continue
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
                        asking |= 1 << i
                        outputs |= 1 << o
                        want_buffer[i] = b
                        want_target[i] = tgt
                        break
                if outputs == 0:
                    break
                # output stage: each output port grants one asking input, round-robin
                taken_out |= outputs
                while outputs != 0:
                    o = _ctz(outputs)
                    outputs &= outputs - 1
                    m = asked[o]
                    asked[o] = 0
                    rr = out_rr[r * 5 + o]
                    i = rr + _ctz(((m >> rr) | (m << (5 - rr))) & 31)
                    if i >= 5:
                        i -= 5
                    asking &= ~(1 << i)
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
                        if occupied[port] == 0:
                            busy_ports[r] &= ~(1 << i)
                    else:
                        state[b, _FRONT] = slots[b * depth + front, 1]
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
                        busy_ports[link_dst[link]] |= 1 << o
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
                trying = asking
                if trying == 0:
                    break
        t += 1
        if left == 0 and t >= window_end:
            break
    return t, flit_hops
