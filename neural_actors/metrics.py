"""The runtime's metrics for Prometheus: a collector that reads ``Runtime.metrics_snapshot()``.

``prometheus-client`` is an optional extra (``pip install 'neural-actors[metrics]'``): nothing
else in the package imports it, and this module imports it only when a collector is made. The
collector reads a fresh snapshot at every scrape, so nothing is copied between scrapes and the
hot path pays nothing for Prometheus. Call ``generate_latest`` (or serve the registry) on the
runtime's own loop thread, as an ASGI ``/metrics`` route does: the snapshot walks the live
process table.

The metrics, with their labels (``neural_actors_`` is the default namespace):

=====================================================  =========  =================================
name                                                   type       labels
=====================================================  =========  =================================
``neural_actors_messages_sent_total``                  counter    ``kind``: cast, send, call, timer, reply
``neural_actors_messages_delivered_total``             counter
``neural_actors_messages_dropped_total``               counter    ``reason``: dead_letter, refused, overflow, exited, ...
``neural_actors_call_duration_seconds``                histogram  ``outcome``: ok, exited, timeout, refused, cancelled, error
``neural_actors_mailbox_depth``                        gauge      ``process``: each registered name
``neural_actors_mailbox_messages``                     gauge      (all mailboxes together)
``neural_actors_mailbox_depth_max``                    gauge      (the deepest mailbox)
``neural_actors_supervisor_restarts_total``            counter    ``supervisor`` (its path), ``child``
``neural_actors_supervisor_escalations_total``         counter    ``supervisor``
``neural_actors_processes``                            gauge
``neural_actors_processes_spawned_total``              counter
``neural_actors_processes_exited_total``               counter
``neural_actors_process_crashes_total``                counter
``neural_actors_mesh_link_utilisation``                gauge      ``chip``, ``x``, ``y``, ``direction``, ``noc``
``neural_actors_mesh_link_bytes_total``                counter    the same
=====================================================  =========  =================================

The mesh metrics appear for a runtime on a mesh, for the links that carried traffic.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from neural_actors.runtime import MetricsSnapshot, Runtime

__all__ = ["RuntimeCollector", "register", "require_prometheus"]

INSTALL_HINT = "neural_actors.metrics needs prometheus-client; install it with: pip install 'neural-actors[metrics]'"


def require_prometheus() -> Any:
    """The ``prometheus_client`` module, imported on first use.

    Raises:
        ImportError: it is not installed (the message says how to install it).
    """
    try:
        import prometheus_client as client
        import prometheus_client.core  # noqa: F401 - the metric families, a submodule
    except ImportError as missing:
        raise ImportError(INSTALL_HINT) from missing
    return client


class RuntimeCollector:
    """A Prometheus collector of one runtime's metrics (its ``metrics=True`` counters).

    Args:
        runtime: a runtime started with ``metrics=True``.
        namespace: the prefix of every metric name.
    """

    def __init__(self, runtime: Runtime, *, namespace: str = "neural_actors") -> None:
        require_prometheus()
        if runtime.metrics is None:
            raise ValueError("the runtime's metrics are off; start it with Runtime(metrics=True)")
        self.runtime = runtime
        self.namespace = namespace

    def collect(self) -> Iterator[Any]:
        """The metric families of a fresh snapshot (prometheus_client calls this per scrape)."""
        core = require_prometheus().core
        yield from _families(core, self.runtime.metrics_snapshot(), f"{self.namespace}_")


def register(runtime: Runtime, registry: Any = None, *, namespace: str = "neural_actors") -> RuntimeCollector:
    """Register ``runtime``'s metrics with a Prometheus registry (the default one if None).

    Returns:
        The collector; ``registry.unregister(collector)`` removes it.

    Raises:
        ImportError: prometheus-client is not installed.
        ValueError: the runtime's metrics are off, or the names are already registered.
    """
    collector = RuntimeCollector(runtime, namespace=namespace)
    (registry if registry is not None else require_prometheus().REGISTRY).register(collector)
    return collector


def _families(core: Any, snap: MetricsSnapshot, ns: str) -> Iterator[Any]:
    counter, gauge = core.CounterMetricFamily, core.GaugeMetricFamily

    sent = counter(f"{ns}messages_sent", "Messages the delivery seam accepted, by kind.", labels=["kind"])
    for kind, count in snap.sent.items():
        sent.add_metric([kind], count)
    yield sent
    yield counter(f"{ns}messages_delivered", "Messages queued in a mailbox, and replies handed to callers.",
                  value=snap.delivered)
    dropped = counter(f"{ns}messages_dropped", "Messages dropped, by reason.", labels=["reason"])
    for reason, count in sorted(snap.dropped.items()):
        dropped.add_metric([reason], count)
    yield dropped

    calls = core.HistogramMetricFamily(f"{ns}call_duration_seconds", "Call latency, by outcome.",
                                       labels=["outcome"])
    for outcome, histogram in sorted(snap.calls.items()):
        buckets = [("+Inf" if math.isinf(bound) else repr(bound), count) for bound, count in histogram.buckets]
        calls.add_metric([outcome], buckets, histogram.sum)
    yield calls

    depth = gauge(f"{ns}mailbox_depth", "Messages queued in a registered process's mailbox.", labels=["process"])
    for name, count in sorted(snap.mailbox_depth.items()):
        depth.add_metric([name], count)
    yield depth
    yield gauge(f"{ns}mailbox_messages", "Messages queued in all mailboxes.", value=snap.mailbox_total)
    yield gauge(f"{ns}mailbox_depth_max", "The deepest mailbox.", value=snap.mailbox_max)

    restarts = counter(f"{ns}supervisor_restarts", "Restarts of a child by its supervisor.",
                       labels=["supervisor", "child"])
    for (supervisor, child), count in sorted(snap.restarts.items()):
        restarts.add_metric([supervisor, child], count)
    yield restarts
    escalations = counter(f"{ns}supervisor_escalations", "Times a supervisor gave up (its exit escalates).",
                          labels=["supervisor"])
    for supervisor, count in sorted(snap.escalations.items()):
        escalations.add_metric([supervisor], count)
    yield escalations

    yield gauge(f"{ns}processes", "Live processes.", value=snap.processes)
    yield counter(f"{ns}processes_spawned", "Processes spawned.", value=snap.spawned)
    yield counter(f"{ns}processes_exited", "Processes exited.", value=snap.exited)
    yield counter(f"{ns}process_crashes", "Processes that crashed (a callback raised).", value=snap.crashed)

    if snap.links:
        names = ["chip", "x", "y", "direction", "noc"]
        utilisation = gauge(f"{ns}mesh_link_utilisation", "Busy fraction of a mesh link.", labels=names)
        carried = counter(f"{ns}mesh_link_bytes", "Bytes a mesh link carried.", labels=names)
        for chip, x, y, direction, noc, nbytes, busy in snap.links:
            labels = [str(chip), str(x), str(y), direction, str(noc)]
            utilisation.add_metric(labels, busy)
            carried.add_metric(labels, nbytes)
        yield utilisation
        yield carried
