"""``neural-actors mesh``: the latency/throughput curve of a mesh preset from the cycle-level
simulator, as a table and, with ``--plot``, a PNG (matplotlib, the ``plot`` extra)."""

from __future__ import annotations

import re

import click

from neural_actors.kernels import noc

__all__ = ["mesh"]

PATTERNS = ("uniform", "transpose", "bit_complement", "tornado", "hotspot")


def network(preset: str) -> noc.Network:
    """The simulator's network for a preset name: ``wormhole``, ``blackhole`` (NoC0 of the chip),
    ``mesh:KXxKY``, ``torus:KXxKY``, ``noc:KXxKY`` (a one-way torus).

    Raises:
        click.BadParameter: an unknown name.
    """
    if preset == "wormhole":
        return noc.chip_network(noc.WORMHOLE_B0)
    if preset == "blackhole":
        return noc.chip_network(noc.BLACKHOLE)
    match = re.fullmatch(r"(mesh|torus|noc):(\d+)x(\d+)", preset)
    if match is None:
        raise click.BadParameter(f"expected wormhole, blackhole, mesh:KXxKY, torus:KXxKY or noc:KXxKY; got {preset!r}")
    topology = "one_way_torus" if match[1] == "noc" else match[1]
    return noc.Network(topology, int(match[2]), int(match[3]))


def bound(net: noc.Network) -> float:
    """The uniform-traffic saturation bound, flits per cycle per node (the channel load limit)."""
    k = max(net.kx, net.ky)
    if net.topology == "mesh":
        return 4 / k
    if net.topology == "torus":
        return 8 / k
    return 2 / (k - 1)


def _rates(text: str | None, net: noc.Network) -> list[float]:
    if text is None:
        return [round(bound(net) * f, 4) for f in (0.05, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9)]
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated rates such as 0.05,0.1; got {text!r}") from None
    if not rates or any(not 0 < r <= 1 for r in rates):
        raise click.BadParameter(f"each rate must be in (0, 1] flits per cycle per node; got {text!r}")
    return rates


@click.command()
@click.argument("preset")
@click.option("--traffic", type=click.Choice(PATTERNS), default="uniform", show_default=True, help="Traffic pattern.")
@click.option("--rates", default=None, help="Offered loads, flits/cycle/node, comma-separated [fractions of the bound].")
@click.option("--packet-flits", type=click.IntRange(1, 257), default=4, show_default=True, help="Flits per packet.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seeds the traffic.")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), default=None, help="Write latency vs load as a PNG.")
def mesh(preset: str, traffic: str, rates: str | None, packet_flits: int, seed: int, plot: str | None) -> None:
    """Latency and accepted throughput of a mesh PRESET under synthetic traffic (cycle-level)."""
    net = network(preset)
    offered = _rates(rates, net)
    click.echo(f"{preset}: {net.topology} {net.kx}x{net.ky}, {traffic} traffic, {packet_flits}-flit packets, "
               f"bound {bound(net):.4f} flits/cycle/node")
    click.echo(f"{'offered':>8} {'accepted':>9} {'latency':>9} {'p99':>8}  (flits/cycle/node; cycles)")
    results = []
    with click.progressbar(offered, label="simulating", file=click.get_text_stream("stderr")) as bar:
        for rate in bar:
            results.append(noc.simulate(net, traffic, rate, packet_flits=packet_flits, seed=seed))  # type: ignore[arg-type]
    for rate, stats in zip(offered, results):
        click.echo(f"{rate:>8.4f} {stats.accepted:>9.4f} {stats.latency_mean:>9.1f} {stats.latency_p99:>8.1f}")
    if plot is not None:
        _plot(plot, preset, traffic, offered, results)
        click.echo(f"wrote {plot}")


def _plot(path: str, preset: str, traffic: str, offered: list[float], results: list[noc.NocStats]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise click.ClickException("--plot needs matplotlib: pip install 'neural-actors[plot]'") from None
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot([s.accepted for s in results], [s.latency_mean for s in results], marker="o", label="mean")
    axis.plot([s.accepted for s in results], [s.latency_p99 for s in results], marker="x", label="p99")
    axis.set_xlabel("accepted load (flits/cycle/node)")
    axis.set_ylabel("packet latency (cycles)")
    axis.set_title(f"{preset}, {traffic} traffic")
    axis.grid(True, alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
