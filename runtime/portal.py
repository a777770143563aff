"""The sync bridge: a runtime on its own loop thread, driven from plain threads.

``Runtime.blocking()`` starts an event loop in a thread through anyio's blocking portal and
returns a ``BlockingRuntime`` whose methods run on that loop and block the calling thread until
done, raising the same errors as their async forms. For Flask or Django views, scripts and
notebooks without a running loop.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any, Protocol, TypeVar, final

from .clock import VirtualEventLoop
from .pid import Pid

__all__ = ["AsyncRuntime", "BlockingRuntime", "start_blocking"]

T = TypeVar("T")


class AsyncRuntime(Protocol):
    """What the bridge drives: the ``Runtime``'s methods it forwards."""

    async def start_runtime(self) -> None: ...
    async def shutdown(self) -> None: ...
    def spawn(self, actor: Any, *args: Any, **options: Any) -> Pid: ...
    async def start(self, actor: Any, *args: Any, **options: Any) -> Pid: ...
    async def call(self, target: Any, msg: Any, timeout: float | None = 5.0) -> Any: ...
    def cast(self, target: Any, msg: Any) -> None: ...
    def send(self, target: Any, msg: Any) -> None: ...
    def whereis(self, name: Hashable) -> Pid | None: ...
    async def stop(self, pid: Pid, shutdown: Any = 5.0, *, reason: Any = "shutdown") -> Any: ...
    async def wait_exit(self, pid: Pid, timeout: float | None = None) -> Any: ...


@contextlib.contextmanager
def start_blocking(runtime: AsyncRuntime, *, virtual: bool) -> Iterator[BlockingRuntime]:
    """Start ``runtime`` on a new loop thread; stop it and the thread on leaving the block."""
    import anyio.from_thread

    # The loop thread waits for the calling thread between calls, which a virtual clock must
    # not take for a deadlock.
    backend_options = {"loop_factory": functools.partial(VirtualEventLoop, deadlock_after=None)} if virtual else {}
    with anyio.from_thread.start_blocking_portal("asyncio", backend_options) as portal:
        portal.call(runtime.start_runtime)
        try:
            yield BlockingRuntime(runtime, portal)
        finally:
            portal.call(runtime.shutdown)


@final
class BlockingRuntime:
    """A ``Runtime`` driven from sync code through anyio's blocking portal.

    Every method runs on the runtime's own loop thread and blocks the caller until done.
    """

    def __init__(self, runtime: AsyncRuntime, portal: Any) -> None:
        self.runtime = runtime
        self._portal = portal

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` on the runtime's loop and return its result."""
        return self._portal.call(fn, *args)

    def spawn(self, actor: Any, *args: Any, **options: Any) -> Pid:
        """Blocking ``Runtime.spawn``."""
        return self._portal.call(lambda: self.runtime.spawn(actor, *args, **options))

    def start(self, actor: Any, *args: Any, **options: Any) -> Pid:
        """Blocking ``Runtime.start``."""
        return self._portal.call(lambda: self.runtime.start(actor, *args, **options))

    def call(self, target: Any, msg: Any, timeout: float | None = 5.0) -> Any:
        """Blocking ``Runtime.call``."""
        return self._portal.call(self.runtime.call, target, msg, timeout)

    def cast(self, target: Any, msg: Any) -> None:
        """Blocking ``Runtime.cast``."""
        self._portal.call(self.runtime.cast, target, msg)

    def send(self, target: Any, msg: Any) -> None:
        """Blocking ``Runtime.send``."""
        self._portal.call(self.runtime.send, target, msg)

    def whereis(self, name: Hashable) -> Pid | None:
        """Blocking ``Runtime.whereis``."""
        return self._portal.call(self.runtime.whereis, name)

    def stop(self, pid: Pid, shutdown: Any = 5.0, *, reason: Any = "shutdown") -> Any:
        """Blocking ``Runtime.stop``."""
        return self._portal.call(lambda: self.runtime.stop(pid, shutdown, reason=reason))

    def wait_exit(self, pid: Pid, timeout: float | None = None) -> Any:
        """Blocking ``Runtime.wait_exit``."""
        return self._portal.call(self.runtime.wait_exit, pid, timeout)
