"""``python -m neural_actors.nodes run CONFIG``: run a config's tree on a cluster of nodes."""

from __future__ import annotations

import functools
import time

import click

from neural_actors.supervisors import ChildHealth, load_config, tree_health

from .config import start_config
from .service import generate_load


@click.group()
def main() -> None:
    """Run supervision trees on a cluster of nodes on Ray."""


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--requests", type=int, default=0, help="Send this many requests through the router, then report.")
@click.option("--kill", "kill_node", type=int, default=None, help="Kill this node when half the requests are answered.")
@click.option("--duration", type=float, default=None, help="Seconds to keep the tree running (without --requests).")
@click.option("--num-cpus", type=int, default=None, help="CPUs of the local Ray started here.")
def run(config: str, requests: int, kill_node: int | None, duration: float | None, num_cpus: int | None) -> None:
    """Start CONFIG's tree on the cluster its nodes: section describes."""
    init = {"include_dashboard": False, **({} if num_cpus is None else {"num_cpus": num_cpus})}
    nodes, root = start_config(load_config(config), init=init)
    with nodes:
        click.echo(f"tree {root!r} running on nodes {nodes.nodes()}")
        if requests:
            action = None if kill_node is None else nodes.killer(kill_node)
            load = functools.partial(generate_load, after=requests // 2, action=action)
            report = nodes.run(0, load, requests, timeout=None)
            if kill_node is not None:
                click.echo(f"node {kill_node} killed after {requests // 2} answers")
            click.echo(str(report))
        elif duration is not None:
            time.sleep(duration)
        health = nodes.run(0, tree_health, root)
        click.echo(f"tree {'healthy' if health.healthy else 'NOT healthy'}:")
        _show(health.root.children, 1)


def _show(children: tuple[ChildHealth, ...], depth: int) -> None:
    for child in children:
        where = "" if child.pid is None else f"on node {child.pid.node}"
        click.echo(f"{'  ' * depth}{child.id!s:<12} {child.state:<10} restarts {child.restarts:<3} {where}")
        _show(child.children, depth + 1)


if __name__ == "__main__":
    main()
