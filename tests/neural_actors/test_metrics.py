"""The Prometheus adapter: a collector whose exposition parses, with the names and labels the
docs list, read fresh at each scrape; and a clear error when prometheus-client is missing."""

import sys

import pytest
from neural_actors.runtime import Actor, MailboxPolicy, Runtime
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags

from neural_actors import metrics

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402


class Worker(Actor):
    def handle_call(self, msg, caller):
        return msg

    def handle_cast(self, msg):
        raise RuntimeError(msg)


def scrape(registry) -> dict[str, dict[tuple, float]]:
    """Every sample of the exposition, parsed back: name -> sorted labels -> value."""
    text = prometheus_client.generate_latest(registry).decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


@pytest.mark.asyncio
async def test_the_exposition_parses_with_the_documented_names_and_labels() -> None:
    async with Runtime(clock="virtual", metrics=True) as rt:
        registry = prometheus_client.CollectorRegistry()
        metrics.register(rt, registry)
        specs = [ChildSpec(id="w", start=(Worker, ()), name="w", mailbox=MailboxPolicy(4, "drop_newest"))]
        root = await rt.start(Supervisor, SupervisorFlags(intensity=3), specs)
        rt.metrics.label(root, "root")
        assert 7 == await rt.call("w", 7)
        rt.cast("w", "crash")
        await rt.wait_idle()
        samples = scrape(registry)

    assert 1.0 == samples["neural_actors_messages_sent_total"][(("kind", "call"),)]
    assert samples["neural_actors_messages_delivered_total"][()] >= 3
    assert {"dead_letter", "overflow", "refused"} <= {dict(k)["reason"] for k in samples["neural_actors_messages_dropped_total"]}
    assert 1.0 == samples["neural_actors_call_duration_seconds_count"][(("outcome", "ok"),)]
    assert 1.0 == samples["neural_actors_call_duration_seconds_bucket"][(("le", "+Inf"), ("outcome", "ok"))]
    assert 0.0 == samples["neural_actors_mailbox_depth"][(("process", "w"),)]
    assert 1.0 == samples["neural_actors_supervisor_restarts_total"][(("child", "w"), ("supervisor", "root"))]
    assert 1.0 == samples["neural_actors_process_crashes_total"][()]
    for name in ("neural_actors_mailbox_messages", "neural_actors_mailbox_depth_max", "neural_actors_processes",
                 "neural_actors_processes_spawned_total", "neural_actors_processes_exited_total"):
        assert () in samples[name]


@pytest.mark.asyncio
async def test_each_scrape_reads_the_counters_afresh() -> None:
    async with Runtime(clock="virtual", metrics=True) as rt:
        registry = prometheus_client.CollectorRegistry()
        metrics.register(rt, registry, namespace="svc")
        pid = rt.spawn(Worker)
        await rt.call(pid, 1)
        first = scrape(registry)["svc_messages_sent_total"][(("kind", "call"),)]
        await rt.call(pid, 2)
        second = scrape(registry)["svc_messages_sent_total"][(("kind", "call"),)]

    assert (1.0, 2.0) == (first, second)


@pytest.mark.asyncio
async def test_mesh_links_are_exported_on_a_mesh() -> None:
    async with Runtime(clock="virtual", metrics=True, mesh="mesh:4x4") as rt:
        registry = prometheus_client.CollectorRegistry()
        metrics.register(rt, registry)
        far = rt.spawn(Worker, core=1)
        await rt.call(far, "x")
        samples = scrape(registry)

    labels = {dict(k)["direction"] for k in samples["neural_actors_mesh_link_utilisation"]}
    assert labels and samples["neural_actors_mesh_link_bytes_total"]


@pytest.mark.asyncio
async def test_a_runtime_without_metrics_is_refused() -> None:
    async with Runtime(clock="virtual") as rt:
        with pytest.raises(ValueError) as raised:
            metrics.register(rt, prometheus_client.CollectorRegistry())

    assert "the runtime's metrics are off; start it with Runtime(metrics=True)" == str(raised.value)


def test_without_prometheus_client_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)

    with pytest.raises(ImportError) as raised:
        metrics.require_prometheus()

    assert (
        "neural_actors.metrics needs prometheus-client; install it with: pip install 'neural-actors[metrics]'"
        == str(raised.value)
    )
