"""A tree run as a job: start it, wait until it ends, and tell how it ended.

A supervision tree ends in one of three ways. Its root gives up (a child failed to start, or
restarts exceeded an intensity all the way up). Or the job is done: OTP's way to say so is a
*significant* child that exits on its own while the root has ``auto_shutdown``, which then stops
the root. Or the caller stops it (a duration ran out, a signal).

OTP's supervisor exits ``shutdown`` both when it gives up and when it shuts down automatically,
so the root's reason alone cannot tell a finished job from a failed one. ``run_job`` therefore
watches the root's significant children: the job finished if one of them exited ``normal`` or
``("shutdown", result)`` by itself (a child stopped by its supervisor exits plain ``shutdown``)
before the root stopped. Its ``result`` is the job's answer, which ``neural-actors run`` prints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterator
from typing import Any, Literal

import attrs

from neural_actors.runtime import ActorExited, Pid, Runtime, StartFailed, is_normal, is_shutdown

from .child_spec import ChildSpec
from .config import start_tree
from .dynamic import DynamicSupervisor
from .management import which_children
from .supervisor import Supervisor

__all__ = ["Outcome", "run_job", "walk_tree"]


@attrs.frozen
class Outcome:
    """How a job ended.

    Attributes:
        ended: ``finished`` (a significant child of the root finished and the root stopped),
            ``gave_up`` (the root failed, or stopped with no child finished), or ``duration``
            (still running when the time ran out).
        reason: the root's exit reason (its start failure's for a root that did not start).
        results: ``(child id, result)`` of each significant child that finished with
            ``("shutdown", result)``, in the order they finished.
    """

    ended: Literal["finished", "gave_up", "duration"]
    reason: Any = None
    results: tuple[tuple[Hashable, Any], ...] = ()


def walk_tree(tree: ChildSpec) -> Iterator[ChildSpec]:
    """``tree`` and every spec below it, depth first in start order (templates included)."""
    yield tree
    if tree.actor is Supervisor and len(tree.args) == 2:
        for child in tree.args[1]:
            yield from walk_tree(child)
    elif tree.actor is DynamicSupervisor and tree.args:
        yield from walk_tree(tree.args[0])


async def run_job(runtime: Runtime, tree: ChildSpec, *, duration: float | None = None) -> Outcome:
    """Start ``tree`` on ``runtime`` and wait until it ends or ``duration`` seconds pass.

    The tree is left as it is at the end: after a ``duration`` outcome it is still running, and
    leaving the runtime's ``async with`` block stops it in order.
    """
    try:
        root = await start_tree(runtime, tree)
    except StartFailed as failed:
        return Outcome("gave_up", failed.reason)
    finished: list[tuple[Hashable, Any]] = []
    significant = {spec.id for spec in _children(tree) if spec.significant}
    watchers = [
        asyncio.ensure_future(_watch(runtime, root, child_id, pid, finished))
        for child_id, pid, _ in await which_children(runtime, root)
        if child_id in significant
    ]
    try:
        reason = await runtime.wait_exit(root, timeout=duration)
    except TimeoutError:
        return Outcome("duration")
    finally:
        for watcher in watchers:
            watcher.cancel()
    if finished and is_shutdown(reason):
        results = tuple((child_id, end[1]) for child_id, end in finished if type(end) is tuple)
        return Outcome("finished", reason, results)
    return Outcome("gave_up", reason)


def _children(tree: ChildSpec) -> tuple[ChildSpec, ...]:
    return tuple(tree.args[1]) if tree.actor is Supervisor and len(tree.args) == 2 else ()


async def _watch(
    runtime: Runtime, root: Pid, child_id: Hashable, pid: Any, finished: list[tuple[Hashable, Any]]
) -> None:
    """Record the child's exit if it finished by itself; follow it across restarts."""
    while isinstance(pid, Pid):
        reason = await runtime.wait_exit(pid)
        if is_normal(reason) or (type(reason) is tuple and is_shutdown(reason)):
            finished.append((child_id, reason))
            return
        try:
            # The root handled the exit before this call (its mailbox is in order): a restarted
            # child shows its new pid.
            children = await which_children(runtime, root)
        except ActorExited:
            return
        pid = next((p for i, p, _ in children if i == child_id), None)
