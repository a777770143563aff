"""The driver's handle on a cluster: ``cluster(n)`` starts ``n`` nodes on Ray and returns it.

The driver is whatever program called ``cluster``: it owns the Ray actors (the directory and the
nodes) and stops them when the ``with`` block ends. It is not a node itself: what it asks
(``start``, ``call``, ``cast``, ``run``) a node does for it, node 0 unless it says ``via=``.
Every method waits for the node's answer with a timeout, and raises what the runtime raised
there (``ActorExited``, ``StartFailed``, ``CallTimeout``, ...), or ``ClusterError`` when the
node is gone or did not answer.

Ray is started here when it is not running yet: locally (``ray.init(**init)``), or joining an
existing cluster at ``address``. A Ray started here is shut down with the cluster.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Hashable, Mapping
from typing import Any, final

try:
    import ray
    import ray.exceptions
except ImportError as missing:  # pragma: no cover - depends on the installation
    raise ImportError(
        "neural_actors.nodes runs nodes on Ray, which is not installed; install it with: "
        "pip install 'neural-actors[ray]'"
    ) from missing

from neural_actors.runtime import Pid, Runtime

from .directory import Directory
from .errors import ClusterError
from .liveness import PAUSES
from .names import Global
from .node import NodeActor
from .route import ClusterRoute, RouteStatistics

__all__ = ["Cluster", "PendingCall", "cluster", "register_global", "whereis_global"]

#: Seconds the driver waits for the nodes to start, and for a node to stop.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@final
class Cluster:
    """The driver's handle on the nodes ``cluster()`` started. Use it as a context manager."""

    def __init__(self, directory: Any, handles: list[Any], *, restart: bool, owns_ray: bool) -> None:
        self._directory = directory
        self._handles = handles  # by slot, as created; the directory knows what runs now
        self.restart = restart
        self._owns_ray = owns_ray
        self._nodes: dict[int, Any] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"<Cluster of {len(self._handles)} nodes{' (closed)' if self._closed else ''}>"

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # Nodes ------------------------------------------------------------------------------------

    def nodes(self) -> list[int]:
        """The numbers of the nodes the directory knows to be up, in order."""
        self._nodes = {node: handle for node, (_, handle) in ray.get(self._directory.nodes.remote()).items()}
        return sorted(self._nodes)

    def kill(self, node: int) -> None:
        """Kill node ``node``'s Ray actor, as a crash of its process would (Ray restarts it,
        empty and under a new number, if the cluster was made with ``restart=True``)."""
        ray.kill(self._handle(node), no_restart=not self.restart)
        self._nodes.pop(node, None)

    def wait_lost(self, node: int, timeout: float = 60.0) -> None:
        """Wait until the cluster has seen node ``node`` go (after ``kill``, a crash...); then
        ``nodes()`` no longer lists it. Each node sees it for itself, as soon as Ray tells it."""
        self._get(node, self._directory.lost.remote(node), timeout)

    def wait_restarted(self, node: int, timeout: float = 60.0) -> int:
        """Wait until Ray has restarted lost node ``node`` (``restart=True``); the number the
        new incarnation runs under (a new one: no pid of the lost node reaches it)."""
        deadline = time.monotonic() + timeout
        number: int = self._get(node, self._directory.replaced.remote(node), timeout)
        # This driver's handle learns of the restart on its first call: until then Ray calls
        # the actor unavailable. Ask until it answers, so the caller's next call goes through.
        handle = self._handle(number)
        for pause in PAUSES:
            try:
                ray.get(handle.ready.remote(), timeout=max(0.0, deadline - time.monotonic()))
                return number
            except ray.exceptions.ActorUnavailableError:
                time.sleep(pause)
        raise ClusterError(f"node {number} did not become reachable within {timeout} s", node=number)

    def killer(self, node: int) -> Callable[[], None]:
        """A function that kills node ``node`` as ``kill`` does, callable from any process of
        the cluster (it pickles): an action a load generator on a node takes mid-run."""
        return functools.partial(ray.kill, self._handle(node), no_restart=not self.restart)

    def statistics(self, node: int) -> RouteStatistics:
        """What node ``node``'s route has carried."""
        statistics: RouteStatistics = self._get(node, self._handle(node).statistics.remote(), 10.0)
        return statistics

    # Asking nodes -----------------------------------------------------------------------------

    def start(self, node: Hashable, actor: type, *args: Any, via: int | None = None, timeout: float = 30.0,
              **options: Any) -> Pid:
        """Start ``actor`` on ``node`` (a number, or a placement such as ``round_robin``) and
        wait for its ``init``; top level there, linked to nothing. ``options`` as
        ``Runtime.start``'s (``name``, ``kwargs``, ``mailbox``...)."""
        if via is None:
            # a node that is up starts its own child; otherwise node 0 places it
            up = type(node) is int and (node in self._nodes or node in self.nodes())
            via = node if up else 0  # type: ignore[assignment]
        asker: int = via  # type: ignore[assignment]
        pid: Pid = self._ask(asker, "start", actor, args, {**options, "node": node}, timeout=timeout)
        return pid

    def call(self, target: Pid | Hashable, msg: Any, *, timeout: float | None = 5.0, via: int = 0) -> Any:
        """``Runtime.call`` from node ``via``: the reply, or the runtime's exception."""
        return self.submit_call(target, msg, timeout=timeout, via=via).result()

    def submit_call(self, target: Pid | Hashable, msg: Any, *, timeout: float | None = 5.0, via: int = 0) -> PendingCall:
        """``call`` without waiting: the call is made, ``result()`` waits for its outcome."""
        wait = None if timeout is None else timeout + 10.0  # the node's own timeout comes first
        return PendingCall(self, via, self._handle(via).call.remote(target, msg, timeout), wait)

    def cast(self, target: Pid | Hashable, msg: Any, *, via: int = 0) -> None:
        """``Runtime.cast`` from node ``via``."""
        self._ask(via, "cast", target, msg, False, timeout=10.0)

    def send(self, target: Pid | Hashable, msg: Any, *, via: int = 0) -> None:
        """``Runtime.send`` from node ``via``."""
        self._ask(via, "cast", target, msg, True, timeout=10.0)

    def run(self, node: int, function: Callable[..., Any], *args: Any, timeout: float | None = 60.0) -> Any:
        """``function(runtime, *args)`` on node ``node``'s loop (awaited if it is async); its
        result. ``function`` and its arguments travel by pickle (Ray's cloudpickle)."""
        return self._ask(node, "run", function, args, timeout=timeout)

    def register(self, name: Hashable, pid: Pid) -> None:
        """Give ``pid`` the global name ``name`` (``Global(name)`` reaches it from any node).

        Raises:
            NameTaken: a live process holds it.
        """
        self._ask(pid.node, "register", name, pid, timeout=30.0)

    def whereis(self, name: Hashable) -> Pid | None:
        """The pid holding the global ``name``, or ``None``."""
        holder: Pid | None = ray.get(self._directory.whereis.remote(_global(name)))
        return holder

    def _ask(self, node: int, method: str, *args: Any, timeout: float | None) -> Any:
        return self._outcome(node, getattr(self._handle(node), method).remote(*args), timeout)

    def _outcome(self, node: int, ref: Any, timeout: float | None) -> Any:
        """What a node answered to the driver's request ``ref``: its value, or its exception
        raised here."""
        status, value = self._get(node, ref, timeout)
        if status == "error":
            raise value
        return value

    def _get(self, node: int, ref: Any, timeout: float | None) -> Any:
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise ClusterError(f"node {node} did not answer within {timeout} s", node=node) from None
        except ray.exceptions.ActorUnavailableError:
            raise ClusterError(f"node {node} is unreachable for now (restarting?); try again", node=node) from None
        except ray.exceptions.RayActorError:
            raise ClusterError(f"node {node} is gone", node=node) from None

    def _handle(self, node: int) -> Any:
        if self._closed:
            raise ClusterError("the cluster is shut down")
        if type(node) is not int:
            raise TypeError(f"node must be a node number, an int (got {node!r})")
        if node not in self._nodes:
            self.nodes()
        try:
            return self._nodes[node]
        except KeyError:
            raise ClusterError(f"node {node} is not up; the nodes up are {sorted(self._nodes)}", node=node) from None

    # Lifetime ---------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop every node in order (node 0's processes first, so a tree rooted there stops
        its children elsewhere as it would on one node), then the actors; and Ray if it was
        started here."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            for node in self.nodes():
                with contextlib.suppress(Exception):
                    ray.get(self._nodes[node].stop.remote(), timeout=STOP_TIMEOUT)
        self._closed = True
        for handle in [*self._nodes.values(), *self._handles, self._directory]:
            with contextlib.suppress(Exception):
                ray.kill(handle)
        if self._owns_ray:
            ray.shutdown()


@final
class PendingCall:
    """A call the driver has made and not waited for yet (``Cluster.submit_call``)."""

    def __init__(self, nodes: Cluster, via: int, ref: Any, wait: float | None) -> None:
        self._nodes = nodes
        self._via = via
        self._ref = ref
        self._wait = wait

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the reply and return it, or raise what the call raised on the node.

        Args:
            timeout: seconds to wait here (default: the call's own timeout, plus a margin).
        """
        return self._nodes._outcome(self._via, self._ref, self._wait if timeout is None else timeout)


def cluster(
    nodes: int = 2,
    *,
    address: str | None = None,
    restart: bool = False,
    runtime: Mapping[str, Any] | None = None,
    init: Mapping[str, Any] | None = None,
) -> Cluster:
    """Start ``nodes`` nodes, each a ``Runtime`` in its own Ray actor, and return their handle.

    Args:
        nodes: how many (numbered 0 .. nodes - 1).
        address: an existing Ray cluster to join (``"auto"``, ``"ray://host:10001"``...);
            ``None``: the running Ray, or a local one started here.
        restart: Ray restarts a node whose process died; it comes back empty, under a new
            number, and the supervisors decide what to restart there.
        runtime: ``Runtime``'s keyword arguments for every node (``log_level``, ``seed``,
            ``mesh``...); the clock is always real.
        init: more keyword arguments for ``ray.init`` when Ray is started here
            (``num_cpus=2``, ``include_dashboard=False``...).

    Raises:
        ValueError: ``nodes`` is not an int >= 1, or ``runtime`` asks for the virtual clock.
        ClusterError: the nodes did not start within ``START_TIMEOUT`` seconds.
    """
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"nodes must be an int >= 1 (got {nodes!r})")
    options = dict(runtime or {})
    if options.get("clock", "real") != "real":
        raise ValueError(f"runtime clock must be 'real' on Ray nodes (got {options['clock']!r})")
    Runtime(**options)  # checks the options here, where the mistake was made
    owns_ray = not ray.is_initialized()
    if owns_ray:
        ray.init(address=address, **dict(init or {}))
    directory = ray.remote(Directory).options(num_cpus=0).remote(nodes)
    node_actor = ray.remote(NodeActor).options(num_cpus=0, max_restarts=-1 if restart else 0)
    handles: list[Any] = [node_actor.remote(slot, directory, options) for slot in range(nodes)]
    handle = Cluster(directory, handles, restart=restart, owns_ray=owns_ray)
    try:
        ray.get([h.ready.remote() for h in handles], timeout=START_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - whatever stopped them, the driver is told
        handle.shutdown()
        raise ClusterError(f"the nodes did not start: {type(error).__name__}: {error}") from None
    return handle


async def register_global(runtime: Runtime, name: Hashable, pid: Pid) -> None:
    """From code running on a node: give ``pid`` the global name ``name``, which ``Global(name)``
    reaches from every node. A runtime in no cluster is a cluster of one: the name is then
    registered there (as ``Global(name)``), so the same code runs on one node too.

    Raises:
        NameTaken: a live process holds it.
    """
    route = runtime.remote
    if isinstance(route, ClusterRoute):
        await route.register(name, pid)
    else:
        runtime.register(_global(name), pid)


def whereis_global(runtime: Runtime, name: Hashable) -> Pid | None:
    """From code running on a node: the pid holding the global ``name``, or ``None``."""
    route = runtime.remote
    if isinstance(route, ClusterRoute):
        return route.whereis(_global(name))
    return runtime.whereis(_global(name))


def _global(name: Hashable) -> Global:
    return name if type(name) is Global else Global(name)
