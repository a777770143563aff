"""Management calls: the requests a supervisor answers, and the functions that send them.

Each function is OTP's namesake (``supervisor:which_children/1`` and so on), taking the
runtime and the supervisor's pid or name, and works on both kinds of supervisor where OTP's
does. A supervisor answers a failure with the error instead of a result, and the function
raises it here, in the caller: the supervisor and its children carry on as they were. Every
request is a message class, so a supervisor dispatches on its type and can name what it
answers when it gets anything else.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, ClassVar

from neural_actors.runtime import Pid, Runtime, message

from .child_spec import ChildSpec
from .errors import InvalidChildSpec, SupervisorError

__all__ = [
    "CountChildren",
    "DeleteChild",
    "DescribeChildren",
    "GetChildspec",
    "RestartChild",
    "StartChild",
    "StartDynamicChild",
    "TerminateChild",
    "WhichChild",
    "WhichChildren",
    "count_children",
    "delete_child",
    "get_childspec",
    "manage",
    "restart_child",
    "start_child",
    "start_dynamic_child",
    "terminate_child",
    "which_child",
    "which_children",
]

#: What ``which_children`` and ``which_child`` show for one child: ``(id, pid, type)``.
ChildInfo = tuple[Hashable, "Pid | str | None", str]


@message
class WhichChildren:
    """Sent by ``which_children``."""

    function: ClassVar[str] = "which_children"


@message
class WhichChild:
    """Sent by ``which_child``."""

    function: ClassVar[str] = "which_child"
    child_id: Hashable


@message
class CountChildren:
    """Sent by ``count_children``."""

    function: ClassVar[str] = "count_children"


@message
class GetChildspec:
    """Sent by ``get_childspec``."""

    function: ClassVar[str] = "get_childspec"
    child_id: Hashable


@message
class StartChild:
    """Sent by ``start_child``."""

    function: ClassVar[str] = "start_child"
    spec: ChildSpec


@message
class StartDynamicChild:
    """Sent by ``start_dynamic_child``."""

    function: ClassVar[str] = "start_dynamic_child"
    extra: tuple[Any, ...]


@message
class TerminateChild:
    """Sent by ``terminate_child``."""

    function: ClassVar[str] = "terminate_child"
    child_id: Hashable


@message
class RestartChild:
    """Sent by ``restart_child``."""

    function: ClassVar[str] = "restart_child"
    child_id: Hashable


@message
class DescribeChildren:
    """Sent by ``tree_health``: each child's state, restarts and last exit reason."""

    function: ClassVar[str] = "tree_health"


@message
class DeleteChild:
    """Sent by ``delete_child``."""

    function: ClassVar[str] = "delete_child"
    child_id: Hashable


async def manage(runtime: Runtime, supervisor: Pid | Hashable, request: Any, timeout: float | None = None) -> Any:
    """Send a management request and raise the error a supervisor answers with.

    No timeout by default, as OTP's ``call(Supervisor, Req, infinity)``: a start or a stop takes
    as long as the child's init or shutdown, which the child spec already bounds.
    """
    result = await runtime.call(supervisor, request, timeout=timeout)
    if isinstance(result, (SupervisorError, InvalidChildSpec)):
        raise result
    return result


async def which_children(runtime: Runtime, supervisor: Pid | Hashable) -> tuple[ChildInfo, ...]:
    """``(id, pid, type)`` for each child, in start order.

    The pid is ``None`` for a stopped child and ``RESTARTING`` for one whose restart is due
    (retried after a failed start, or pausing under backoff). A ``DynamicSupervisor``'s ids
    are ``None``.
    """
    return await manage(runtime, supervisor, WhichChildren())


async def which_child(runtime: Runtime, supervisor: Pid | Hashable, child_id: Hashable) -> ChildInfo:
    """``(id, pid, type)`` of one child, as ``which_children`` shows it; a
    ``DynamicSupervisor``'s child is named by its pid.

    Raises:
        SupervisorError: ``not_found``; ``simple_one_for_one`` for a dynamic supervisor
            given anything but a pid.
    """
    return await manage(runtime, supervisor, WhichChild(child_id))


async def count_children(runtime: Runtime, supervisor: Pid | Hashable) -> dict[str, int]:
    """Counts of ``specs``, ``active`` children, ``supervisors``, ``workers``, and
    ``restarts`` done so far (every restart, with or without backoff)."""
    return dict(await manage(runtime, supervisor, CountChildren()))


async def get_childspec(runtime: Runtime, supervisor: Pid | Hashable, child_id: Hashable) -> ChildSpec:
    """The spec of one child, every field filled in (a temporary child's start arguments are
    not kept, so its ``start`` has none). A ``DynamicSupervisor`` answers its template, for
    the template's id or a child's pid.

    Raises:
        SupervisorError: ``not_found``.
    """
    return await manage(runtime, supervisor, GetChildspec(child_id))


async def start_child(runtime: Runtime, supervisor: Pid | Hashable, spec: ChildSpec) -> Pid:
    """Add a child to a ``Supervisor`` and start it.

    Raises:
        InvalidChildSpec: ``spec`` is not a ChildSpec, or does not suit the supervisor's
            flags (a significant child under ``auto_shutdown`` never).
        SupervisorError: ``already_present``, ``already_started``, ``start_failed``.
        TypeError: ``spec`` holds a mutable value (it is sent as a message).
    """
    return await manage(runtime, supervisor, StartChild(spec))


async def start_dynamic_child(runtime: Runtime, supervisor: Pid | Hashable, *extra: Any) -> Pid:
    """Start a child of a ``DynamicSupervisor`` with ``extra`` arguments after the template's.

    Raises:
        SupervisorError: ``max_children`` reached, or ``start_failed``.
    """
    return await manage(runtime, supervisor, StartDynamicChild(extra))


async def terminate_child(runtime: Runtime, supervisor: Pid | Hashable, child_id: Hashable) -> None:
    """Stop a child, keeping its spec (temporary children are removed); ends a due restart.

    A ``DynamicSupervisor``'s children are named by pid, and are forgotten once stopped.

    Raises:
        SupervisorError: ``not_found``; ``simple_one_for_one`` for a dynamic supervisor given
            anything but a pid.
    """
    await manage(runtime, supervisor, TerminateChild(child_id))


async def restart_child(runtime: Runtime, supervisor: Pid | Hashable, child_id: Hashable) -> Pid:
    """Start a stopped child again.

    Raises:
        SupervisorError: ``not_found``, ``running``, ``restarting``, ``start_failed``;
            ``simple_one_for_one`` for a ``DynamicSupervisor``.
    """
    return await manage(runtime, supervisor, RestartChild(child_id))


async def delete_child(runtime: Runtime, supervisor: Pid | Hashable, child_id: Hashable) -> None:
    """Remove a stopped child's spec.

    Raises:
        SupervisorError: ``not_found``, ``running``, ``restarting``; ``simple_one_for_one``
            for a ``DynamicSupervisor``.
    """
    await manage(runtime, supervisor, DeleteChild(child_id))
