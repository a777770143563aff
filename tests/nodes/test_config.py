"""The ``nodes:`` config section and placement; and configs/cluster.yaml served on a local Ray
cluster while a node is killed mid-load (marked ``ray``)."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from neural_actors.supervisors import ChildSpec, ConfigError, load_config, loads_config, walk_tree

from neural_actors.nodes.config import NodesSection, place_tree, start_config

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "configs" / "cluster.yaml"


def test_the_cluster_config_places_its_workers_round_robin() -> None:
    """configs/cluster.yaml loads with its nodes: section; placement reaches every replica."""
    config = load_config(CLUSTER)

    tree = place_tree(config.tree, config.sections["nodes"].placement)

    placed = {spec.id: spec.node for spec in walk_tree(tree) if type(spec) is ChildSpec}
    assert NodesSection(count=3, placement={"worker": "round_robin"}) == config.sections["nodes"]
    assert {"service": None, "router": None, "workers": None} == {k: placed[k] for k in ("service", "router", "workers")}
    assert {f"worker-{i}": "round_robin" for i in range(6)} == {k: v for k, v in placed.items() if k.startswith("worker-")}


def test_a_child_named_itself_overrides_the_placement_of_its_replicas() -> None:
    """``worker-1: 2`` beats ``worker: round_robin`` for that replica alone."""
    config = loads_config(
        "nodes: {placement: {worker: round_robin, worker-1: 2}}\n"
        "tree: {id: root, children: [{id: worker, replicas: 2, actor: 'tests.nodes.actors:Echo'}]}\n"
    )

    tree = place_tree(config.tree, config.sections["nodes"].placement)

    assert ["round_robin", 2] == [child.node for child in tree.args[1]]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("{placement: {worker: spread}}", "placement.worker: expected a node number (an int >= 0) or one of round_robin; got 'spread'"),
        ("{placement: {worker: -1}}", "placement.worker: expected a node number (an int >= 0) or one of round_robin; got -1"),
        ("{count: three}", 'expected an int; got "three"'),
        ("{nodes: 3}", "unknown key; expected one of count, address, restart, placement"),
    ],
)
def test_a_bad_nodes_section_is_reported_where_it_is(section: str, expected: str) -> None:
    """Each mistake is one problem of the config, naming the key and what was expected."""
    with pytest.raises(ConfigError) as error:
        loads_config(f"nodes: {section}\ntree: {{id: root, children: []}}\n")

    assert [expected] == [problem.message for problem in error.value.problems]


def test_a_config_without_nodes_or_on_virtual_time_is_refused_before_anything_starts() -> None:
    """``start_config`` needs a nodes: section and the real clock."""
    plain = loads_config("tree: {id: root, children: []}\n")
    virtual = loads_config("runtime: {clock: virtual}\nnodes: {}\ntree: {id: root, children: []}\n")

    with pytest.raises(ValueError) as missing:
        start_config(plain)
    with pytest.raises(ValueError) as clock:
        start_config(virtual)

    assert "the config has no nodes: section; add one to run the tree on a cluster" == str(missing.value)
    assert "runtime.clock: nodes run on real time; got 'virtual'" == str(clock.value)


@pytest.mark.ray
def test_killing_a_node_mid_load_answers_every_request_and_restarts_its_workers_elsewhere() -> None:
    """configs/cluster.yaml on three nodes: node 2 is killed when half of the requests are
    answered; every request is answered right, and the lost workers run on nodes 0 and 1."""
    ray = pytest.importorskip("ray")
    from neural_actors.nodes.service import generate_load
    from neural_actors.supervisors import tree_health

    before = ray.is_initialized()
    nodes, root = start_config(load_config(CLUSTER), init={"num_cpus": 2, "include_dashboard": False,
                                                           "log_to_driver": False})
    with nodes:
        load = functools.partial(generate_load, after=200, action=nodes.killer(2))
        report = nodes.run(0, load, 400, timeout=300)
        health = nodes.run(0, tree_health, root)
    assert before == ray.is_initialized()  # a Ray started for the cluster stops with it

    workers = [child for child in health.root.children[1].children]
    assert (400, 400, 0, ()) == (report.requests, report.answered, report.wrong, report.failed)
    assert health.healthy
    assert {0, 1} == {worker.pid.node for worker in workers}
    assert 2 == sum(worker.restarts for worker in workers)
