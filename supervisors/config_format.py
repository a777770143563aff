"""The shapes of a config file, as attrs classes: what cattrs structures YAML into, what the
JSON Schema is generated from, and what ``dump`` unstructures.

Only the nodes of the tree and the ``runtime:`` section have classes of their own here, because
their keys are not those of any one runtime class (a worker node's ``actor``, ``args`` and
``kwargs`` make a ``ChildSpec``'s ``start``; a supervisor node holds its ``SupervisorFlags``
inline). ``backoff:`` and ``mailbox:`` are structured straight into ``Backoff`` and
``MailboxPolicy``. After structuring, nodes become ``ChildSpec`` objects (``config.py``), the
same objects the Python API builds.

Field types say how a key is read: ``Seconds`` takes ``250ms`` or a number, ``Shutdown`` also
``brutal_kill`` and ``infinity``, ``Bytes`` takes ``1.5MiB``, ``ActorClass`` imports
``package.module:Class``, ``Arg`` is any YAML value, kept immutable (lists become tuples,
mappings ``FrozenDict``).
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any, Literal, NewType, Union

import attrs

from neural_actors.runtime import MailboxPolicy

from .backoff import Backoff
from .child_spec import AUTO_SHUTDOWNS, CHILD_TYPES, RESTARTS, STRATEGIES

__all__ = [
    "ActorClass", "Arg", "Bytes", "Node", "RuntimeSection", "Seconds", "Shutdown", "SupervisorNode",
    "WorkerNode", "describe_fields", "field_types",
]

Seconds = NewType("Seconds", float)
Shutdown = NewType("Shutdown", float)
Bytes = NewType("Bytes", int)
ActorClass = NewType("ActorClass", type)
Arg = NewType("Arg", object)

Restart = Literal[RESTARTS]  # type: ignore[valid-type]
ChildType = Literal[CHILD_TYPES]  # type: ignore[valid-type]
Strategy = Literal[tuple(STRATEGIES)]  # type: ignore[valid-type]
AutoShutdown = Literal[AUTO_SHUTDOWNS]  # type: ignore[valid-type]
#: ``MailboxPolicy``'s overflow policies (a test checks they match the runtime's).
Overflow = Literal["backpressure", "drop_newest", "drop_oldest", "fail"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@attrs.frozen
class RuntimeSection:
    """``runtime:``: how the node runs (``Runtime``'s arguments, and how logs look)."""

    clock: Literal["real", "virtual"] = attrs.field(
        default="real", metadata=_doc("real: wall time; virtual: time jumps to the next timer when idle")
    )
    seed: int | None = attrs.field(default=None, metadata=_doc("seeds scheduling order, so a run replays"))
    trace: bool = attrs.field(default=False, metadata=_doc("record an event trace (Runtime.trace_digest)"))
    log_level: LogLevel = attrs.field(default="warning", metadata=_doc("least level of events logged"))
    log_format: Literal["console", "json"] = attrs.field(
        default="console", metadata=_doc("console: for people; json: one object per line, for tools")
    )

    def options(self) -> dict[str, Any]:
        """``Runtime``'s keyword arguments (``log_format`` is the log renderer's, not the runtime's)."""
        return {"clock": self.clock, "seed": self.seed, "trace": self.trace, "log_level": self.log_level}


@attrs.frozen(kw_only=True)
class _ChildKeys:
    """The keys every child has, worker or supervisor: they make its ``ChildSpec``."""

    id: str = attrs.field(metadata=_doc("unique among its supervisor's children"))
    restart: Restart = attrs.field(default="permanent", metadata=_doc("when the child is restarted"))
    shutdown: Shutdown | None = attrs.field(
        default=None, metadata=_doc("brutal_kill, infinity, or time to wait after shutdown (5s; supervisors infinity)")
    )
    significant: bool = attrs.field(default=False, metadata=_doc("its exit may shut its supervisor down"))
    name: str | None = attrs.field(default=None, metadata=_doc("register each incarnation under this name"))
    backoff: Backoff | None = attrs.field(default=None, metadata=_doc("restart after growing pauses"))
    replicas: int | None = attrs.field(
        default=None, metadata=_doc("start N copies, with ids (and names) suffixed -0 .. -(N-1)")
    )


@attrs.frozen(kw_only=True)
class WorkerNode(_ChildKeys):
    """A worker: an Actor subclass started with ``init(*args, **kwargs)``."""

    actor: ActorClass = attrs.field(metadata=_doc("the Actor subclass, as package.module:Class"))
    args: tuple[Arg, ...] = attrs.field(default=(), metadata=_doc("positional arguments of init"))
    kwargs: dict[str, Arg] = attrs.field(factory=dict, metadata=_doc("keyword arguments of init"))
    type: ChildType = attrs.field(default="worker", metadata=_doc("supervisor for an actor that supervises"))
    mailbox: MailboxPolicy | None = attrs.field(default=None, metadata=_doc("bounded mailbox (default unbounded)"))


@attrs.frozen(kw_only=True)
class SupervisorNode(_ChildKeys):
    """A supervisor over ``children``, or with ``dynamic: true`` over children started from
    ``template`` on demand."""

    strategy: Strategy | None = attrs.field(default=None, metadata=_doc("which children a restart restarts"))
    intensity: int | None = attrs.field(
        default=None, metadata=_doc("restarts allowed within period (default 1; dynamic: 3)")
    )
    period: Seconds | None = attrs.field(default=None, metadata=_doc("the intensity's window (default 5s)"))
    auto_shutdown: AutoShutdown | None = attrs.field(
        default=None, metadata=_doc("whether significant children's exits shut it down (default never)")
    )
    children: tuple[Node, ...] | None = attrs.field(default=None, metadata=_doc("started in order, stopped in reverse"))
    dynamic: bool = attrs.field(default=False, metadata=_doc("a DynamicSupervisor: children from template"))
    template: Node | None = attrs.field(default=None, metadata=_doc("the child spec a dynamic supervisor starts"))
    max_children: int | None = attrs.field(default=None, metadata=_doc("a dynamic supervisor's limit"))


Node = Union[WorkerNode, SupervisorNode]  # noqa: UP007 - a runtime value, hooked by cattrs

#: Keys that only a supervisor node has: a mapping with one of them (and no actor:) is one.
SUPERVISOR_KEYS = frozenset({"strategy", "intensity", "period", "auto_shutdown", "children", "dynamic",
                             "template", "max_children"})

#: How keys of the runtime's own classes are read where their annotation says only ``float``.
_OVERRIDES: dict[type, dict[str, Any]] = {
    Backoff: {"min": Seconds, "max": Seconds, "reset_after": Seconds},
    MailboxPolicy: {"capacity": int | None, "overflow": Overflow},
}


# cattrs resolves each class's string annotations from its module, which the front door renames
# (``neural_actors.RuntimeSection``): resolved here, where the names are known.
for _cls in (RuntimeSection, _ChildKeys, WorkerNode, SupervisorNode):
    attrs.resolve_types(_cls, globals(), {"Node": Node})

# Likewise ``MailboxPolicy``'s: one names a type of the runtime's mailbox module, not exported.
attrs.resolve_types(MailboxPolicy, localns={"Overflow": Overflow})


def field_types(cls: type) -> dict[str, Any]:
    """Each field's type as the config reads it, in field order."""
    overrides = _OVERRIDES.get(cls, {})
    hints = {} if len(overrides) == len(attrs.fields(cls)) else typing.get_type_hints(cls, globals(), {"Node": Node})
    types: dict[str, Any] = {}
    for field in attrs.fields(cls):
        kind = overrides.get(field.name, hints.get(field.name))
        if field.default is None and type(None) not in typing.get_args(kind):
            kind = kind | None
        types[field.name] = kind
    return types


_ARG = re.compile(r"    (\w+): (.*)")


def describe_fields(cls: type) -> dict[str, str]:
    """One line about each field: its ``doc`` metadata, else its entry in the docstring's Args."""
    described: dict[str, str] = {}
    name = None
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        match = _ARG.fullmatch(line)
        if match is not None:
            name = match[1]
            described[name] = match[2]
        elif name is not None and line.startswith("        "):
            described[name] += " " + line.strip()
        else:
            name = None
    described.update({f.name: f.metadata["doc"] for f in attrs.fields(cls) if "doc" in f.metadata})
    return {f.name: described[f.name] for f in attrs.fields(cls) if f.name in described}
