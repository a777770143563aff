"""What a fault hits: processes (``Target``), mesh links (``Link``) and messages (``Messages``).

A ``Target`` selects processes by registered name, by a glob over names, by group, by
supervisor subtree, by actor class, by type (worker or supervisor); every filter given must
match. ``pick`` then makes a
seeded random choice among the matches, drawn from the plan's one generator when the fault
fires, so the same seed picks the same victims. A plain string stands for a target: a name, or
a glob if it holds ``*``, ``?`` or ``[``.

``Messages`` selects messages by sender, receiver, message type, kind, mesh link crossed, or
source and destination cores. Matching reads live processes through the runtime's public doors
(``Runtime.delivery.resolve``, ``Runtime.processes``), never its insides.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Protocol, final

import attrs

from neural_actors.runtime import Mesh, Pid, Runtime
from neural_actors.supervisors import DynamicSupervisor, Supervisor

from .errors import FaultPlanError
from .validators import as_tuple, count, hashable, instance, one_of, pattern, strings

__all__ = ["DIRECTIONS", "MESSAGE_KINDS", "TYPES", "Link", "Messages", "Target", "is_supervisor", "to_target"]

#: The signal kinds a message fault may select. Exit signals and downs are never touched: a lost
#: exit would leave running a process its supervisor stopped (the mesh keeps them too).
MESSAGE_KINDS = ("cast", "send", "call", "timer", "reply")
DEFAULT_KINDS = ("cast", "send", "call", "timer")
DIRECTIONS = ("+x", "-x", "+y", "-y")
TYPES = ("worker", "supervisor")
_SUPERVISORS = (Supervisor, DynamicSupervisor)
_GLOB = frozenset("*?[")


class ProcessView(Protocol):
    """What matching reads of a process (``Process`` as ``ProcessHooks`` see it)."""

    pid: Pid
    name: Any
    actor: Any
    parent: Pid
    groups: dict[Any, None] | None


@final
@attrs.frozen
class Target:
    """Which processes a fault hits; every filter given must match, none given matches all.

    Args:
        name: the registered name.
        glob: a shell-style pattern over registered names (``"worker-*"``).
        group: a group key (``Runtime.join``).
        subtree: a supervisor's name or pid: every process below it (itself excluded).
        actor: a shell-style pattern over actor class names (``"*Worker"``).
        type: ``worker`` (any process but a supervisor) or ``supervisor``, as child specs say.
        pick: choose this many of the matches at random (seeded); ``None``: all of them.

    Raises:
        FaultPlanError: naming the field, what was expected and what came.
    """

    name: Hashable | None = attrs.field(default=None, validator=hashable("target.name"))
    glob: str | None = attrs.field(default=None, validator=pattern("target.glob"))
    group: Hashable | None = attrs.field(default=None, validator=hashable("target.group"))
    subtree: Hashable | None = attrs.field(default=None, validator=hashable("target.subtree"))
    actor: str | None = attrs.field(default=None, validator=pattern("target.actor"))
    type: str | None = attrs.field(default=None, validator=attrs.validators.optional(one_of("target.type", TYPES)))
    pick: int | None = attrs.field(default=None, validator=count("target.pick", optional=True))

    def matches(self, rt: Runtime, process: ProcessView) -> bool:
        """True if ``process`` passes every filter (``pick`` aside)."""
        name = process.name
        if self.name is not None and name != self.name:
            return False
        if self.glob is not None and (name is None or not fnmatch.fnmatchcase(str(name), self.glob)):
            return False
        if self.group is not None and (not process.groups or self.group not in process.groups):
            return False
        if self.actor is not None and not fnmatch.fnmatchcase(type(process.actor).__name__, self.actor):
            return False
        if self.type is not None and is_supervisor(process.actor) != (self.type == "supervisor"):
            return False
        return self.subtree is None or _below(rt, process, self.subtree)

    def candidates(self, rt: Runtime) -> list[Pid]:
        """The live processes that match, in start order."""
        resolve = rt.delivery.resolve
        found = []
        for pid in rt.processes():
            process = resolve(pid)
            if process is not None and self.matches(rt, process):
                found.append(pid)
        return found


def _below(rt: Runtime, process: ProcessView, root: Hashable) -> bool:
    """True if the supervisor ``root`` (a name or a pid) is an ancestor of ``process``."""
    root_pid = root if type(root) is Pid else rt.whereis(root)
    if root_pid is None:
        return False
    resolve = rt.delivery.resolve
    parent = process.parent
    while parent != rt.pid:
        if parent == root_pid:
            return True
        ancestor = resolve(parent)
        if ancestor is None:
            return False
        parent = ancestor.parent
    return False


def is_supervisor(actor: Any) -> bool:
    """True if ``actor`` runs a supervisor (static or dynamic)."""
    return isinstance(actor, _SUPERVISORS)


def to_target(value: Any) -> Any:
    """A ``Target`` from shorthand: a string with ``*``, ``?`` or ``[`` is a glob, any other
    hashable value a name; a ``Target`` or ``None`` is kept."""
    if value is None or type(value) is Target:
        return value
    if type(value) is str and _GLOB & set(value):
        return Target(glob=value)
    if isinstance(value, Hashable) and not isinstance(value, (Messages, Link)):
        return Target(name=value)
    return value


def _target(field: str, *, optional: bool) -> Any:
    def check(_: Any, __: Any, value: Any) -> None:
        if value is None and optional:
            return
        if type(value) is not Target:
            raise FaultPlanError(field, value, "a Target, a name or a glob" + (" or None" if optional else ""))

    return check


@final
@attrs.frozen
class Link:
    """One mesh link: the one leaving router ``(x, y)`` of ``chip`` in ``direction`` on ``noc``."""

    chip: int = attrs.field(validator=count("link.chip", least=0))
    x: int = attrs.field(validator=count("link.x", least=0))
    y: int = attrs.field(validator=count("link.y", least=0))
    direction: str = attrs.field(validator=one_of("link.direction", DIRECTIONS))
    noc: int = attrs.field(default=0, validator=one_of("link.noc", (0, 1)))

    def key(self) -> tuple[int, int, int, str, int]:
        return (self.chip, self.x, self.y, self.direction, self.noc)


def route_links(mesh: Mesh, src: int, dst: int) -> frozenset[tuple[int, int, int, str, int]]:
    """The links a message from core ``src`` to core ``dst`` crosses when no link has failed:
    the dimension-ordered route on the NoC with fewer hops (NoC 0 on a tie), as the mesh takes."""
    if src == dst:
        return frozenset()
    chip, sx, sy = mesh.locate(src)
    _, dx, dy = mesh.locate(dst)
    nocs: Sequence[int] = (0, 1) if mesh.topology == "noc" else (0,)
    noc = min(nocs, key=lambda n: (mesh.hops((sx, sy), (dx, dy), n), n))
    return frozenset((chip, x, y, direction, noc) for x, y, direction in mesh.route((sx, sy), (dx, dy), noc))


def _cores(_: Any, __: Any, value: Any) -> None:
    if value is None:
        return
    if type(value) is not tuple or len(value) != 2 or not all(type(c) is int and c >= 0 for c in value):
        raise FaultPlanError("messages.cores", value, "(source core, destination core), two ints >= 0")


@final
@attrs.frozen
class Messages:
    """Which messages a message fault hits; every filter given must match.

    Args:
        sender: a ``Target`` (or shorthand) the sender must match; ``None``: any sender, the
            runtime itself included.
        receiver: a ``Target`` the receiver must match; ``None``: any.
        types: shell-style patterns over the message's class name (a call's request, a
            reply's value); empty: any type.
        kinds: which signals: ``cast``, ``send``, ``call``, ``timer``, ``reply``. Exits and
            downs are never selectable. Replies are left out by default: a lost reply is a
            caller waiting for its timeout, which is a fault to ask for on purpose.
        link: only messages whose mesh route crosses this link.
        cores: only messages from the first core to the second.

    Raises:
        FaultPlanError: naming the field, what was expected and what came.
    """

    sender: Target | None = attrs.field(
        default=None, converter=to_target, validator=_target("messages.sender", optional=True)
    )
    receiver: Target | None = attrs.field(
        default=None, converter=to_target, validator=_target("messages.receiver", optional=True)
    )
    types: tuple[str, ...] = attrs.field(default=(), converter=as_tuple, validator=strings("messages.types"))
    kinds: tuple[str, ...] = attrs.field(
        default=DEFAULT_KINDS, converter=as_tuple, validator=strings("messages.kinds", choices=MESSAGE_KINDS)
    )
    link: Link | None = attrs.field(default=None, validator=instance("messages.link", Link, "a Link or None"))
    cores: tuple[int, int] | None = attrs.field(default=None, converter=as_tuple, validator=_cores)

    def __attrs_post_init__(self) -> None:
        if not self.kinds:
            raise FaultPlanError("messages.kinds", self.kinds, f"at least one of {', '.join(MESSAGE_KINDS)}")


def payload(kind: str, item: Any) -> Any:
    """The user's message inside a carried item: a call's request, a send's or timer's message."""
    if kind == "call":
        return item.request
    if kind in ("send", "timer"):
        return item.msg
    return item


def type_matches(patterns: Iterable[str], value: Any) -> bool:
    """True if the class name of ``value`` matches one of ``patterns``."""
    name = type(value).__name__
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
