"""``neural-actors serve`` as an operator runs it: uvicorn on a loopback port in a subprocess,
requests over HTTP, then SIGTERM: requests in flight are answered, the tree stops, exit 0."""

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]
ROW = [float(i) / 16 for i in range(16)]


def command() -> list[str]:
    script = Path(sys.executable).with_name("neural-actors")
    return [str(script)] if script.exists() else [sys.executable, "-m", "neural_actors"]


def test_serve_answers_over_http_and_exits_zero_on_sigterm() -> None:
    server = subprocess.Popen(
        [*command(), "serve", "configs/service.yaml", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        seen = []
        for line in server.stderr:  # ends at EOF if the server dies first
            seen.append(line)
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if found:
                url = found[1]
                break
        else:
            pytest.fail("the server never said where it listens:\n" + "".join(seen))
        with httpx.Client(base_url=url, timeout=10) as client:
            ready = client.get("/ready")
            answer = client.post("/infer", json={"x": [ROW, ROW]})
            bad = client.post("/infer", json={"x": [[1.0]]})
            scraped = client.get("/metrics")

        statuses: list[int] = []
        errors: list[BaseException] = []
        flowing = threading.Event()

        def keep_asking() -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                for _ in range(500):  # bounded; the server stops listening long before
                    try:
                        statuses.append(client.post("/infer", json={"x": [ROW]}).status_code)
                        if len(statuses) == 5:
                            flowing.set()
                    except httpx.TransportError:
                        return  # the server stopped accepting: expected
                    except BaseException as error:  # noqa: BLE001 - reported below
                        errors.append(error)
                        return

        asker = threading.Thread(target=keep_asking)
        asker.start()
        flowing.wait(timeout=60)  # a client is in full flow when the signal comes
        server.send_signal(signal.SIGTERM)
        status = server.wait(timeout=60)
        asker.join(timeout=60)
        stderr = "".join(seen) + server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    assert 0 == status, stderr
    assert (200, {"ready": True}) == (ready.status_code, ready.json())
    assert (200, [2, 4]) == (answer.status_code, [len(answer.json()["y"]), len(answer.json()["y"][0])])
    assert (422, "x: expected rows of 16 numbers (got 1)") == (bad.status_code, bad.json()["detail"])
    assert "neural_actors_messages_sent_total" in scraped.text
    assert [] == errors
    assert statuses and set(statuses) <= {200, 503}
    assert "stopped on request; the tree was shut down in order" in stderr


def test_serve_needs_a_service_section() -> None:
    done = subprocess.run(
        [*command(), "serve", "configs/workers.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=100
    )

    assert 2 == done.returncode
    assert ("configs/workers.yaml: no service: section; add one naming the model actor, e.g. service: {model: model}\n"
            == done.stderr)


def test_serve_exits_one_when_the_tree_fails_to_start(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(
        "service: {model: model}\n"
        "tree:\n"
        "  id: root\n"
        "  children:\n"
        "    - {id: model, actor: 'neural_actors.tiny_fff:TinyFFF', kwargs: {d_in: 0}}\n"
    )

    done = subprocess.run(
        [*command(), "serve", str(config), "--port", "0"], cwd=ROOT, capture_output=True, text=True, timeout=100
    )

    assert 1 == done.returncode
    assert "d_in must be an integer >= 1 (got 0)" in done.stderr
    assert done.stderr.endswith("the tree failed to start\n")
