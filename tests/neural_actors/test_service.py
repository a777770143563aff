"""The ASGI service, run in-process through httpx's ASGI transport on virtual time: inference,
bad input, health, readiness, the tree, metrics; replicas killed under 200 concurrent requests;
shutdown under load."""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
prometheus_client = pytest.importorskip("prometheus_client")

from neural_actors.supervisors import ConfigError, loads_config  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from neural_actors.fff_model import FFFLeafWeights  # noqa: E402
from neural_actors.service import Service, create_app  # noqa: E402
from neural_actors.tiny_fff import TinyFFF  # noqa: E402

HERE = "tests.neural_actors.test_service"


class SlowFFF(TinyFFF):
    """A TinyFFF that takes ``delay`` seconds per request, so requests overlap with faults."""

    def init(self, delay: float, **shape: Any) -> None:
        super().init(**shape)
        self.delay = delay

    async def handle_call(self, msg: Any, caller: Any) -> Any:
        await asyncio.sleep(self.delay)
        return super().handle_call(msg, caller)


def config(model: str = "model", *, actor: str = "neural_actors.tiny_fff:TinyFFF", delay: float | None = None,
           replicas: int = 4, service: str = "") -> str:
    kwargs = "d_in: 4, d_out: 2, depth: 2, leaf_width: 4, seed: 1, group: model"
    if delay is not None:
        kwargs += f", delay: {delay}"
    return f"""
runtime: {{clock: real}}
service: {{model: {model}, features: 4, timeout: 1s, retry_after: 2s, grace: 100ms{service}}}
tree:
  id: root
  intensity: 1000
  period: 1s
  children:
    - id: model
      replicas: {replicas}
      actor: {actor}
      kwargs: {{{kwargs}}}
"""


@contextlib.asynccontextmanager
async def serving(text: str) -> AsyncIterator[tuple[Service, Any]]:
    """The app's lifespan running, and a client that calls it in-process."""
    app = create_app(loads_config(text))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            yield app.state.service, client


ROWS = [[0.5, -1.0, 2.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


# Inference ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_infer_answers_with_the_models_rows() -> None:
    """The answer is the FFF's output for the rows, as the model's weights compute it."""
    async with serving(config()) as (_, client):
        response = await client.post("/infer", json={"x": ROWS})

    expected = FFFLeafWeights.init(4, 2, 2, 4, 1).hard(np.array(ROWS, np.float32))
    assert 200 == response.status_code
    assert np.allclose(expected, response.json()["y"])
    assert [] == response.json()["degraded"]


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        (b"{", "body", 'body: expected a JSON object such as {"x": [[0.5, 1.0], [2.0, 0.0]]} '
                       "(got invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (b"[1]", "body", 'body: expected a JSON object such as {"x": [[0.5, 1.0], [2.0, 0.0]]} (got a JSON array)'),
        (b'{"y": 1}', "x", 'x: missing; expected a JSON object such as {"x": [[0.5, 1.0], [2.0, 0.0]]}'),
        (b'{"x": []}', "x", "x: expected a non-empty list of rows, each a list of numbers (got an empty array)"),
        (b'{"x": [1, 2]}', "x", "x: expected a non-empty list of rows, each a list of numbers (got an array of non-arrays)"),
        (b'{"x": "rows"}', "x", "x: expected a non-empty list of rows, each a list of numbers (got a JSON string)"),
        (b'{"x": [[1, 2, 3, 4], [1]]}', "x", "x: expected rows of one length (got lengths [1, 4])"),
        (b'{"x": [[1, 2, 3]]}', "x", "x: expected rows of 4 numbers (got 3)"),
        (b'{"x": [[1, 2, "3", 4]]}', "x[0][2]", "x[0][2]: expected a number (got a JSON string)"),
        (b'{"x": [[1, 2, 3, true]]}', "x[0][3]", "x[0][3]: expected a number (got a JSON boolean)"),
        (b'{"x": [[1, 2, 3, 4], [1, NaN, 3, 4]]}', "x[1][1]",
         "x[1][1]: expected a finite number (got nan, or too large for float32)"),
        (b'{"x": [[1, 2, 3, 1e39]]}', "x[0][3]", "x[0][3]: expected a finite number (got 1e+39, or too large for float32)"),
    ],
)
@pytest.mark.asyncio
async def test_bad_input_is_a_422_naming_the_field(body: bytes, field: str, detail: str) -> None:
    async with serving(config()) as (_, client):
        response = await client.post("/infer", content=body)

    assert 422 == response.status_code
    assert {"error": "invalid_request", "field": field, "detail": detail} == response.json()


@pytest.mark.asyncio
async def test_too_many_rows_is_a_422() -> None:
    async with serving(config(service=", max_rows: 2")) as (_, client):
        response = await client.post("/infer", json={"x": ROWS * 2})

    assert (422, "x: expected at most 2 rows (got 4)") == (response.status_code, response.json()["detail"])


@pytest.mark.asyncio
async def test_input_the_model_refuses_is_a_422() -> None:
    """Without ``features`` the model itself checks the width, and its refusal is the client's error."""
    text = config().replace("features: 4, ", "")
    async with serving(text) as (_, client):
        response = await client.post("/infer", json={"x": [[1.0, 2.0]]})

    assert 422 == response.status_code
    assert {"error": "invalid_request", "field": "x", "detail": "x: expected rows of 4 numbers (got shape (1, 2))"} == response.json()


# Errors of the model --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_no_live_model_is_a_503_with_the_reason_and_retry_after() -> None:
    async with serving(config("nobody")) as (_, client):
        response = await client.post("/infer", json={"x": ROWS})
        ready = await client.get("/ready")

    assert (503, "2") == (response.status_code, response.headers["retry-after"])
    assert {
        "error": "unavailable", "reason": "noproc",
        "detail": "no live actor is registered or grouped as 'nobody'; it may be restarting",
    } == response.json()
    assert (503, ["no live actor is registered or grouped as 'nobody'"]) == (ready.status_code, ready.json()["reasons"])


@pytest.mark.asyncio
async def test_a_model_slower_than_the_timeout_is_a_504() -> None:
    async with serving(config(actor=f"{HERE}:SlowFFF", delay=30)) as (_, client):
        response = await client.post("/infer", json={"x": ROWS})

    assert 504 == response.status_code
    assert "timeout" == response.json()["error"]
    assert response.json()["detail"].endswith("to Infer within 1 s")


@pytest.mark.asyncio
async def test_a_model_that_dies_during_the_call_is_a_503_naming_its_exit() -> None:
    async with serving(config(actor=f"{HERE}:SlowFFF", delay=1, replicas=1)) as (service, client):
        request = asyncio.ensure_future(client.post("/infer", json={"x": ROWS}))
        await asyncio.sleep(0.5)
        service.runtime.exit(service.runtime.members("model")[0], "kill")
        response = await request

    assert (503, "2", "killed") == (response.status_code, response.headers["retry-after"], response.json()["reason"])
    assert response.json()["detail"].endswith("exited: killed")


# Health, readiness, tree, metrics -------------------------------------------------------------


@pytest.mark.asyncio
async def test_health_readiness_and_the_tree() -> None:
    async with serving(config()) as (service, client):
        health = await client.get("/health")
        ready = await client.get("/ready")
        tree = await client.get("/tree")
        assert service.live() is None

    assert (200, {"status": "ok"}) == (health.status_code, health.json())
    assert (200, {"ready": True}) == (ready.status_code, ready.json())
    body = tree.json()
    assert (200, True, "root") == (tree.status_code, body["healthy"], body["root"]["id"])
    assert ["model-0", "model-1", "model-2", "model-3"] == [c["id"] for c in body["root"]["children"]]
    assert {"running"} == {c["state"] for c in body["root"]["children"]}


@pytest.mark.asyncio
async def test_readiness_fails_while_a_required_child_is_restarting() -> None:
    """A child pausing before a backoff restart makes the service not ready; it says which."""
    text = config(replicas=1, service=", required: [model-0]").replace(
        "      kwargs:", "      backoff: {min: 10s, max: 10s, random_factor: 0}\n      kwargs:"
    )
    async with serving(text) as (service, client):
        service.runtime.exit(service.runtime.members("model")[0], "kill")
        await service.runtime.wait_idle()
        ready = await client.get("/ready")
        health = await client.get("/health")
        await asyncio.sleep(11)
        again = await client.get("/ready")

    assert 503 == ready.status_code
    assert ["child 'model-0' is restarting (killed)", "no live actor is registered or grouped as 'model'"] == ready.json()["reasons"]
    assert 200 == health.status_code  # alive: a restart is under way
    assert 200 == again.status_code


@pytest.mark.asyncio
async def test_readiness_names_a_required_child_the_tree_lacks() -> None:
    async with serving(config(service=", required: [cache]")) as (_, client):
        ready = await client.get("/ready")

    assert (503, ["no child 'cache' in the tree"]) == (ready.status_code, ready.json()["reasons"])


@pytest.mark.asyncio
async def test_metrics_parse_with_prometheus_clients_parser() -> None:
    async with serving(config()) as (_, client):
        await client.post("/infer", json={"x": ROWS})
        await client.post("/infer", json={"x": []})
        response = await client.get("/metrics")

    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    assert 1.0 == samples[("neural_actors_http_requests_total", (("route", "/infer"), ("status", "200")))]
    assert 1.0 == samples[("neural_actors_http_requests_total", (("route", "/infer"), ("status", "422")))]
    assert 2.0 == samples[("neural_actors_http_request_duration_seconds_count", (("route", "/infer"),))]
    assert samples[("neural_actors_messages_sent_total", (("kind", "call"),))] >= 1
    assert 1.0 == samples[("neural_actors_call_duration_seconds_count", (("outcome", "ok"),))]


# Faults and shutdown under load ---------------------------------------------------------------


def _clean(response: Any) -> bool:
    """200, or a 503 with a reason and a Retry-After, or a 504 saying it timed out."""
    if response.status_code == 200:
        return len(response.json()["y"]) == 2
    body = response.json()
    if response.status_code == 503:
        return body["error"] == "unavailable" and bool(body["reason"]) and response.headers["retry-after"] == "2"
    return response.status_code == 504 and body["error"] == "timeout"


@pytest.mark.asyncio
async def test_killing_replicas_during_200_concurrent_requests_answers_each_cleanly() -> None:
    """Replicas are killed while 200 requests run: each answer is a 200, or a clean 503 or 504,
    and none hangs; the tree restarts the replicas and is ready again."""
    async with serving(config(actor=f"{HERE}:SlowFFF", delay=0.002)) as (service, client):
        rt = service.runtime
        rng = random.Random(7)

        async def kill_replicas() -> int:
            kills = 0
            for _ in range(20):
                await asyncio.sleep(0.005)
                members = rt.members("model")
                if members:
                    rt.exit(rng.choice(members), "kill")
                    kills += 1
            return kills

        killer = asyncio.ensure_future(kill_replicas())
        async with asyncio.timeout(60):
            responses = await asyncio.gather(*(client.post("/infer", json={"x": ROWS}) for _ in range(200)))
        kills = await killer
        await rt.wait_idle()
        ready = await client.get("/ready")

    statuses = [r.status_code for r in responses]
    assert all(_clean(r) for r in responses), {r.status_code: r.text for r in responses if not _clean(r)}
    assert 20 == kills
    assert statuses.count(200) > 0 and statuses.count(503) > 0
    assert 200 == ready.status_code


@pytest.mark.asyncio
async def test_shutdown_under_load_answers_every_request_and_leaves_nothing_running() -> None:
    """Leaving the lifespan with 200 requests in flight: those done within the grace get 200,
    the rest a clean 503 as the tree stops; no process and no task is left."""
    app = create_app(loads_config(config(actor=f"{HERE}:SlowFFF", delay=0.01)))
    service: Service = app.state.service
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        async with app.router.lifespan_context(app):
            requests = asyncio.gather(*(client.post("/infer", json={"x": ROWS}) for _ in range(200)))
            await asyncio.sleep(0.05)
        responses = await requests
        late = await client.post("/infer", json={"x": ROWS})

    statuses = [r.status_code for r in responses]
    assert all(_clean(r) for r in responses)
    assert 0 < statuses.count(200) < 200
    assert {"shutdown", "killed"} >= {r.json()["reason"] for r in responses if r.status_code == 503}
    assert (503, "shutting_down") == (late.status_code, late.json()["reason"])
    assert [] == service.runtime.processes()
    assert {asyncio.current_task()} == asyncio.all_tasks()


# The config section ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("model: ''", "service.model: must be the non-empty name or group of the model actor; got \"\""),
        ("model: m, features: 0", "service.features: must be None or an int >= 1; got 0"),
        ("model: m, port: 70000", "service.port: must be an int from 0 to 65535; got 70000"),
        ("model: m, timeout: 0s", "service.timeout: must be a finite number of seconds > 0; got 0"),
    ],
)
def test_the_service_section_is_checked_with_the_rest_of_the_config(given: str, problem: str) -> None:
    text = f"service: {{{given}}}\ntree: {{id: root, children: []}}\n"

    with pytest.raises(ConfigError) as raised:
        loads_config(text, source="svc.yaml")

    assert [problem] == [str(p).split(": ", 1)[1] for p in raised.value.problems]  # after file:line:col


def test_an_unknown_service_key_is_named_with_the_keys_it_may_have() -> None:
    text = config().replace("service: {model: model,", "service: {model: model, colour: red,")

    with pytest.raises(ConfigError) as raised:
        loads_config(text, source="svc.yaml")

    assert [
        "svc.yaml:3:25: service.colour: unknown key; expected one of model, timeout, retry_after, grace, "
        "features, max_rows, required, host, port",
    ] == [str(problem) for problem in raised.value.problems]


def test_an_app_needs_a_service_section() -> None:
    text = "tree: {id: root, children: []}"

    with pytest.raises(ValueError) as raised:
        create_app(loads_config(text))

    assert ("the config has no service: section; add one naming the model actor, e.g. service: {model: model}"
            == str(raised.value))


@pytest.mark.asyncio
async def test_the_ten_line_example_serves_inference() -> None:
    """examples/service/app.py: the runtime in a lifespan, a route calling the model by name."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "service" / "app.py"
    spec = importlib.util.spec_from_file_location("service_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    app = example.app
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
            response = await client.post("/infer", json={"x": [list(range(16))]})

    expected = FFFLeafWeights.init(16, 4, 3, 8, 0).hard(np.arange(16, dtype=np.float32)[None])
    assert 200 == response.status_code
    assert np.allclose(expected, response.json()["y"])
