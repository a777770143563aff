"""The ``faults:`` and ``load:`` sections of a config file, registered with the config loader.

The loader (``neural_actors.supervisors.config``) structures each section into these classes
with its strict rules (durations as ``250ms``, unknown keys refused with a suggestion, every
problem at its file, line and column), and a fault that its own checks refuse is reported there
too. ``FaultsSection.fault_plan()`` and ``LoadSection.loads()`` then give the Python API's
objects::

    faults:
      seed: 7                      # optional: the run's seed otherwise
      plan:
        - kind: kill
          target: {group: inference-workers, pick: 1}
          every: 200ms
          probability: 0.5
        - kind: drop
          messages: {receiver: {glob: "worker-*"}, types: [Infer]}
          probability: 0.01
          window: [1s, 3s]
    load:
      generators:
        - target: inference-workers
          group: true
          request: {factory: "my_project.load:infer_request"}
          clients: 4
          rate: 200
          timeout: 100ms

A fault's keys are its fields (``target``, ``inits``, ``after``, ``messages``, ``seconds``,
``jitter``, ``hold``, ``core``, ``factor``, ``link``, ``sides``) and its schedule's (``at``,
``every``, ``until``, ``times``, ``probability``, ``duration``, and ``window: [start, end]``),
side by side. This module has no ``from __future__ import annotations``: the loader reads the
field types as objects.
"""

import importlib
from collections.abc import Callable
from typing import Any, Literal

import attrs

from neural_actors.supervisors import register_section
from neural_actors.supervisors.config_format import Arg, Seconds

from .errors import FaultPlanError
from .load import Load
from .plan import FAULT_KINDS, Fault, FaultPlan
from .schedule import Schedule
from .targets import DIRECTIONS, MESSAGE_KINDS, Link, Messages, Target

__all__ = [
    "FaultNode", "FaultsSection", "LinkNode", "LoadNode", "LoadSection", "MessagesNode", "RequestNode",
    "TargetNode",
]

Kind = Literal[tuple(FAULT_KINDS)]  # type: ignore[valid-type]
MessageKind = Literal[MESSAGE_KINDS]  # type: ignore[valid-type]
Direction = Literal[DIRECTIONS]  # type: ignore[valid-type]

#: The keys each kind of fault takes besides its schedule's.
KIND_KEYS: dict[str, tuple[str, ...]] = {
    "crash": ("target",),
    "kill": ("target",),
    "fail_init": ("target", "inits"),
    "crash_after": ("target", "after"),
    "drop": ("messages",),
    "delay": ("messages", "seconds", "jitter"),
    "duplicate": ("messages",),
    "reorder": ("messages", "hold"),
    "fail_core": ("core", "target"),
    "fail_link": ("link",),
    "slow_core": ("factor", "core", "target"),
    "partition": ("sides",),
}
SCHEDULE_KEYS = ("at", "every", "until", "times", "probability", "duration")
FAULT_KEYS = tuple(dict.fromkeys(key for keys in KIND_KEYS.values() for key in keys))


@attrs.frozen
class TargetNode:
    """Which processes: every key given must match.

    Args:
        name: a registered name.
        glob: a pattern over registered names, as "worker-*".
        group: a group's key.
        subtree: a supervisor's name: every process below it.
        actor: a pattern over actor class names.
        type: worker (any process but a supervisor) or supervisor.
        pick: choose this many of the matches at random (seeded).
    """

    name: str | None = None
    glob: str | None = None
    group: str | None = None
    subtree: str | None = None
    actor: str | None = None
    type: Literal["worker", "supervisor"] | None = None
    pick: int | None = None

    def target(self) -> Target:
        return Target(**attrs.asdict(self))


@attrs.frozen
class LinkNode:
    """One mesh link: the one leaving router (x, y) of chip in direction on noc.

    Args:
        chip: the chip.
        x: the router's column.
        y: the router's row.
        direction: +x, -x, +y or -y.
        noc: 0 or 1.
    """

    chip: int
    x: int
    y: int
    direction: Direction
    noc: int = 0

    def link(self) -> Link:
        return Link(self.chip, self.x, self.y, self.direction, self.noc)


@attrs.frozen
class MessagesNode:
    """Which messages: every key given must match.

    Args:
        sender: the processes that send them.
        receiver: the processes they are sent to.
        types: patterns over the messages' class names.
        kinds: cast, send, call, timer, reply (default: all but reply).
        link: only messages whose mesh route crosses this link.
        cores: [source core, destination core].
    """

    sender: TargetNode | None = None
    receiver: TargetNode | None = None
    types: tuple[str, ...] | None = None
    kinds: tuple[MessageKind, ...] | None = None
    link: LinkNode | None = None
    cores: tuple[int, ...] | None = None

    def messages(self) -> Messages:
        given: dict[str, Any] = {
            "sender": self.sender.target() if self.sender is not None else None,
            "receiver": self.receiver.target() if self.receiver is not None else None,
            "link": self.link.link() if self.link is not None else None,
            "cores": self.cores,
        }
        if self.types is not None:
            given["types"] = self.types
        if self.kinds is not None:
            given["kinds"] = self.kinds
        return Messages(**given)


@attrs.frozen
class FaultNode:
    """One fault: its kind, what it hits, and when.

    Args:
        kind: crash, kill, fail_init, crash_after, drop, delay, duplicate, reorder, fail_core,
            fail_link, slow_core or partition.
        target: the processes it hits (crash, kill, fail_init, crash_after; fail_core and
            slow_core: whose core).
        inits: fail_init: how many inits fail.
        after: crash_after: items handled before the crash.
        messages: drop, delay, duplicate, reorder: which messages.
        seconds: delay: how much later.
        jitter: delay: up to this much more, drawn per message.
        hold: reorder: the longest a message is held back.
        core: fail_core, slow_core: the core (default: a seeded choice).
        factor: slow_core: how many times slower.
        link: fail_link: the link (default: a seeded choice).
        sides: partition: lists of cores (default: a seeded split in two).
        at: first firing, after the start.
        every: fire again this often.
        until: no firing after this.
        times: fire at most this many times.
        probability: chance of each event (a firing, or a message).
        duration: how long a condition or a message fault's window lasts.
        window: [start, end]: at start, lasting until end.
    """

    kind: Kind
    target: TargetNode | None = None
    inits: int | None = None
    after: int | None = None
    messages: MessagesNode | None = None
    seconds: Seconds | None = None
    jitter: Seconds | None = None
    hold: Seconds | None = None
    core: int | None = None
    factor: float | None = None
    link: LinkNode | None = None
    sides: tuple[tuple[int, ...], ...] | None = None
    at: Seconds | None = None
    every: Seconds | None = None
    until: Seconds | None = None
    times: int | None = None
    probability: float | None = None
    duration: Seconds | None = None
    window: tuple[Seconds, ...] | None = None

    def __attrs_post_init__(self) -> None:
        self.fault()  # refused at load, with the file and line, not when the run starts

    def fault(self) -> Fault:
        """The ``Fault`` this node describes.

        Raises:
            FaultPlanError: a key the kind does not take, or a value its checks refuse.
        """
        takes = KIND_KEYS[self.kind]
        for key in FAULT_KEYS:
            if key not in takes and getattr(self, key) is not None:
                expected = f"no {key}: here (a {self.kind} fault takes {', '.join(takes)})"
                raise FaultPlanError(key, _given(getattr(self, key)), expected)
        fields: dict[str, Any] = {key: getattr(self, key) for key in takes if getattr(self, key) is not None}
        nodes = (("target", TargetNode.target), ("messages", MessagesNode.messages), ("link", LinkNode.link))
        for key, convert in nodes:
            if key in fields:
                fields[key] = convert(fields[key])
        if self.kind in ("crash", "kill", "fail_init", "crash_after") and "target" not in fields:
            raise FaultPlanError("target", None, f"a target (a {self.kind} fault needs one)")
        return FAULT_KINDS[self.kind](**fields, schedule=self.schedule())

    def schedule(self) -> Schedule:
        given = {key: getattr(self, key) for key in SCHEDULE_KEYS if getattr(self, key) is not None}
        if self.window is None:
            return Schedule(**given)
        if len(self.window) != 2 or "at" in given or "duration" in given:
            raise FaultPlanError("window", self.window, "[start, end], and then no at: or duration:")
        start, end = self.window
        if not end > start:
            raise FaultPlanError("window", self.window, "[start, end] with end after start")
        return Schedule(**given, at=start, duration=end - start)


@attrs.frozen
class FaultsSection:
    """faults: the fault plan a chaos run injects.

    Args:
        seed: the plan's seed (default: the run's).
        plan: the faults.
    """

    seed: int | None = None
    plan: tuple[FaultNode, ...] = ()

    def fault_plan(self) -> FaultPlan:
        """The ``FaultPlan``."""
        return FaultPlan(tuple(node.fault() for node in self.plan), seed=self.seed)


@attrs.frozen
class RequestNode:
    """What a client sends: a message built from a class and arguments, or a factory's.

    Args:
        message: package.module:Class of the request, built from args and kwargs at each call.
        args: the class's positional arguments.
        kwargs: the class's keyword arguments.
        factory: package.module:function taking the call number (0, 1, ...) and returning the request.
    """

    message: str | None = None
    args: tuple[Arg, ...] = ()
    kwargs: dict[str, Arg] = attrs.Factory(dict)
    factory: str | None = None

    def __attrs_post_init__(self) -> None:
        if (self.message is None) == (self.factory is None):
            raise FaultPlanError("request", None, "either message: (with args:, kwargs:) or factory:")
        if self.factory is not None and (self.args or self.kwargs):
            expected = "no args: or kwargs: with factory: (it takes the call number)"
            raise FaultPlanError("request.args", self.args, expected)
        self.request()  # an import that fails is reported at load

    def request(self) -> Any:
        """The request value, or a callable taking the call number."""
        if self.factory is not None:
            return _imported("request.factory", self.factory)
        cls = _imported("request.message", self.message)  # type: ignore[arg-type]
        args, kwargs = self.args, dict(self.kwargs)
        return lambda _: cls(*args, **kwargs)


def _given(value: Any) -> Any:
    """A value as the file gave it: a mapping's keys that were written, not the class's defaults."""
    if attrs.has(type(value)):
        return {key: item for key, item in attrs.asdict(value, recurse=False).items() if item is not None}
    return value


def _imported(field: str, reference: str) -> Callable[..., Any]:
    module_name, colon, qualname = reference.partition(":")
    if not colon or not module_name or not qualname:
        raise FaultPlanError(field, reference, "package.module:name")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise FaultPlanError(field, reference, f"an importable name ({type(error).__name__}: {error})") from None
    if not callable(found):
        raise FaultPlanError(field, reference, "a class or a function")
    return found  # type: ignore[no-any-return]


@attrs.frozen
class LoadNode:
    """Closed-loop clients calling one name, or a group's members.

    Args:
        target: a registered name, or a group's key with group: true.
        request: what each call sends.
        group: target is a group: each call goes to a member chosen at random (seeded).
        clients: how many clients.
        rate: calls per second each client starts, at most.
        timeout: each call's timeout.
    """

    target: str
    request: RequestNode
    group: bool = False
    clients: int = 1
    rate: float = 10.0
    timeout: Seconds | None = 1.0

    def __attrs_post_init__(self) -> None:
        self.load()

    def load(self) -> Load:
        """The ``Load``."""
        return Load(self.target, self.request.request(), group=self.group, clients=self.clients, rate=self.rate,
                    timeout=self.timeout)


@attrs.frozen
class LoadSection:
    """load: the clients a chaos run calls the tree with.

    Args:
        generators: the loads, each its own clients.
    """

    generators: tuple[LoadNode, ...] = ()

    def loads(self) -> tuple[Load, ...]:
        """The ``Load`` values."""
        return tuple(node.load() for node in self.generators)


register_section("faults", FaultsSection)
register_section("load", LoadSection)
