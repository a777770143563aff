"""Stopping one child the way OTP's supervisor does.

Unlink first, so the supervisor does not take this exit for a crash; send exit ``shutdown``
from the supervisor itself, so a child that traps exits sees its parent and runs
``terminate``; wait on the child's *exit*, not on a message (a child that unlinked itself
cannot hang its supervisor); kill it when its shutdown time is up.
"""

from __future__ import annotations

from typing import Any

from neural_actors.runtime import Actor, Pid

__all__ = ["shut_down"]


async def shut_down(supervisor: Actor, pid: Pid, shutdown: float | str) -> Any:
    """Stop ``pid``, a child of ``supervisor``, within ``shutdown``; returns its exit reason.

    Args:
        supervisor: the child's supervisor, acting as the sender of the exit signals.
        pid: the child.
        shutdown: ``"brutal_kill"``, ``"infinity"`` or seconds to wait before killing.
    """
    supervisor.unlink(pid)
    runtime = supervisor.runtime
    if shutdown == "brutal_kill":
        supervisor.exit(pid, "kill")
        return await runtime.wait_exit(pid)
    supervisor.exit(pid, "shutdown")
    try:
        return await runtime.wait_exit(pid, None if shutdown == "infinity" else float(shutdown))
    except TimeoutError:
        supervisor.exit(pid, "kill")
        return await runtime.wait_exit(pid)
