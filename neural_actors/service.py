"""An ASGI service over a supervision tree: inference, health, readiness, the tree, metrics.

``create_app("configs/service.yaml")`` gives a Starlette app whose lifespan starts the config's
tree on a ``Runtime`` (with metrics on) and stops it in order when the server stops. The
config's ``service:`` section (``ServiceSection``) names the model actor to call. Routes:

- ``POST /infer`` ``{"x": [[...], ...]}``: calls the model with ``Infer`` and answers
  ``{"y": [[...], ...], "degraded": [...]}``;
- ``GET /health``: liveness: 200 while the runtime runs and its root supervisor lives;
- ``GET /ready``: readiness: 200 when the tree is up, every required child is running and a
  model actor is there to call; 503 naming what is not, and while draining;
- ``GET /tree``: the health snapshot of the tree (``tree_health``) as JSON;
- ``GET /metrics``: the runtime's metrics and the service's own, in Prometheus text format.

Errors map to HTTP without ever leaving a request hanging, since every call carries a timeout:
a model that is restarting, dead, or whose mailbox is full is a 503 with the reason and a
``Retry-After``; a call past ``timeout`` a 504; bad input a 422 naming the field. On shutdown
(SIGTERM under uvicorn) the service first drains: new requests get 503, those in flight have
``grace`` seconds to finish; then the tree stops in order, each child within its shutdown
timeout, and calls still pending fail with a clean 503.

Needs the ``service`` extra (Starlette, uvicorn, prometheus-client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

import attrs
import numpy as np
import structlog

from neural_actors.runtime import (
    ActorExited,
    CallTimeout,
    MailboxFull,
    Pid,
    Runtime,
    RuntimeClosed,
    format_reason,
    freeze,
)
from neural_actors.runtime.metrics import CALL_BUCKETS
from neural_actors.supervisors import ChildHealth, ChildRestarting, Config, load_config, start_tree, tree_health

from .inference import Infer, Inferred
from .metrics import register, require_prometheus
from .service_section import ServiceSection

__all__ = ["InvalidRequest", "Service", "create_app", "parse_rows", "serve"]

log = structlog.get_logger("neural_actors.service")

Handler = Callable[[Any], Awaitable[Any]]


class InvalidRequest(ValueError):
    """Raised when a request's body is not what the route takes; ``field`` names the part."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(field, detail)
        self.field = field
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


@attrs.define(eq=False)
class Service:
    """One service's state: its config, its runtime while it runs, and its request counters.

    ``running()`` is the lifespan: start the tree, yield, drain, stop the tree.
    """

    config: Config
    section: ServiceSection
    runtime: Runtime | None = None
    root: Pid | None = None
    draining: bool = False
    in_flight: int = 0
    registry: Any = None
    _idle: asyncio.Event | None = None
    _turn: int = 0
    _requests: Any = None
    _latency: Any = None

    def __attrs_post_init__(self) -> None:
        client = require_prometheus()
        self.registry = client.CollectorRegistry()
        self._requests = client.Counter(
            "neural_actors_http_requests", "HTTP requests answered, by route and status.",
            ["route", "status"], registry=self.registry,
        )
        self._latency = client.Histogram(
            "neural_actors_http_request_duration_seconds", "HTTP request latency, by route.",
            ["route"], buckets=CALL_BUCKETS, registry=self.registry,
        )

    # Lifespan ---------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Service]:
        """Start the tree; on leaving, drain requests for up to ``grace`` seconds, then stop it."""
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()
        async with Runtime(**self.config.runtime.options(), metrics=True) as runtime:
            self.runtime = runtime
            self.root = await start_tree(runtime, self.config.tree)
            runtime.metrics.label(self.root, str(self.config.tree.id))  # type: ignore[union-attr]
            collector = register(runtime, self.registry)
            log.info("service_started", model=self.section.model, root=repr(self.root))
            try:
                yield self
            finally:
                await self._drain()
                self.registry.unregister(collector)
        log.info("service_stopped")

    async def _drain(self) -> None:
        """Refuse new requests; give those in flight ``grace`` seconds before the tree stops."""
        self.draining = True
        log.info("service_draining", in_flight=self.in_flight, grace=self.section.grace)
        try:
            async with asyncio.timeout(self.section.grace):
                await self._idle.wait()  # type: ignore[union-attr]
        except TimeoutError:
            log.warning("grace_expired", in_flight=self.in_flight)

    # The model --------------------------------------------------------------------------------

    def model(self) -> Pid | None:
        """The model actor to call next: the one registered under ``model``, else the live
        members of the group ``model`` in turn; None when there is none (restarting, gone)."""
        runtime = self.runtime
        if runtime is None:
            return None
        name: Hashable = self.section.model
        pid = runtime.whereis(name)
        if pid is not None:
            return pid
        members = runtime.members(name)
        if not members:
            return None
        self._turn += 1
        return members[self._turn % len(members)]

    async def infer(self, x: np.ndarray) -> Inferred:
        """Call the model with ``Infer(x)``.

        Raises:
            ActorExited: no model actor is there (``NoProcess``-like reason ``noproc``), or it
                exited before replying.
            CallTimeout, MailboxFull, ChildRestarting: as the call raised them.
            InvalidRequest: the model refused the input (answered with a ``ValueError``).
            TypeError: the model answered something other than ``Inferred``.
        """
        pid = self.model()
        if pid is None:
            raise ActorExited(self.section.model, "noproc")
        reply = await self.runtime.call(pid, Infer(freeze(x)), timeout=self.section.timeout)  # type: ignore[union-attr]
        if type(reply) is Inferred:
            return reply
        if isinstance(reply, ValueError):
            raise InvalidRequest("x", str(reply).removeprefix("x: "))
        raise TypeError(f"the model answered {type(reply).__name__}, not Inferred")

    # Health -----------------------------------------------------------------------------------

    def live(self) -> str | None:
        """Why the service is not alive (its runtime stopped, its root exited), or None."""
        if self.runtime is None or self.root is None:
            return "the service has not started"
        if not self.runtime.is_alive(self.root):
            return "the root supervisor has exited"
        return None

    async def not_ready(self) -> list[str]:
        """Every reason the service cannot serve now; empty when it is ready."""
        if self.draining:
            return ["shutting down"]
        dead = self.live()
        if dead is not None:
            return [dead]
        try:
            health = await tree_health(self.runtime, self.root, timeout=self.section.timeout)  # type: ignore[arg-type]
        except (ActorExited, CallTimeout) as error:
            return [f"the tree did not answer: {error}"]
        required = self.section.required
        nodes = [node for child in health.root.children for node in _walk(child)]
        reasons = [
            f"child {node.id!r} is {node.state}" + (f" ({node.last_reason})" if node.last_reason else "")
            for node in nodes
            if node.state != "running" and (required is None or node.id in required)
        ]
        known = {node.id for node in nodes}
        reasons += [f"no child {child!r} in the tree" for child in required or () if child not in known]
        if self.model() is None:
            reasons.append(f"no live actor is registered or grouped as {self.section.model!r}")
        return reasons

    # Requests ---------------------------------------------------------------------------------

    def observed(self, route: str, handler: Handler) -> Handler:
        """``handler`` counted and timed in the service's metrics, and tracked for draining."""

        async def observe(request: Any) -> Any:
            loop = asyncio.get_running_loop()
            started = loop.time()
            self.in_flight += 1
            if self._idle is not None:
                self._idle.clear()
            try:
                response = await handler(request)
            except Exception as error:  # noqa: BLE001 - never leave a request without an answer
                log.error("request_failed", route=route, error=repr(error))
                response = _json(500, {"error": "internal", "detail": f"{type(error).__name__}: {error}"})
            finally:
                self.in_flight -= 1
                if not self.in_flight and self._idle is not None:
                    self._idle.set()
            self._requests.labels(route, str(response.status_code)).inc()
            self._latency.labels(route).observe(loop.time() - started)
            return response

        return observe


# Routes ---------------------------------------------------------------------------------------


def create_app(config: Config | str | os.PathLike[str]) -> Any:
    """The Starlette app serving ``config`` (a loaded ``Config`` or a YAML file's path).

    Its ``state.service`` is the ``Service``; its lifespan runs the tree.

    Raises:
        ConfigError: the file has problems.
        ValueError: the config has no ``service:`` section.
        ImportError: the ``service`` extra is not installed.
    """
    try:
        from starlette.applications import Starlette
        from starlette.routing import Route
    except ImportError as missing:
        raise ImportError(
            "neural_actors.service needs Starlette and uvicorn; install them with: pip install 'neural-actors[service]'"
        ) from missing
    if not isinstance(config, Config):
        config = load_config(config)
    section = config.sections.get("service")
    if section is None:
        raise ValueError("the config has no service: section; add one naming the model actor, e.g. service: {model: model}")
    service = Service(config, section)

    async def infer(request: Any) -> Any:
        if service.draining:
            return _unavailable(service, "shutting_down", "the service is shutting down")
        try:
            x = parse_rows(await request.body(), section)
            result = await service.infer(x)
        except InvalidRequest as bad:
            return _json(422, {"error": "invalid_request", "field": bad.field, "detail": str(bad)})
        except CallTimeout as late:
            return _json(504, {"error": "timeout", "detail": str(late)})
        except ChildRestarting as pausing:
            return _unavailable(service, "restarting", str(pausing))
        except MailboxFull as full:
            return _unavailable(service, "overloaded", str(full))
        except RuntimeClosed as closed:
            return _unavailable(service, "shutting_down", str(closed))
        except ActorExited as exited:
            detail = (f"no live actor is registered or grouped as {section.model!r}; it may be restarting"
                      if exited.pid == section.model else str(exited))
            return _unavailable(service, format_reason(exited.reason), detail)
        return _json(200, {"y": result.y.tolist(), "degraded": [repr(part) for part in result.degraded]})

    async def health(request: Any) -> Any:
        dead = service.live()
        return _json(503, {"status": "dead", "reason": dead}) if dead else _json(200, {"status": "ok"})

    async def ready(request: Any) -> Any:
        reasons = await service.not_ready()
        if reasons:
            return _unavailable(service, "not_ready", "; ".join(reasons), ready=False, reasons=reasons)
        return _json(200, {"ready": True})

    async def tree(request: Any) -> Any:
        dead = service.live()
        if dead is not None:
            return _unavailable(service, "dead", dead)
        try:
            health = await tree_health(service.runtime, service.root, timeout=section.timeout)  # type: ignore[arg-type]
        except (ActorExited, CallTimeout) as error:
            return _unavailable(service, "tree_unavailable", str(error))
        root = attrs.evolve(health.root, id=config.tree.id)  # the root as the config names it
        return _json(200, {"healthy": health.healthy, "root": root.to_dict()})

    async def metrics(request: Any) -> Any:
        from starlette.responses import Response

        client = require_prometheus()
        return Response(client.generate_latest(service.registry), media_type=client.CONTENT_TYPE_LATEST)

    routes = [
        Route("/infer", service.observed("/infer", infer), methods=["POST"]),
        Route("/health", service.observed("/health", health), methods=["GET"]),
        Route("/ready", service.observed("/ready", ready), methods=["GET"]),
        Route("/tree", service.observed("/tree", tree), methods=["GET"]),
        Route("/metrics", service.observed("/metrics", metrics), methods=["GET"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return app


def parse_rows(body: bytes, section: ServiceSection) -> np.ndarray:
    """The rows of an ``/infer`` body, ``{"x": [[...], ...]}``, as a float32 array.

    Raises:
        InvalidRequest: naming ``body`` or ``x``, what was expected and what came.
    """
    example = 'expected a JSON object such as {"x": [[0.5, 1.0], [2.0, 0.0]]}'
    try:
        data = json.loads(body)
    except ValueError as error:
        raise InvalidRequest("body", f"{example} (got invalid JSON: {error})") from None
    if not isinstance(data, dict):
        raise InvalidRequest("body", f"{example} (got a JSON {_json_type(data)})")
    if "x" not in data:
        raise InvalidRequest("x", f"missing; {example}")
    rows = data["x"]
    if not isinstance(rows, list) or not rows or not all(isinstance(row, list) for row in rows):
        raise InvalidRequest("x", f"expected a non-empty list of rows, each a list of numbers (got {_shape(rows)})")
    if len(rows) > section.max_rows:
        raise InvalidRequest("x", f"expected at most {section.max_rows} rows (got {len(rows)})")
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise InvalidRequest("x", f"expected rows of one length (got lengths {widths[:5]})")
    if section.features is not None and widths[0] != section.features:
        raise InvalidRequest("x", f"expected rows of {section.features} numbers (got {widths[0]})")
    if widths[0] == 0:
        raise InvalidRequest("x", "expected rows of at least one number (got empty rows)")
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidRequest(f"x[{i}][{j}]", f"expected a number (got a JSON {_json_type(value)})")
    with np.errstate(over="ignore"):  # a number beyond float32 becomes inf, refused below
        x = np.asarray(rows, dtype=np.float32)
    if not np.isfinite(x).all():
        i, j = np.argwhere(~np.isfinite(x))[0]
        raise InvalidRequest(f"x[{i}][{j}]", f"expected a finite number (got {rows[i][j]!r}, or too large for float32)")
    return x


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "an empty array" if not value else "an array of non-arrays"
    return f"a JSON {_json_type(value)}"


def _walk(node: ChildHealth) -> list[ChildHealth]:
    return [node, *(n for child in node.children for n in _walk(child))]


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse(body, status_code=status, headers=headers)


def _unavailable(service: Service, reason: str, detail: str, **extra: Any) -> Any:
    """A 503 saying why, and when to try again."""
    retry = str(max(1, math.ceil(service.section.retry_after)))
    body = {"error": "unavailable", "reason": reason, "detail": detail, **extra}
    return _json(503, body, {"Retry-After": retry})


# Serving --------------------------------------------------------------------------------------


def serve(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    log_level: str = "warning",
    on_listening: Callable[[str], None] | None = None,
) -> int:
    """Serve ``config`` under uvicorn until SIGTERM or SIGINT, then drain, stop and return.

    uvicorn stops accepting connections and waits up to ``grace`` for requests in flight; the
    lifespan then stops the tree in order. uvicorn re-raises the signal it handled once it is
    done, so that a process dies of it; here a clean stop is a normal return instead, and the
    command exits 0. A signal that arrives before uvicorn took over stops at once.

    Args:
        host, port: where to listen (default: the ``service:`` section's; port 0: any free port).
        log_level: uvicorn's log level.
        on_listening: called with the URL once the tree is up and the socket listens.

    Returns:
        0 after a stop on request, 1 if the tree failed to start.
    """
    import signal

    import uvicorn

    app = create_app(config)
    section: ServiceSection = app.state.service.section
    server = uvicorn.Server(uvicorn.Config(
        app, host=host or section.host, port=section.port if port is None else port, lifespan="on",
        timeout_graceful_shutdown=section.grace,  # type: ignore[arg-type]  # seconds; a float works
        log_level=log_level, access_log=False,
    ))

    def stop_now(signum: int, frame: Any) -> None:
        # Before uvicorn takes over, nothing is running yet: stop at once. Once it has stopped,
        # it raises the signal it handled again, which finds nothing left to stop.
        if not server.should_exit:
            raise SystemExit(0)

    async def serve_until_stopped() -> None:
        try:
            await server.serve()
        except SystemExit:
            pass  # uvicorn's way to say the lifespan failed; server.started tells the rest

    async def run() -> bool:
        serving = asyncio.ensure_future(serve_until_stopped())
        while not server.started and not serving.done():
            await asyncio.sleep(0.02)
        if server.started and on_listening is not None:
            bound = server.servers[0].sockets[0].getsockname()
            on_listening(f"http://{bound[0]}:{bound[1]}")
        await serving
        return server.started

    previous = {signum: signal.signal(signum, stop_now) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return 0 if asyncio.run(run()) else 1
    except SystemExit:  # a signal before uvicorn took over
        return 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
