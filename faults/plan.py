"""A fault plan is data: one frozen class per kind of fault, each with a ``Schedule`` and what it
hits, gathered in a ``FaultPlan`` with an optional seed.

Kinds, by what a firing does (see ``schedule.py``):

- events on processes: ``Crash`` (raise inside the target's next handler), ``Kill``
  (an untrappable exit), ``FailInit`` (the next ``inits`` inits of matching processes raise:
  the target's next restarts fail), ``CrashAfter`` (the target handles ``after`` more items,
  then the next one's handler raises);
- message faults, while a window is open: ``Drop``, ``Delay``, ``Duplicate``, ``Reorder``;
- conditions of the mesh, healed after ``duration``: ``FailCore``, ``FailLink``, ``SlowCore``,
  ``Partition``.

A plan does nothing until installed on a running runtime: ``plan.install(rt)`` returns the
``FaultInjector`` that applies it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union, final

import attrs

from .errors import FaultPlanError
from .schedule import Schedule
from .targets import Link, Messages, Target, to_target
from .validators import as_tuple, count, instance
from .validators import seconds as finite_seconds  # Delay has a field named seconds

if TYPE_CHECKING:
    from neural_actors.runtime import Runtime

    from .injector import FaultInjector

__all__ = [
    "FAULT_KINDS",
    "Crash",
    "CrashAfter",
    "Delay",
    "Drop",
    "Duplicate",
    "FailCore",
    "FailInit",
    "FailLink",
    "Fault",
    "FaultPlan",
    "Kill",
    "Partition",
    "Reorder",
    "SlowCore",
]

Category = Literal["event", "message", "condition"]


def _target(_: Any, attribute: Any, value: Any) -> None:
    if type(value) is not Target:
        raise FaultPlanError(attribute.name, value, "a Target, a name or a glob")


def _optional_target(_: Any, attribute: Any, value: Any) -> None:
    if value is not None:
        _target(_, attribute, value)


def _schedule(_: Any, __: Any, value: Any) -> None:
    if type(value) is not Schedule:
        raise FaultPlanError("schedule", value, "a Schedule")


def _messages(_: Any, __: Any, value: Any) -> None:
    if type(value) is not Messages:
        raise FaultPlanError("messages", value, "a Messages selector")


def _window(fault: Any) -> None:
    """A message fault that fires more than once needs a window length, or its windows would
    pile up for ever."""
    schedule = fault.schedule
    if schedule.every is not None and schedule.duration is None:
        raise FaultPlanError(
            "schedule.duration",
            None,
            f"seconds > 0 for a repeating {fault.kind} (each firing opens a window that long)",
        )


def _core(field: str) -> Any:
    return count(field, optional=True, least=0)


# Events on processes -----------------------------------------------------------------------


@final
@attrs.frozen
class Crash:
    """Raise ``InjectedFault`` inside the target's next handler, whatever it handles next."""

    kind: ClassVar[str] = "crash"
    category: ClassVar[Category] = "event"
    target: Target = attrs.field(converter=to_target, validator=_target)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


@final
@attrs.frozen
class Kill:
    """Send the target an untrappable ``kill`` exit (its reason becomes ``killed``)."""

    kind: ClassVar[str] = "kill"
    category: ClassVar[Category] = "event"
    target: Target = attrs.field(converter=to_target, validator=_target)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


@final
@attrs.frozen
class FailInit:
    """Make the next ``inits`` inits of processes matching ``target`` raise ``InjectedFault``.

    Armed at each firing; a restart of a crashed target is what usually comes next, so this is
    "fail its init on the next restart(s)". With ``target.pick`` the choice is made among live
    processes at the firing, and their restarts are recognised by name (or, for an unnamed
    process, by parent and actor class).
    """

    kind: ClassVar[str] = "fail_init"
    category: ClassVar[Category] = "event"
    target: Target = attrs.field(converter=to_target, validator=_target)
    inits: int = attrs.field(default=1, validator=count("inits"))
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


@final
@attrs.frozen
class CrashAfter:
    """The target handles ``after`` more items after the firing; the next one's handler raises
    ``InjectedFault``."""

    kind: ClassVar[str] = "crash_after"
    category: ClassVar[Category] = "event"
    target: Target = attrs.field(converter=to_target, validator=_target)
    after: int = attrs.field(default=1, validator=count("after", least=0))
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


# Message faults ----------------------------------------------------------------------------


@final
@attrs.frozen
class Drop:
    """Drop each selected message with the schedule's probability; counted with reason ``drop``."""

    kind: ClassVar[str] = "drop"
    category: ClassVar[Category] = "message"
    messages: Messages = attrs.field(default=Messages(), validator=_messages)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)

    def __attrs_post_init__(self) -> None:
        _window(self)


@final
@attrs.frozen
class Delay:
    """Make each selected message arrive ``seconds`` (plus up to ``jitter``, drawn per message)
    later. Order per sender/receiver pair is kept: what that pair sends next waits behind it."""

    kind: ClassVar[str] = "delay"
    category: ClassVar[Category] = "message"
    seconds: float = attrs.field(default=0.01, validator=finite_seconds("seconds", positive=True))
    jitter: float = attrs.field(default=0.0, validator=finite_seconds("jitter"))
    messages: Messages = attrs.field(default=Messages(), validator=_messages)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)

    def __attrs_post_init__(self) -> None:
        _window(self)


@final
@attrs.frozen
class Duplicate:
    """Deliver each selected message twice, the copy right behind the original (a call's
    handler then runs twice; the second reply is discarded, as any late reply is)."""

    kind: ClassVar[str] = "duplicate"
    category: ClassVar[Category] = "message"
    messages: Messages = attrs.field(default=Messages(), validator=_messages)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)

    def __attrs_post_init__(self) -> None:
        _window(self)


@final
@attrs.frozen
class Reorder:
    """Hold each selected message back and let it arrive right after the next message of the
    same sender/receiver pair (the two swap places); if none comes within ``hold`` seconds it
    arrives then. A pair holds one message at a time: while one is held, the next selected
    message of that pair is the one it swaps with."""

    kind: ClassVar[str] = "reorder"
    category: ClassVar[Category] = "message"
    hold: float = attrs.field(default=0.1, validator=finite_seconds("hold", positive=True))
    messages: Messages = attrs.field(default=Messages(), validator=_messages)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)

    def __attrs_post_init__(self) -> None:
        _window(self)


# Conditions of the mesh ------------------------------------------------------------------------


@final
@attrs.frozen
class FailCore:
    """Fail a core (its processes exit with ``core_failed``; placement avoids it), restored
    after ``schedule.duration``. Which core: ``core``, else the core of a process ``target``
    picks, else a seeded random choice among the cores processes run on."""

    kind: ClassVar[str] = "fail_core"
    category: ClassVar[Category] = "condition"
    core: int | None = attrs.field(default=None, validator=_core("core"))
    target: Target | None = attrs.field(default=None, converter=to_target, validator=_optional_target)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


@final
@attrs.frozen
class FailLink:
    """Fail a mesh link (routes over it take the other NoC, or the send raises ``Unreachable``),
    restored after ``schedule.duration``. ``None``: a seeded random link on the route between
    two cores processes run on."""

    kind: ClassVar[str] = "fail_link"
    category: ClassVar[Category] = "condition"
    link: Link | None = attrs.field(default=None, validator=instance("link", Link, "a Link or None (a seeded choice)"))
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


def _factor(_: Any, __: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 1 <= value < float("inf"):
        raise FaultPlanError("factor", value, "a finite number >= 1")


@final
@attrs.frozen
class SlowCore:
    """Make messages to a core take ``factor`` times longer, until ``schedule.duration`` ends.
    The core is chosen as ``FailCore`` chooses it."""

    kind: ClassVar[str] = "slow_core"
    category: ClassVar[Category] = "condition"
    factor: float = attrs.field(default=10.0, validator=_factor)
    core: int | None = attrs.field(default=None, validator=_core("core"))
    target: Target | None = attrs.field(default=None, converter=to_target, validator=_optional_target)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


def _sides(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(tuple(side) if isinstance(side, list) else side for side in value)
    return value


def _check_sides(_: Any, __: Any, value: Any) -> None:
    if value is None:
        return
    expected = "two or more disjoint tuples of core numbers, or None for a seeded random split"
    if type(value) is not tuple or len(value) < 2:
        raise FaultPlanError("sides", value, expected)
    seen: set[int] = set()
    for side in value:
        if type(side) is not tuple or not side or not all(type(c) is int and c >= 0 for c in side) or seen & set(side):
            raise FaultPlanError("sides", value, expected)
        seen.update(side)


@final
@attrs.frozen
class Partition:
    """Cut the mesh: messages between cores on different ``sides`` are dropped (reason
    ``partition``) until ``schedule.duration`` ends. Exits, downs and replies still cross, as
    they cross a dead link on the mesh: on one node a lost exit would break supervision.
    ``None``: a seeded random split of the cores processes run on into two halves."""

    kind: ClassVar[str] = "partition"
    category: ClassVar[Category] = "condition"
    sides: tuple[tuple[int, ...], ...] | None = attrs.field(default=None, converter=_sides, validator=_check_sides)
    schedule: Schedule = attrs.field(default=Schedule(), validator=_schedule)


Fault = Union[
    Crash, Kill, FailInit, CrashAfter, Drop, Delay, Duplicate, Reorder, FailCore, FailLink, SlowCore, Partition
]

#: Every fault class by its ``kind``, in the order reports list them.
FAULT_KINDS: dict[str, type] = {
    cls.kind: cls
    for cls in (
        Crash, Kill, FailInit, CrashAfter, Drop, Delay, Duplicate, Reorder, FailCore, FailLink, SlowCore, Partition
    )
}


def _faults(_: Any, __: Any, value: Any) -> None:
    if type(value) is not tuple:
        raise FaultPlanError("faults", value, "a tuple of faults")
    for index, fault in enumerate(value):
        if type(fault) not in FAULT_KINDS.values():
            names = ", ".join(cls.__name__ for cls in FAULT_KINDS.values())
            raise FaultPlanError(f"faults[{index}]", fault, f"a fault ({names})")


def _seed(_: Any, __: Any, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise FaultPlanError("seed", value, "an int or None")


@final
@attrs.frozen
class FaultPlan:
    """Faults to inject into a running runtime, and the seed that drives every choice.

    Args:
        faults: the faults, in the order their choices are drawn when several fire at once.
        seed: the seed of the plan's one random generator; ``None``: the seed ``install`` is
            given, else the runtime's, else 0.

    Raises:
        FaultPlanError: naming the field, what was expected and what came.
    """

    faults: tuple[Fault, ...] = attrs.field(default=(), converter=as_tuple, validator=_faults)
    seed: int | None = attrs.field(default=None, validator=_seed)

    def install(self, rt: Runtime, *, seed: int | None = None) -> FaultInjector:
        """Apply this plan to the running ``rt``; returns the injector (``heal``, ``uninstall``,
        ``statistics``). Times in the schedules count from now.

        Raises:
            FaultPlanError: a fault needs what ``rt`` lacks (a mesh), or a plan is installed.
            RuntimeError: ``rt`` is not running.
        """
        # Imported here: the injector applies plans, so it imports this module.
        from .injector import FaultInjector

        return FaultInjector(rt, self, seed=seed)
