"""The network-on-chip kernels against the references and the textbook's figures."""

import numpy as np
import pytest
from neural_actors.kernels.noc import (
    BLACKHOLE,
    EJECT,
    TOPOLOGIES,
    WORMHOLE_B0,
    Network,
    chip_network,
    hop_count,
    link_endpoints,
    permutation,
    route,
    route_table,
    run_trace,
    saturation_rate,
    simulate,
    sweep,
    zero_load_latency,
)
from neural_actors.kernels.noc_reference import (
    channel_loads,
    mean_hops_formula,
    permutation_reference,
    route_table_reference,
    throughput_bound,
    uniform_bound_formula,
    zero_load_latency_reference,
)

GRIDS = [(1, 1), (2, 3), (4, 4), (5, 3), (6, 4)]


def all_pairs(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    src, dst = np.divmod(np.arange(nodes * nodes), nodes)
    return src, dst


# Routes and hop counts -----------------------------------------------------------------------


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("noc", [0, 1])
@pytest.mark.parametrize(("kx", "ky"), GRIDS)
def test_route_table_matches_the_reference_walk_for_every_pair(
    topology: str, noc: int, kx: int, ky: int
) -> None:
    """Every pair's links, hop count and first hop are the reference walk's."""
    table = route_table(topology, kx, ky, noc)
    routes, hops = route_table_reference(topology, kx, ky, noc)

    np.testing.assert_array_equal(hops, table.hops)
    for s in range(kx * ky):
        for d in range(kx * ky):
            want = routes[s][d]
            assert want == table.links[s, d, : len(want)].tolist()
            assert (table.links[s, d, len(want) :] == -1).all()
            assert (want[0] % 4 if want else EJECT) == table.next_port[s, d]
            assert want == route(topology, kx, ky, s, d, noc).tolist()


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("noc", [0, 1])
def test_every_route_walks_existing_links_from_source_to_destination(
    topology: str, noc: int
) -> None:
    """Each link starts where the previous one ended, exists, and the last ends at ``dst``."""
    kx, ky = 6, 5
    source, target = link_endpoints(topology, kx, ky, noc)
    table = route_table(topology, kx, ky, noc)

    for s in range(kx * ky):
        for d in range(kx * ky):
            node = s
            for link in table.links[s, d, : table.hops[s, d]]:
                assert source[link] == node and target[link] >= 0
                node = target[link]
            assert d == node


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("noc", [0, 1])
@pytest.mark.parametrize(("kx", "ky"), [(4, 4), (5, 3), (8, 8), (10, 12)])
def test_hop_count_formula_matches_the_route_table_for_every_pair(
    topology: str, noc: int, kx: int, ky: int
) -> None:
    """The closed forms (``|d-s|``, ``min(delta, k-delta)``, ``delta``) are the routes' lengths."""
    src, dst = all_pairs(kx * ky)
    hops = hop_count(topology, kx, ky, src, dst, noc)

    np.testing.assert_array_equal(route_table(topology, kx, ky, noc).hops.reshape(-1), hops)


@pytest.mark.parametrize(
    ("topology", "kx", "ky", "expected"),
    [
        ("mesh", 8, 8, 5.25),
        ("torus", 8, 8, 4.0),
        ("one_way_torus", 8, 8, 7.0),
        ("mesh", 10, 12, 7.2722222222222222),
        ("torus", 10, 12, 5.5),
        ("one_way_torus", 10, 12, 10.0),
        ("mesh", 5, 7, 24 / 15 + 48 / 21),
        ("torus", 5, 7, 24 / 20 + 48 / 28),
    ],
)
def test_mean_hops_under_uniform_traffic_are_the_textbook_values(
    topology: str, kx: int, ky: int, expected: float
) -> None:
    """Per dimension, routes average (k^2-1)/3k (mesh), k/4 (torus), (k-1)/2 (one-way)."""
    for noc in (0, 1):
        assert expected == pytest.approx(route_table(topology, kx, ky, noc).hops.mean(), rel=1e-12)
    assert expected == pytest.approx(mean_hops_formula(topology, kx, ky), rel=1e-12)


@pytest.mark.parametrize("topology", ["mesh", "one_way_torus"])
def test_noc1_route_is_noc0_route_backwards(topology: str) -> None:
    """NoC 1 from s to d crosses, in reverse order, the opposite links of NoC 0 from d to s.

    (Not on the bidirectional torus: half way round, the direction depends on where a route
    starts.)"""
    kx, ky = 10, 12
    zero, one = route_table(topology, kx, ky, 0), route_table(topology, kx, ky, 1)
    _, target = link_endpoints(topology, kx, ky, 0)

    def opposite(link: int) -> int:  # the other way along the same wire
        return 4 * target[link] + (link % 4 ^ 1)

    for s in range(kx * ky):
        for d in range(kx * ky):
            backwards = [opposite(link) for link in zero.links[d, s, : zero.hops[d, s]][::-1]]
            assert backwards == one.links[s, d, : one.hops[s, d]].tolist()


def test_tenstorrent_noc0_flows_plus_x_then_plus_y_and_noc1_minus_y_then_minus_x() -> None:
    """Wormhole (0,0) -> (1,1): NoC 0 goes +x, +y; back on NoC 1, -y, -x; wraps are one-way."""
    kx = WORMHOLE_B0.kx
    corner = 1 * kx + 1

    assert [0, 4 * 1 + 2] == route("one_way_torus", kx, 12, 0, corner, noc=0).tolist()
    assert [4 * corner + 3, 4 * 1 + 1] == route("one_way_torus", kx, 12, corner, 0, noc=1).tolist()
    assert 9 + 11 == hop_count("one_way_torus", kx, 12, corner, 0, noc=0)  # all the way round
    source, _ = link_endpoints("one_way_torus", kx, 12, 0)
    assert (source.reshape(-1, 4)[:, [1, 3]] == -1).all() and (
        source.reshape(-1, 4)[:, [0, 2]] >= 0
    ).all()


def test_chip_presets_have_the_documented_grids_and_cores() -> None:
    """Wormhole: 8x10 Tensix on a 10x12 NoC, 32-byte flits; Blackhole: 14x10 on 17x12, 64 bytes."""
    assert (10, 12, 32, 80) == (
        WORMHOLE_B0.kx,
        WORMHOLE_B0.ky,
        WORMHOLE_B0.flit_bytes,
        WORMHOLE_B0.tensix_nodes.size,
    )
    assert (17, 12, 64, 140) == (
        BLACKHOLE.kx,
        BLACKHOLE.ky,
        BLACKHOLE.flit_bytes,
        BLACKHOLE.tensix_nodes.size,
    )
    assert 1 * 10 + 1 in WORMHOLE_B0.tensix_nodes and 6 * 10 + 1 not in WORMHOLE_B0.tensix_nodes
    assert (9, 5, 256) == (
        WORMHOLE_B0.hop_cycles,
        WORMHOLE_B0.inject_cycles,
        WORMHOLE_B0.max_data_flits,
    )
    net = chip_network(WORMHOLE_B0, noc=1)
    assert ("one_way_torus", 10, 12, 1, 9, 5) == (
        net.topology,
        net.kx,
        net.ky,
        net.noc,
        net.hop_cycles,
        net.inject_cycles,
    )


# Zero load ------------------------------------------------------------------------------------


def test_zero_load_latency_formula_matches_the_stage_by_stage_reference() -> None:
    """``2 * inject + hops * hop + flits - 1``; one Wormhole hop of one flit is 5 + 9 + 5 cycles."""
    hops, flits = np.meshgrid(np.arange(12), np.array([1, 2, 17, 257]))
    got = zero_load_latency(hops, flits, 9, 5)

    assert 19 == zero_load_latency(1, 1, 9, 5)
    for h, f, value in zip(hops.ravel(), flits.ravel(), got.ravel()):
        assert zero_load_latency_reference(int(h), int(f), 9, 5) == value


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("noc", [0, 1])
@pytest.mark.parametrize(
    ("hop_cycles", "inject_cycles", "flits"), [(1, 1, 1), (9, 5, 4), (3, 2, 17)]
)
def test_a_lone_packet_arrives_exactly_at_its_zero_load_latency(
    topology: str, noc: int, hop_cycles: int, inject_cycles: int, flits: int
) -> None:
    """Every pair, one packet at a time: latency is the formula to the cycle, links its route."""
    kx, ky = 5, 4
    net = Network(
        topology,
        kx,
        ky,
        noc,
        hop_cycles=hop_cycles,
        inject_cycles=inject_cycles,
        credit_cycles=hop_cycles,
    )
    src, dst = all_pairs(kx * ky)
    hops = hop_count(topology, kx, ky, src, dst, noc)
    time = np.arange(src.size) * (
        2 * inject_cycles + hop_cycles * (kx + ky) + flits
    )  # never overlap
    result = run_trace(net, src, dst, time, np.full(src.size, flits))

    np.testing.assert_array_equal(
        zero_load_latency(hops, flits, hop_cycles, inject_cycles), result.arrived - time
    )
    np.testing.assert_array_equal(time, result.sent)
    traffic = np.zeros((kx * ky, kx * ky))
    traffic[src, dst] = flits
    np.testing.assert_array_equal(channel_loads(topology, kx, ky, traffic, noc), result.link_flits)
    assert int((hops * flits).sum()) == result.flit_hops


def test_packets_of_one_source_leave_in_creation_order_back_to_back() -> None:
    """Three packets created together: each starts the cycle after the previous tail."""
    result = run_trace(Network(), [0, 0, 0], [9, 9, 9], [0, 0, 0], [3, 2, 4])

    assert [0, 3, 5] == result.sent.tolist()
    assert (
        result.sent + zero_load_latency(2, np.array([3, 2, 4]), 1, 1)
    ).tolist() == result.arrived.tolist()


# Throughput -----------------------------------------------------------------------------------


def uniform_traffic(nodes: int) -> np.ndarray:
    return np.full((nodes, nodes), 1 / nodes)


@pytest.mark.parametrize(
    ("topology", "kx", "ky"),
    [("mesh", 8, 8), ("torus", 8, 8), ("torus", 16, 4), ("one_way_torus", 6, 6)],
)
def test_uniform_channel_loads_give_the_textbook_bound(topology: str, kx: int, ky: int) -> None:
    """The busiest link under uniform traffic: k/4 (mesh), k/8 (torus), (k-1)/2 (one-way)."""
    bound = throughput_bound(topology, kx, ky, uniform_traffic(kx * ky))

    assert uniform_bound_formula(topology, kx, ky) == pytest.approx(bound, rel=1e-12)


@pytest.mark.parametrize(
    ("topology", "kx", "ky"), [("mesh", 6, 6), ("torus", 16, 4), ("one_way_torus", 8, 8)]
)
def test_uniform_saturation_is_between_0_7_and_1_of_the_bound(
    topology: str, kx: int, ky: int
) -> None:
    """The highest load every source keeps up with, against 4/k, 8/k and 2/(k-1)."""
    bound = uniform_bound_formula(topology, kx, ky)
    saturation = saturation_rate(Network(topology, kx, ky), "uniform", high=bound, steps=6)

    assert 0.7 * bound <= saturation <= bound


def test_transpose_on_a_mesh_saturates_at_one_over_k_minus_1() -> None:
    """6 x 6 mesh: k - 1 sources share the busiest link, so saturation is 1/(k-1) = 0.2.

    Tolerance [0.93, 1.07]: the bisection's step is 1/64 of 0.4 (0.031 of the value), the
    criterion misses a source served at more than 16/17 of its load (up to +1/16), and a
    latency tail longer than the drain can stop it early."""
    k = 6
    net = Network("mesh", k, k)
    traffic = np.zeros((k * k, k * k))
    traffic[np.arange(k * k), permutation("transpose", k, k)] = 1
    assert 1 / (k - 1) == pytest.approx(throughput_bound("mesh", k, k, traffic), rel=1e-12)

    saturation = saturation_rate(net, "transpose", high=2 / (k - 1), steps=6)

    assert 0.93 / (k - 1) <= saturation <= 1.07 / (k - 1)


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_one_hotspot_accepts_one_over_n(topology: str) -> None:
    """All nodes send to one: its ejection channel delivers a flit a cycle, 1/N per node."""
    net = Network(topology, 4, 4)
    stats = simulate(net, "hotspot", 0.5, warmup=500, measure=2000, drain=0)

    assert 1 / 16 == pytest.approx(stats.accepted, rel=1e-3)
    assert stats.offered > 7 * stats.accepted  # every source is backlogged


def test_below_saturation_accepted_equals_offered_and_latency_exceeds_zero_load() -> None:
    """At 40% of the bound every flit gets through, and queueing only adds latency."""
    net = Network("mesh", 6, 6)
    stats = simulate(net, "uniform", 0.4 * uniform_bound_formula("mesh", 6, 6), seed=3)
    zero_load = (
        2 + route_table("mesh", 6, 6).hops.mean() + 3
    )  # mean hops, 4 flits, 1-cycle channels

    assert 0 == stats.undelivered
    assert stats.offered == pytest.approx(stats.accepted, rel=0.02)
    assert zero_load < stats.latency_mean <= stats.latency_p99
    assert stats.latency_mean > stats.network_latency_mean > 0


@pytest.mark.parametrize("topology", ["torus", "one_way_torus"])
def test_tori_keep_delivering_under_overload(topology: str) -> None:
    """Far past saturation with one VC per dateline class, the rings still deliver: without the
    classes this network deadlocks within the run."""
    net = Network(topology, 8, 8, vcs=2)
    stats = simulate(net, "uniform", 1.0, warmup=500, measure=3000, drain=0)

    assert stats.accepted > 0.4 * uniform_bound_formula(topology, 8, 8)


@pytest.mark.parametrize(
    ("pattern", "kx", "ky"),
    [(p, k, k) for p in ("transpose", "bit_complement") for k in (2, 4, 8, 16)]
    + [("tornado", kx, ky) for kx, ky in ((4, 4), (8, 8), (5, 3), (7, 2))],
)
def test_permutations_match_their_bit_and_digit_definitions(pattern: str, kx: int, ky: int) -> None:
    """Transpose swaps the id's halves, bit complement inverts its bits (power-of-two square
    grids, where the textbook defines them), tornado shifts each digit."""
    np.testing.assert_array_equal(
        permutation_reference(pattern, kx, ky), permutation(pattern, kx, ky)
    )


def test_equal_seeds_give_identical_runs_and_different_seeds_differ() -> None:
    """Seeded Bernoulli injection: every figure and array repeats; another seed changes them."""
    net = Network("torus", 4, 4)
    runs = [simulate(net, "uniform", 0.5, measure=1500, seed=seed) for seed in (7, 7, 8)]

    for first, second in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(first, second)
    assert runs[0].latency_mean != runs[2].latency_mean
    assert not np.array_equal(runs[0].generated, runs[2].generated)


def test_sweep_offers_each_rate_and_latency_grows_with_load() -> None:
    """Offered rates follow the requested ones; mean latency rises with load."""
    stats = sweep(Network("mesh", 4, 4), "uniform", [0.1, 0.3, 0.5], measure=2000)

    assert [0.1, 0.3, 0.5] == pytest.approx([s.offered for s in stats], rel=0.1)
    assert stats[0].latency_mean < stats[1].latency_mean < stats[2].latency_mean


def test_packet_unit_offers_packets_per_cycle() -> None:
    """``unit='packets'``: 0.05 packets of 8 flits per cycle is 0.4 flits per cycle per node."""
    stats = simulate(
        Network("mesh", 4, 4), "uniform", 0.05, unit="packets", packet_flits=8, measure=2000
    )

    assert 0.4 == pytest.approx(stats.offered, rel=0.1)


# Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: route_table("ring", 4, 4),
            "topology must be one of 'mesh', 'torus', 'one_way_torus' (got 'ring')",
        ),
        (lambda: route_table("mesh", 0, 4), "kx must be an int from 1 to 4096 (got 0)"),
        (lambda: route_table("mesh", 4, 4.0), "ky must be an int from 1 to 4096 (got 4.0)"),
        (
            lambda: route_table("mesh", 4, 4, noc=2),
            "noc must be 0 (X then Y) or 1 (Y then X) (got 2)",
        ),
        (lambda: route("mesh", 4, 4, 0, 16), "dst must be a node id in [0, 16) (got 16)"),
        (
            lambda: hop_count("mesh", 4, 4, [0, -1], 3),
            "src must hold node ids in [0, 16) (got -1..0)",
        ),
        (
            lambda: hop_count("mesh", 4, 4, 0, [0.5]),
            "dst must hold integer node ids (got dtype float64)",
        ),
        (lambda: zero_load_latency(-1, 1, 9, 5), "hops must be integers >= 0 (got array(-1))"),
        (lambda: zero_load_latency(1, 0, 9, 5), "flits must be integers >= 1 (got array(0))"),
        (lambda: zero_load_latency(1, 1, 0, 5), "hop_cycles must be an int >= 1 (got 0)"),
        (
            lambda: simulate(Network(vcs=0), "uniform", 0.1),
            "net.vcs must be an int from 1 to 32 (got 0)",
        ),
        (
            lambda: simulate(Network("torus", vcs=3), "uniform", 0.1),
            "net.vcs must be even on a torus, for its two dateline classes (got 3)",
        ),
        (lambda: simulate(Network(noc=True), "uniform", 0.1), "net.noc must be 0 or 1 (got True)"),
        (
            lambda: simulate(Network(), "random", 0.1),
            "pattern must be one of 'uniform', 'transpose', 'bit_complement', 'tornado', "
            "'hotspot' (got 'random')",
        ),
        (
            lambda: simulate(Network(kx=4), "transpose", 0.1),
            "pattern 'transpose' needs a square grid (got kx=4, ky=8)",
        ),
        (
            lambda: simulate(Network(), "uniform", -0.1),
            "rate must be a finite number >= 0 (got -0.1)",
        ),
        (
            lambda: simulate(Network(), "uniform", 5.0),
            "rate must be at most one packet per cycle per node, 4 flits (got 5.0)",
        ),
        (
            lambda: simulate(Network(), "uniform", 0.1, unit="bytes"),
            "unit must be 'flits' or 'packets' (got 'bytes')",
        ),
        (
            lambda: simulate(Network(), "hotspot", 0.1, hotspot=64),
            "hotspot must be an int from 0 to 63 (got 64)",
        ),
        (
            lambda: simulate(Network(), "uniform", 0.1, measure=0),
            "measure must be an int >= 1 (got 0)",
        ),
        (lambda: simulate("mesh", "uniform", 0.1), "net must be a Network (got str)"),
        (lambda: run_trace(Network(), [0], [64], [0], [1]), "dst must be <= 63 (got 64)"),
        (
            lambda: run_trace(Network(), [0], [1], [0, 1], [1]),
            "time must have the length of src, 1 (got 2)",
        ),
        (lambda: run_trace(Network(), [0], [1], [0], [0]), "flits must be >= 1 (got 0)"),
        (
            lambda: run_trace(Network(), [0.0], [1], [0], [1]),
            "src must be a 1-D integer array (got float64 of shape (1,))",
        ),
        (
            lambda: saturation_rate(Network(), "uniform", unit="packets"),
            "unit must be 'flits' for saturation_rate (got 'packets')",
        ),
    ],
)
def test_bad_arguments_are_named(call, message: str) -> None:
    """Bad inputs raise ``ValueError`` naming the argument, what was expected and what came."""
    with pytest.raises(ValueError) as error:
        call()

    assert message == str(error.value)
