"""The ``nodes:`` section of a config: run its tree on a cluster of nodes on Ray.

::

    nodes:
      count: 3                 # nodes 0, 1, 2
      address: null            # an existing Ray cluster ("auto", "ray://host:10001"), or a local one
      restart: false           # Ray restarts a lost node (it comes back empty)
      placement:               # child id -> a node number, or round_robin
        worker: round_robin    # replicas worker-0, worker-1, ... follow their id

The tree is the same tree a single node runs; placement is deployment, so it lives here and
not in the tree. The root supervisor runs on node 0; each child named in ``placement`` (by its
id, or by the id its replicas were made from) starts where placement says, and children not
named start on their supervisor's node. The config loader registers the section the first time
a config has one (``SectionRegistry.providers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from neural_actors.runtime import Pid
from neural_actors.supervisors import NODE_PLACEMENTS, ChildSpec, Config, DynamicSupervisor, Supervisor
from neural_actors.supervisors.config_format import Arg

from .cluster import Cluster, cluster

__all__ = ["NodesSection", "place_tree", "start_config"]


def _check_placement(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError(f"placement: expected a mapping of child id to node; got {value!r}")
    for child, where in value.items():
        if not ((type(where) is int and where >= 0) or where in NODE_PLACEMENTS):
            raise ValueError(
                f"placement.{child}: expected a node number (an int >= 0) or one of "
                f"{', '.join(NODE_PLACEMENTS)}; got {where!r}"
            )


@attrs.frozen
class NodesSection:
    """``nodes:``: run the tree on a cluster of nodes on Ray (``neural_actors.nodes``)."""

    count: int = attrs.field(default=2, metadata={"doc": "how many nodes (0 .. count - 1)"})
    address: str | None = attrs.field(default=None, metadata={"doc": "a Ray cluster to join; default: local"})
    restart: bool = attrs.field(default=False, metadata={"doc": "Ray restarts a lost node, empty"})
    placement: dict[str, Arg] = attrs.field(
        factory=dict, validator=_check_placement,
        metadata={"doc": "child id -> node number or round_robin (replicas follow their id)"},
    )


def place_tree(tree: ChildSpec, placement: Mapping[str, Any]) -> ChildSpec:
    """``tree`` with ``node`` set on every child named in ``placement``, at any depth.

    A replica (``worker-3``, made from ``worker``) takes its original id's placement unless it
    is named itself.
    """
    if not placement:
        return tree
    return _place(tree, placement)


def _place(spec: ChildSpec, placement: Mapping[str, Any]) -> ChildSpec:
    args = spec.args
    if spec.actor is Supervisor and len(args) == 2:
        args = (args[0], tuple(_place(child, placement) for child in args[1]))
    elif spec.actor is DynamicSupervisor and args:
        args = (_place(args[0], placement), *args[1:])
    start = (spec.actor, args, *spec.start[2:])
    where = _where(spec.id, placement)
    return attrs.evolve(spec, start=start, **({} if where is None else {"node": where}))  # type: ignore[misc]


def _where(child_id: Any, placement: Mapping[str, Any]) -> Any:
    if child_id in placement:
        return placement[child_id]
    replica = re.fullmatch(r"(.+)-\d+", str(child_id))
    return placement.get(replica[1]) if replica else None


def start_config(config: Config, **options: Any) -> tuple[Cluster, Pid]:
    """Start the cluster a config's ``nodes:`` section describes, and its tree on node 0.

    Args:
        options: more of ``cluster``'s keyword arguments (``init=`` for ``ray.init``).

    Returns:
        The cluster (shut it down when done) and the root supervisor's pid.

    Raises:
        ValueError: the config has no ``nodes:`` section, or its runtime asks for the virtual
            clock (nodes run on real time).
    """
    section = config.sections.get("nodes")
    if section is None:
        raise ValueError("the config has no nodes: section; add one to run the tree on a cluster")
    runtime = config.runtime.options()
    if runtime["clock"] != "real":
        raise ValueError(f"runtime.clock: nodes run on real time; got {runtime['clock']!r}")
    nodes = cluster(section.count, address=section.address, restart=section.restart, runtime=runtime, **options)
    tree = place_tree(config.tree, section.placement)
    try:
        root = nodes.start(
            0, tree.actor, *tree.args, kwargs=tree.kwargs, name=tree.name, shutdown=tree.shutdown_timeout,
            timeout=120.0,
        )
    except BaseException:
        nodes.shutdown()
        raise
    return nodes, root
