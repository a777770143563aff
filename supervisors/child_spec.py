"""Child specs and supervisor flags, validated one field at a time as OTP does.

Each field's validator raises ``InvalidChildSpec(field, value, reason)``; callers add where the
spec came from (``check_childspecs`` adds ``children[i].``, the YAML loader a file and line).
What depends on more than one field or spec is checked afterwards with OTP's rules: a
significant child must be ``transient`` or ``temporary``; significant children need an
``auto_shutdown`` other than ``never``; ids are unique among a supervisor's children.

Both classes are messages, so a spec, flags included, can be sent to a running supervisor:
``start_child(rt, sup, ChildSpec(id="sub", type="supervisor", start=(Supervisor, (flags, ()))))``.
"""

from __future__ import annotations

import builtins
from collections.abc import Hashable, Sequence
from typing import Any, Literal, final

import attrs

from neural_actors.runtime import Actor, FrozenDict, MailboxPolicy, check_immutable, freeze, message

from .backoff import Backoff
from .errors import InvalidChildSpec
from .strategies import STRATEGIES
from .validators import hashable, is_seconds, non_negative_int, one_of, seconds

__all__ = ["NODE_PLACEMENTS", "ChildSpec", "SupervisorFlags", "check_childspec", "check_childspecs"]

Restart = Literal["permanent", "transient", "temporary"]
ChildType = Literal["worker", "supervisor"]
AutoShutdown = Literal["never", "any_significant", "all_significant"]

RESTARTS = ("permanent", "transient", "temporary")
CHILD_TYPES = ("worker", "supervisor")
AUTO_SHUTDOWNS = ("never", "any_significant", "all_significant")
START_FORM = "must be a tuple (actor_class, args) or (actor_class, args, kwargs)"
#: How a child may be placed across the nodes of a cluster besides a node number: the next live
#: node in turn, for every start and restart.
NODE_PLACEMENTS = ("round_robin",)


def _check_start(_: Any, __: Any, value: Any) -> None:
    if not (type(value) is tuple and 1 <= len(value) <= 3):
        raise InvalidChildSpec("start", value, START_FORM)
    actor = value[0]
    if not (isinstance(actor, type) and issubclass(actor, Actor)):
        raise InvalidChildSpec("start[0]", actor, "must be an Actor subclass")
    if len(value) > 1 and type(value[1]) is not tuple:  # a list was frozen into a tuple
        raise InvalidChildSpec("start[1]", value[1], "must be a tuple of positional arguments")
    if len(value) > 2 and type(value[2]) is not FrozenDict:
        raise InvalidChildSpec("start[2]", value[2], "must be a dict of keyword arguments")
    # Every incarnation of the child gets these same arguments: a mutable one would carry what
    # one incarnation did to it into the next.
    for index, part in enumerate(value[1:], 1):
        try:
            check_immutable(part, f"start[{index}]")
        except TypeError as error:
            raise InvalidChildSpec(
                f"start[{index}]", part, f"must hold immutable values, reused at every restart ({error})"
            ) from None


def _check_mailbox(_: Any, __: Any, value: Any) -> None:
    if value is not None and type(value) is not MailboxPolicy:
        raise InvalidChildSpec("mailbox", value, "must be a MailboxPolicy or None")


def _check_shutdown(_: Any, __: Any, value: Any) -> None:
    if value is None or (type(value) is str and value in ("brutal_kill", "infinity")):
        return
    if not is_seconds(value, allow_zero=True):
        raise InvalidChildSpec(
            "shutdown", value, "must be 'brutal_kill', 'infinity' or a finite number of seconds >= 0"
        )


def _check_significant(_: Any, __: Any, value: Any) -> None:
    if type(value) is not bool:
        raise InvalidChildSpec("significant", value, "must be True or False")


def _check_node(_: Any, __: Any, value: Any) -> None:
    if value is None or (type(value) is int and value >= 0) or (type(value) is str and value in NODE_PLACEMENTS):
        return
    raise InvalidChildSpec("node", value, f"must be None, a node number (an int >= 0) or one of {', '.join(NODE_PLACEMENTS)}")


def _check_backoff(_: Any, __: Any, value: Any) -> None:
    if value is not None and type(value) is not Backoff:
        raise InvalidChildSpec("backoff", value, "must be a Backoff or None")


def _freeze_arguments(value: Any) -> Any:
    """Start arguments frozen (lists become tuples, dicts ``FrozenDict``s, writable arrays
    read-only copies): every incarnation of the child gets these same values, so one must not
    be able to change what the next one starts with. What cannot be frozen is left for the
    validator to name."""
    if type(value) is not tuple or not 2 <= len(value) <= 3:
        return value
    actor, *parts = value
    try:
        if type(parts[0]) in (tuple, list):
            parts[0] = tuple(freeze(tuple(parts[0])))
        if len(parts) > 1 and type(parts[1]) in (dict, FrozenDict):
            parts[1] = freeze(parts[1])
    except TypeError:
        return value
    return (actor, *parts)


@final
@message
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    Args:
        id: unique among the supervisor's children; any hashable value but None.
        start: ``(actor_class, args)`` or ``(actor_class, args, kwargs)``.
        restart: ``permanent`` (always restarted), ``transient`` (restarted after an abnormal
            exit only) or ``temporary`` (never restarted).
        shutdown: ``brutal_kill``, seconds to wait after the ``shutdown`` signal before
            killing, or ``infinity``; ``None`` means 5 s for workers and ``infinity`` for
            supervisors.
        type: ``worker`` or ``supervisor``.
        significant: its exit may shut the supervisor down (see ``auto_shutdown``).
        backoff: restart after growing pauses instead of at once (see ``Backoff``).
        name: register each incarnation of the child under this name, so clients address
            it across restarts.
        core: on a runtime with a mesh, the core to start the child on; a restarted child keeps
            the core it ran on unless that core failed. ``None``: the runtime's placement.
        memory: bytes of core SRAM the child needs (its weights), for ``pack`` placement;
            ``None``: the actor class's ``memory_bytes``.
        mailbox: bound each incarnation's mailbox (a ``MailboxPolicy``); ``None``: unbounded.
        node: in a cluster (``neural_actors.nodes``), the node to start the child on, if it is
            alive (else another live node), or ``round_robin``: the next live node at each
            start. ``None``: the supervisor's own node.

    Raises:
        InvalidChildSpec: naming the first invalid field.
    """

    id: Hashable = attrs.field(validator=hashable("id", optional=False))
    start: tuple[Any, ...] = attrs.field(converter=_freeze_arguments, validator=_check_start)
    restart: Restart = attrs.field(default="permanent", validator=one_of("restart", RESTARTS))
    shutdown: float | str | None = attrs.field(default=None, validator=_check_shutdown)
    type: ChildType = attrs.field(default="worker", validator=one_of("type", CHILD_TYPES))
    significant: bool = attrs.field(default=False, validator=_check_significant)
    backoff: Backoff | None = attrs.field(default=None, validator=_check_backoff)
    name: Hashable | None = attrs.field(default=None, validator=hashable("name", optional=True))
    core: int | None = attrs.field(default=None, validator=non_negative_int("core", optional=True))
    memory: int | None = attrs.field(default=None, validator=non_negative_int("memory", optional=True))
    mailbox: MailboxPolicy | None = attrs.field(default=None, validator=_check_mailbox)
    node: int | str | None = attrs.field(default=None, validator=_check_node)

    def __attrs_post_init__(self) -> None:
        if self.significant and self.restart == "permanent":
            raise InvalidChildSpec(
                "significant",
                True,
                "must be False for a permanent child (only transient or temporary children can be significant)",
            )

    @property
    def shutdown_timeout(self) -> float | str:
        """The effective shutdown: the default resolved by the child's type."""
        if self.shutdown is not None:
            return self.shutdown
        return "infinity" if self.type == "supervisor" else 5.0

    def without_arguments(self) -> ChildSpec:
        """This spec with no start arguments (a temporary child's, once started: OTP drops them
        too, since it is never restarted)."""
        return attrs.evolve(self, start=(self.actor, ()))  # type: ignore[misc]  # an attrs class under @message

    @property
    def actor(self) -> builtins.type[Actor]:
        return self.start[0]

    @property
    def args(self) -> tuple[Any, ...]:
        return self.start[1] if len(self.start) > 1 else ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.start[2]) if len(self.start) > 2 else {}


@final
@message
class SupervisorFlags:
    """A supervisor's strategy and restart intensity (defaults as OTP: 1 restart in 5 s).

    Args:
        strategy: a name in ``STRATEGIES``: ``one_for_one``, ``one_for_all`` or ``rest_for_one``.
        intensity: restarts allowed within ``period``; one more and the supervisor gives up.
        period: the intensity's window, in seconds.
        auto_shutdown: ``never``, ``any_significant`` or ``all_significant``.

    Raises:
        InvalidChildSpec: naming the first invalid flag.
    """

    strategy: str = attrs.field(default="one_for_one", validator=one_of("strategy", STRATEGIES))
    intensity: int = attrs.field(default=1, validator=non_negative_int("intensity"))
    period: float = attrs.field(default=5.0, validator=seconds("period"))
    auto_shutdown: AutoShutdown = attrs.field(default="never", validator=one_of("auto_shutdown", AUTO_SHUTDOWNS))


def check_childspec(spec: Any, flags: SupervisorFlags | None = None) -> None:
    """Check one spec, and its combination with ``flags`` if given (OTP's ``bad_combination``).

    Raises:
        InvalidChildSpec: ``spec`` is not a ChildSpec, or is significant while ``flags`` has
            ``auto_shutdown`` never; the field is named without a prefix.
    """
    if type(spec) is not ChildSpec:
        raise InvalidChildSpec("spec", spec, "must be a ChildSpec")
    if flags is not None and spec.significant and flags.auto_shutdown == "never":
        raise InvalidChildSpec(
            "significant",
            True,
            "must be False under auto_shutdown never; give the supervisor auto_shutdown "
            "any_significant or all_significant to let this child shut it down",
        )


def check_childspecs(children: Sequence[ChildSpec], flags: SupervisorFlags | None = None) -> None:
    """Check a supervisor's children before starting any, as OTP's ``check_childspecs``.

    Each element must be a ``ChildSpec`` (whose fields were checked when it was made), ids must
    be unique, and with ``flags`` each spec must suit them (significant children need
    ``auto_shutdown`` other than never).

    Args:
        children: the specs, in start order.
        flags: the supervisor's flags, or None to check the specs alone.

    Raises:
        InvalidChildSpec: naming the child by position, e.g. ``children[1].id``.
    """
    if flags is not None and type(flags) is not SupervisorFlags:
        raise InvalidChildSpec("flags", flags, "must be a SupervisorFlags or None")
    if type(children) not in (list, tuple):
        raise InvalidChildSpec("children", children, "must be a list or tuple of ChildSpec")
    seen: dict[Hashable, int] = {}
    for index, spec in enumerate(children):
        if type(spec) is not ChildSpec:
            raise InvalidChildSpec(f"children[{index}]", spec, "must be a ChildSpec")
        try:
            check_childspec(spec, flags)
        except InvalidChildSpec as error:
            raise error.within(f"children[{index}].") from None
        if spec.id in seen:
            first = seen[spec.id]
            raise InvalidChildSpec(f"children[{index}].id", spec.id, f"must be unique; children[{first}] has it too")
        seen[spec.id] = index
