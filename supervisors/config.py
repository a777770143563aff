"""Supervision trees in YAML: load a config into the objects the Python API builds, and back.

A config file has a ``runtime:`` section (``Runtime``'s arguments) and a ``tree:`` (the root
supervisor, its children, theirs...); other layers add sections by registering them here
(``register_section``). Loading reads the YAML with positions (``yaml_source.py``), structures it
with cattrs (``config_structure.py``) into the format's classes (``config_format.py``), checks
what depends on more than one key, and builds ``ChildSpec`` objects: a loaded tree is the root's
``ChildSpec``, ``start=(Supervisor, (flags, children))``, exactly what one would write by hand.

Everything is checked before anything starts, and every problem is reported at once in one
``ConfigError``, each with its file, line, column and path. The only code a config runs is the
import of the actor classes it names.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import attrs
import yaml

from neural_actors.runtime import FrozenDict, MailboxPolicy, Pid, Runtime

from .backoff import Backoff
from .child_spec import ChildSpec, SupervisorFlags
from .config_format import RuntimeSection, SupervisorNode, WorkerNode
from .config_structure import describe, did_you_mean, import_actor, make_converter, structure
from .dynamic import DynamicSupervisor
from .errors import ConfigError, InvalidChildSpec
from .supervisor import Supervisor
from .units import format_duration
from .yaml_source import (
    CoreResolver,
    Located,
    PathKey,
    Problem,
    format_path,
    read_yaml,
    read_yaml_text,
)

__all__ = [
    "SECTIONS",
    "Config",
    "SectionRegistry",
    "check_config",
    "dump_config",
    "dump_tree",
    "load_config",
    "load_tree",
    "loads_config",
    "register_section",
    "start_tree",
]

_CONVERTER = make_converter()

#: Whether ``ChildSpec`` can give a child a bounded mailbox (``mailbox:`` needs it).


@attrs.define
class SectionRegistry:
    """The top-level sections a config may have beyond ``runtime:`` and ``tree:``.

    A layer that reads its own section registers an attrs class for it; the loader structures the
    section into that class with the same strict rules (durations, sizes, unknown keys...) and
    puts the result in ``Config.sections``. Reserved names are refused with "not supported
    yet" until registered, so a config written for a later version fails clearly. A provided
    name is read by an optional layer, whose section class (``module:Class``) is imported and
    registered when a config has the section; if it cannot be imported, the config says what
    to install.
    """

    sections: dict[str, type] = attrs.Factory(dict)
    reserved: dict[str, str] = attrs.Factory(dict)  # name -> the layer that will read it
    providers: dict[str, tuple[str, str]] = attrs.Factory(
        lambda: {"nodes": ("neural_actors.nodes.config:NodesSection", "neural-actors[ray]")}
    )

    def register(self, name: str, section: type) -> None:
        """Read ``name:`` sections into the attrs class ``section``.

        Raises:
            ValueError: ``name`` is already registered or built in, or ``section`` is not an
                attrs class.
        """
        if name in ("runtime", "tree", "include") or name in self.sections:
            raise ValueError(f"config section {name!r} is already defined")
        if not attrs.has(section):
            raise ValueError(f"a config section must be an attrs class (got {section!r})")
        self.sections[name] = section

    def provide(self, name: str) -> str | None:
        """Register the provided section ``name``, importing the layer that reads it.

        Returns:
            ``None`` once the section is registered; else why it could not be.
        """
        if name in self.sections:
            return None
        target, extra = self.providers[name]
        module, _, attribute = target.partition(":")
        try:
            section = getattr(importlib.import_module(module), attribute)
        except ImportError as error:
            return f"needs {module}, which could not be imported ({error}); install it with: pip install '{extra}'"
        self.register(name, section)
        return None

    def known(self) -> list[str]:
        """The names of the sections a config may have, built-in ones first."""
        return ["runtime", "tree", *self.sections, *(name for name in self.providers if name not in self.sections)]


#: The sections every load uses unless given another registry.
SECTIONS = SectionRegistry()


def register_section(name: str, section: type) -> None:
    """Register a top-level config section globally (see ``SectionRegistry.register``)."""
    SECTIONS.register(name, section)


@attrs.frozen
class Config:
    """A loaded config.

    Attributes:
        runtime: the ``runtime:`` section; ``runtime.options()`` gives ``Runtime``'s arguments.
        tree: the root supervisor's ``ChildSpec``; start it with ``start_tree``.
        sections: each registered section present in the file, by name.
        root: the tree as written (replicas not expanded), for drawing it.
    """

    runtime: RuntimeSection
    tree: ChildSpec
    sections: FrozenDict = FrozenDict({})
    root: SupervisorNode | None = attrs.field(default=None, eq=False, repr=False)


def load_config(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None, sections: SectionRegistry = SECTIONS
) -> Config:
    """Load and check the config file at ``path``.

    Args:
        path: the YAML file; includes are relative to it.
        env: the variables ``${VAR}`` reads (default: the process environment).
        sections: the registered sections a file may have.

    Returns:
        The config; its ``tree`` is ready for ``start_tree``.

    Raises:
        ConfigError: listing every problem of the file and of the files it includes.
    """
    return _load(read_yaml(path, env=env), sections)


def loads_config(
    text: str,
    *,
    source: str = "<string>",
    base: str | os.PathLike[str] = ".",
    env: Mapping[str, str] | None = None,
    sections: SectionRegistry = SECTIONS,
) -> Config:
    """Load a config from ``text``, named ``source`` in errors, its includes relative to ``base``.

    Raises:
        ConfigError: listing every problem.
    """
    return _load(read_yaml_text(text, source=source, base=base, env=env), sections)


def load_tree(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> ChildSpec:
    """The root ``ChildSpec`` of the config file at ``path``. Raises ``ConfigError``."""
    return load_config(path, env=env).tree


def check_config(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None, sections: SectionRegistry = SECTIONS
) -> tuple[Problem, ...]:
    """Every problem of the config file at ``path`` (empty if it loads)."""
    try:
        load_config(path, env=env, sections=sections)
    except ConfigError as error:
        return error.problems
    return ()


async def start_tree(runtime: Runtime, tree: ChildSpec) -> Pid:
    """Start the root supervisor ``tree`` (a loaded config's ``tree``) as a top-level process.

    Raises:
        StartFailed: a child failed to start; the reason names it.
    """
    options: dict[str, Any] = {"kwargs": tree.kwargs, "name": tree.name, "shutdown": tree.shutdown_timeout}
    return await runtime.start(tree.actor, *tree.args, **options)


# Loading -----------------------------------------------------------------------------------


def _load(source: Located, sections: SectionRegistry) -> Config:
    data = source.data
    if not source.problems and not isinstance(data, dict):
        source.problem((), f"expected a mapping with tree: (and runtime:); got {describe(data)}")
    config = None
    if isinstance(data, dict):
        config = _sections(source, data, sections)
    if source.problems or config is None:
        raise ConfigError(sorted(source.problems, key=_position))
    return config


def _position(problem: Problem) -> tuple[str, int, int]:
    mark = problem.mark
    return ("", 0, 0) if mark is None else (mark.file, mark.line, mark.column)


def _sections(source: Located, data: dict[str, Any], registry: SectionRegistry) -> Config | None:
    known = registry.known()
    for key in data:
        if key in registry.providers and (why := registry.provide(key)) is not None:
            source.problem((key,), why, key=True)
        if key in known:
            continue
        if key in registry.reserved:
            source.problem((key,), f"not supported yet: {registry.reserved[key]} will read this section", key=True)
        else:
            hint = did_you_mean(key, known)
            message = f"unknown section{hint}" if hint else f"unknown section; expected one of {', '.join(known)}"
            source.problem((key,), message, key=True)
    runtime = structure(_CONVERTER, source, data.get("runtime", {}), RuntimeSection, ("runtime",))
    extra = {name: structure(_CONVERTER, source, data[name], cls, (name,))
             for name, cls in registry.sections.items() if name in data}
    if "tree" not in data:
        source.problem((), 'missing required key "tree"')
        return None
    # The root is a supervisor unless it names an actor (then it is refused as a worker).
    tree = data["tree"]
    kind = WorkerNode if isinstance(tree, dict) and "actor" in tree else SupervisorNode
    root = structure(_CONVERTER, source, tree, kind, ("tree",))
    if isinstance(root, WorkerNode):
        source.problem(("tree",), "the root must be a supervisor (with children: or dynamic: true), not a worker")
        return None
    if root is None:
        return None
    spec = _Builder(source).node(root, ("tree",), template=False)
    if runtime is None or spec is None:
        return None
    return Config(runtime, spec, FrozenDict(extra), root)


_UNEXPECTED_KEYWORD = re.compile(r"got an unexpected keyword argument '(\w+)'")


@attrs.define
class _Builder:
    """Turns structured nodes into ``ChildSpec`` objects, recording what cannot be built."""

    source: Located

    def children(
        self, nodes: Sequence[WorkerNode | SupervisorNode], at: PathKey, flags: SupervisorFlags | None
    ) -> tuple[ChildSpec, ...]:
        specs: list[ChildSpec] = []
        where: dict[Hashable, PathKey] = {}
        for index, node in enumerate(nodes):
            path = (*at, index)
            if node.significant and flags is not None and flags.auto_shutdown == "never":
                self.source.problem(
                    (*path, "significant"),
                    "a significant child needs its supervisor's auto_shutdown to be any_significant or "
                    "all_significant (it is never)",
                )
            spec = self.node(node, path, template=False)
            if spec is None:
                continue
            for replica in _replicas(spec, node.replicas):
                if replica.id in where:
                    first = format_path(where[replica.id])
                    self.source.problem((*path, "id"), f"{describe(replica.id)} is already the id of {first}")
                else:
                    where[replica.id] = path
                    specs.append(replica)
        return tuple(specs)

    def node(self, node: WorkerNode | SupervisorNode, at: PathKey, *, template: bool) -> ChildSpec | None:
        if node.replicas is not None and (node.replicas < 1 or template or len(at) == 1):
            reason = "expected an int >= 1" if node.replicas < 1 else "only a child of a supervisor can have replicas"
            self.source.problem((*at, "replicas"), f"{reason}; got {describe(node.replicas)}")
        if isinstance(node, WorkerNode):
            return self.worker(node, at, template)
        if node.dynamic:
            return self.dynamic(node, at)
        return self.supervisor(node, at)

    def worker(self, node: WorkerNode, at: PathKey, template: bool) -> ChildSpec | None:
        self.bind(node, at, partial=template)
        start = (node.actor, node.args, node.kwargs) if node.kwargs else (node.actor, node.args)
        return self.spec(at, id=node.id, start=start, restart=node.restart, shutdown=node.shutdown, type=node.type,
                         significant=node.significant, backoff=node.backoff, name=node.name, mailbox=node.mailbox)

    def supervisor(self, node: SupervisorNode, at: PathKey) -> ChildSpec | None:
        for key in ("template", "max_children"):
            if getattr(node, key) is not None:
                self.source.problem(
                    (*at, key), "only a dynamic supervisor has this key; add dynamic: true or remove it"
                )
        given = {key: getattr(node, key) for key in ("strategy", "intensity", "period", "auto_shutdown")}
        flags = self.make(SupervisorFlags, at, **{k: v for k, v in given.items() if v is not None})
        children = self.children(node.children or (), (*at, "children"), flags)
        if flags is None:
            return None
        return self.spec(at, id=node.id, start=(Supervisor, (flags, children)), type="supervisor", **_child_keys(node))

    def dynamic(self, node: SupervisorNode, at: PathKey) -> ChildSpec | None:
        for key, why in (("children", "starts its children from template:"), ("strategy", "is always one_for_one"),
                         ("auto_shutdown", "has no significant children")):
            if getattr(node, key) is not None:
                self.source.problem((*at, key), f"a dynamic supervisor {why}; remove {key}:")
        if node.max_children is not None and node.max_children < 0:
            self.source.problem((*at, "max_children"), f"expected an int >= 0; got {node.max_children}")
        if node.template is None:
            self.source.problem(at, 'missing required key "template" (dynamic: true starts its children from it)')
            return None
        where = (*at, "template")
        if node.template.significant:
            self.source.problem((*where, "significant"), "a dynamic supervisor's children cannot be significant")
        if node.template.name is not None:
            self.source.problem(
                (*where, "name"), "a dynamic supervisor's children cannot have a name: they would all take it"
            )
        template = self.node(node.template, where, template=True)
        if template is None:
            return None
        limits = ("max_children", "intensity", "period")
        kwargs = {key: getattr(node, key) for key in limits if getattr(node, key) is not None}
        start = (DynamicSupervisor, (template,), kwargs) if kwargs else (DynamicSupervisor, (template,))
        return self.spec(at, id=node.id, start=start, type="supervisor", **_child_keys(node))

    def bind(self, node: WorkerNode, at: PathKey, *, partial: bool) -> None:
        """Record a problem unless ``args`` and ``kwargs`` fit the actor's ``init``."""
        try:
            signature = inspect.signature(node.actor.init)
        except (TypeError, ValueError):  # a signature Python cannot read: the start will tell
            return
        parameters = list(signature.parameters.values())[1:]  # self
        signature = signature.replace(parameters=parameters)
        try:
            (signature.bind_partial if partial else signature.bind)(*node.args, **node.kwargs)
        except TypeError as error:
            shown = ", ".join(["self", *(str(p.replace(annotation=p.empty)) for p in parameters)])
            keyword = _UNEXPECTED_KEYWORD.search(str(error))
            where = (*at, "kwargs", keyword[1]) if keyword else (*at, "args") if node.args else (*at, "actor")
            self.source.problem(
                where, f"{node.actor.__qualname__}.init({shown}) does not take these arguments: {error}",
                key=keyword is not None,
            )

    def spec(self, at: PathKey, **fields: Any) -> ChildSpec | None:
        return self.make(ChildSpec, at, **fields)

    def make(self, cls: type, at: PathKey, **fields: Any) -> Any:
        """``cls(**fields)``, or None with the class's own complaint recorded at its key."""
        try:
            return cls(**fields)
        except InvalidChildSpec as error:
            self.source.problem((*at, error.field.rsplit(".", 1)[-1]), f"{error.reason}; got {describe(error.value)}")
            return None


def _child_keys(node: SupervisorNode) -> dict[str, Any]:
    return {"restart": node.restart, "shutdown": node.shutdown, "significant": node.significant,
            "backoff": node.backoff, "name": node.name}


def _replicas(spec: ChildSpec, count: int | None) -> list[ChildSpec]:
    if count is None or count < 1:
        return [spec]
    return [
        attrs.evolve(spec, id=f"{spec.id}-{i}", name=None if spec.name is None else f"{spec.name}-{i}")
        for i in range(count)
    ]


# Dumping -----------------------------------------------------------------------------------


class _Dumper(yaml.emitter.Emitter, yaml.serializer.Serializer, yaml.representer.SafeRepresenter, CoreResolver):
    """PyYAML's safe dumper, quoting by the same core schema the loader reads with."""

    def __init__(self, stream: Any, **options: Any) -> None:
        yaml.emitter.Emitter.__init__(self, stream, allow_unicode=True, width=100)
        yaml.serializer.Serializer.__init__(self)
        yaml.representer.SafeRepresenter.__init__(self, default_flow_style=None, sort_keys=False)
        CoreResolver.__init__(self)


def dump_tree(tree: ChildSpec) -> str:
    """The YAML of a config whose ``tree:`` is ``tree``; ``load_config`` reads it back equal.

    Raises:
        ValueError: something in ``tree`` has no YAML form (an id that is not a string, an
            argument that is not plain data, a class that cannot be imported by its name),
            naming where it is.
    """
    return _dump({"tree": _node(tree, ("tree",))})


def dump_config(config: Config) -> str:
    """The YAML of ``config``: its runtime section (the keys that differ from the defaults),
    its registered sections and its tree. Raises ``ValueError`` as ``dump_tree`` does."""
    document: dict[str, Any] = {}
    runtime = _changed(config.runtime, RuntimeSection)
    if runtime:
        document["runtime"] = runtime
    for name, section in config.sections.items():
        document[name] = _changed(section, type(section))
    document["tree"] = _node(config.tree, ("tree",))
    return _dump(document)


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(_escaped(document), Dumper=_Dumper)


def _escaped(value: Any) -> Any:
    """Every string value with ``${`` written ``$${``, so that loading does not substitute it."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    return value


def _node(spec: ChildSpec, at: PathKey) -> dict[str, Any]:
    if type(spec.id) is not str:
        raise ValueError(f"{format_path((*at, 'id'))}: ids must be strings to be written as YAML (got {spec.id!r})")
    node: dict[str, Any] = {"id": spec.id}
    if spec.actor is Supervisor and spec.type == "supervisor" and len(spec.args) == 2 and not spec.kwargs:
        flags, children = spec.args
        node.update(_child(spec, SupervisorNode))
        node.update(_changed(flags, SupervisorFlags))
        # Always written, even empty: a node without children: or other supervisor keys is a worker.
        node["children"] = [_node(child, (*at, "children", i)) for i, child in enumerate(children)]
        return node
    if spec.actor is DynamicSupervisor and spec.type == "supervisor" and len(spec.args) == 1:
        node.update(_child(spec, SupervisorNode))
        node["dynamic"] = True
        node["template"] = _node(spec.args[0], (*at, "template"))
        node.update({key: _plain(value, (*at, key)) for key, value in spec.kwargs.items()})
        return node
    reference = f"{spec.actor.__module__}:{spec.actor.__qualname__}"
    try:
        same = import_actor(reference) is spec.actor
    except ValueError:
        same = False
    if not same:
        raise ValueError(f"{format_path((*at, 'actor'))}: {spec.actor!r} cannot be imported as {reference}")
    node["actor"] = reference
    if spec.args:
        node["args"] = _plain(spec.args, (*at, "args"))
    if spec.kwargs:
        node["kwargs"] = _plain(spec.kwargs, (*at, "kwargs"))
    node.update(_child(spec, WorkerNode))
    return node


def _child(spec: ChildSpec, kind: type) -> dict[str, Any]:
    """The child keys of ``spec`` that differ from their defaults, as the node class orders them."""
    defaults = attrs.fields_dict(ChildSpec)
    keys = [name for name in attrs.fields_dict(kind) if name in defaults and name not in ("id", "start")]
    out: dict[str, Any] = {}
    for key in keys:
        value = getattr(spec, key)
        if value == defaults[key].default:
            continue
        if key == "shutdown" and not isinstance(value, str):
            value = format_duration(value)
        elif isinstance(value, (Backoff, MailboxPolicy)):
            value = _changed(value, type(value))
        out[key] = value
    return out


#: Fields of the runtime's classes that a config writes as durations.
_SECONDS = {Backoff: ("min", "max", "reset_after"), SupervisorFlags: ("period",)}


def _changed(record: Any, cls: type) -> dict[str, Any]:
    """The fields of the attrs instance ``record`` that differ from ``cls``'s defaults."""
    out: dict[str, Any] = {}
    for field in attrs.fields(cls):
        value = getattr(record, field.name)
        if field.default is not attrs.NOTHING and value == field.default:
            continue
        if field.name in _SECONDS.get(cls, ()) and _is_number(value):
            value = format_duration(value)
        out[field.name] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any, at: PathKey) -> Any:
    """``value`` as plain YAML data: tuples as lists, FrozenDicts as mappings."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, tuple):
        return [_plain(item, (*at, i)) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        if not all(type(key) is str for key in value):
            raise ValueError(f"{format_path(at)}: mapping keys must be strings to be written as YAML")
        return {key: _plain(item, (*at, key)) for key, item in value.items()}
    raise ValueError(f"{format_path(at)}: {value!r} has no YAML form; arguments must be plain data")
