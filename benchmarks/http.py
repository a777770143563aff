"""HTTP benchmark: /infer through `neural-actors serve` against calling the model in-process.

Both sides serve the same requests from the same tree (configs/service.yaml: four TinyFFF
replicas in a group, one 16-number row per request) with 64 clients at once, each sending its
requests one after another:

- **http**: `neural-actors serve configs/service.yaml` under uvicorn in a subprocess on a
  loopback port; each client keeps one HTTP/1.1 connection open (a minimal client on asyncio
  streams, so the client's own cost stays small next to the server's);
- **direct**: in this process, a runtime running the same tree; each client calls the group's
  members in turn with `rt.call(pid, Infer(x))`, as the service does for each request.

The ratio is the price of the HTTP layer: parsing, JSON both ways, uvicorn, Starlette, the
loopback, and the client in the same two cores. Rounds interleave the sides (the harness's
rotation); the server stays up across rounds, started and warmed before the first. Figures are
medians over rounds, ratios medians of per-round ratios.

    python benchmarks/http.py             # 5 rounds of 64 clients x 100 requests
    python benchmarks/http.py --quick     # a smoke run, figures not to be quoted
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import _harness
import numpy as np
from _harness import Figures, column, compare, interleave, percentile
from neural_actors.runtime import Runtime, freeze
from neural_actors.supervisors import load_config, start_tree

from neural_actors.inference import Infer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "service.yaml"
CLIENTS = 64
ROW = [float(i) / 16 for i in range(16)]
BODY = json.dumps({"x": [ROW]}).encode()


# The http side ------------------------------------------------------------------------------


def start_server() -> tuple[subprocess.Popen[str], str, int]:
    """`neural-actors serve` on a free loopback port; returns it with its host and port."""
    script = Path(sys.executable).with_name("neural-actors")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "neural_actors"]
    server = subprocess.Popen([*command, "serve", str(CONFIG), "--host", "127.0.0.1", "--port", "0"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in server.stderr:  # type: ignore[union-attr]
        found = re.search(r"on http://(127\.0\.0\.1):(\d+)", line)
        if found:
            return server, found[1], int(found[2])
    raise RuntimeError("the server exited before it listened")


async def http_client(host: str, port: int, requests: int, latencies: list[float]) -> None:
    """One keep-alive connection sending ``requests`` POSTs, one after another."""
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"POST /infer HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    try:
        for _ in range(requests):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length[1]))  # type: ignore[index]
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the server answered {head.splitlines()[0]!r}")
    finally:
        writer.close()
        await writer.wait_closed()


async def measure_http(host: str, port: int, requests: int) -> Figures:
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(http_client(host, port, requests, latencies) for _ in range(CLIENTS)))
    return {"wall": time.perf_counter() - started, "p99": percentile(latencies, 0.99) * 1e3}


# The direct side ----------------------------------------------------------------------------


async def measure_direct(requests: int) -> Figures:
    config = load_config(CONFIG)
    async with Runtime(**config.runtime.options()) as rt:
        await start_tree(rt, config.tree)
        members = rt.members("model")
        x = freeze(np.asarray([ROW], np.float32))
        latencies: list[float] = []
        turn = iter(range(10**9))

        async def client() -> None:
            for _ in range(requests):
                began = time.perf_counter()
                # A fresh request per call, as the service builds one per HTTP request.
                await rt.call(members[next(turn) % len(members)], Infer(freeze(np.array(x))), timeout=2.0)
                latencies.append(time.perf_counter() - began)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        wall = time.perf_counter() - started
    return {"wall": wall, "p99": percentile(latencies, 0.99) * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 rounds of 64 x 10 requests")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per figure (medians reported)")
    parser.add_argument("--requests", type=int, default=100, help="requests per client per round")
    args = parser.parse_args()
    rounds, requests = (2, 10) if args.quick else (args.rounds, args.requests)
    _harness.pause_collector = False  # a server in another process: pausing ours only would favour one side
    server, host, port = start_server()
    try:
        asyncio.run(measure_http(host, port, 5))  # connections, imports and kernels warm
        asyncio.run(measure_direct(5))
        results = interleave(rounds, {
            "http": lambda: asyncio.run(measure_http(host, port, requests)),
            "direct": lambda: asyncio.run(measure_direct(requests)),
        })
    finally:
        server.terminate()
        server.wait(timeout=60)
    total = CLIENTS * requests
    quick = " (--quick: smoke sizes, figures not to be quoted)" if args.quick else ""
    print(f"/infer: {CLIENTS} clients x {requests} requests per round, {rounds} rounds{quick}")
    print("http: neural-actors serve (uvicorn, a subprocess) over loopback; direct: rt.call in-process")
    http_rate = [total / w for w in column(results["http"], "wall")]
    direct_rate = [total / w for w in column(results["direct"], "wall")]
    compare("requests per second", "req/s", "higher", http_rate, direct_rate, base_name="direct")
    compare("latency p99", "ms", "lower", column(results["http"], "p99"), column(results["direct"], "p99"),
            base_name="direct")
    print(f"server exit status after SIGTERM: {server.returncode}")


if __name__ == "__main__":
    main()
