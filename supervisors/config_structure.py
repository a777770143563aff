"""Structuring plain YAML values into the config's attrs classes with cattrs, strictly.

cattrs converts leniently by default (``int("5")``, ``str(5)``, a mapping iterated as a list);
a config must say what it means, so every hook here checks the exact type and raises
``Invalid`` with what was expected and what came. With detailed validation cattrs gathers the
errors of every field and list item and notes where each happened; ``problems`` turns those
notes into paths, and the paths into marks of the source, so one pass reports everything.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override

from neural_actors.runtime import Actor, FrozenDict

from .config_format import (
    SUPERVISOR_KEYS,
    ActorClass,
    Arg,
    Bytes,
    Node,
    Seconds,
    Shutdown,
    SupervisorNode,
    WorkerNode,
    field_types,
)
from .errors import InvalidChildSpec
from .units import DURATION_FORM, parse_duration, parse_size
from .yaml_source import Located, PathKey

__all__ = ["Invalid", "describe", "did_you_mean", "import_actor", "structure"]


class Invalid(ValueError):
    """Raised by a structuring hook: the message says what was expected and what came."""


def describe(value: Any) -> str:
    """A value as a config error shows it: strings quoted, lists and mappings by kind."""
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return repr(value)


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """`` (did you mean "x"?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _expect(kind: str, value: Any) -> Invalid:
    return Invalid(f"expected {kind}; got {describe(value)}")


def _str(value: Any, _: Any) -> str:
    if type(value) is not str:
        raise _expect("a string", value)
    return value


def _int(value: Any, _: Any) -> int:
    if type(value) is not int:
        raise _expect("an int", value)
    return value


def _float(value: Any, _: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _expect("a finite number", value)
    return value


def _bool(value: Any, _: Any) -> bool:
    if type(value) is not bool:
        raise _expect("true or false", value)
    return value


def _literal(value: Any, kind: Any) -> str:
    choices = typing.get_args(kind)
    if value not in choices or type(value) is not str:
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        raise Invalid(f"expected one of {', '.join(choices)}; got {describe(value)}{hint}")
    return value


def _seconds(value: Any, _: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise _expect(f"a duration ({DURATION_FORM})", value) from None


def _shutdown(value: Any, _: Any) -> float | str:
    if value in ("brutal_kill", "infinity"):
        return value
    try:
        return parse_duration(value)
    except ValueError:
        hint = did_you_mean(value, ("brutal_kill", "infinity")) if isinstance(value, str) else ""
        expected = "brutal_kill, infinity or a duration, as 250ms, 5s"
        raise Invalid(f"expected {expected}; got {describe(value)}{hint}") from None


def _bytes(value: Any, _: Any) -> int:
    try:
        return parse_size(value)
    except ValueError as error:
        raise Invalid(f"{error}; got {describe(value)}") from None


def import_actor(reference: str) -> type[Actor]:
    """The Actor subclass named ``package.module:Class``.

    Raises:
        Invalid: the form is wrong, the module does not import (saying why), it has no such
            class, or the class is not an Actor subclass.
    """
    module_name, colon, qualname = reference.partition(":")
    if not colon or not module_name or not qualname:
        raise Invalid(f"expected package.module:Class; got {describe(reference)}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise Invalid(f"no module named {error.name!r} (is its package installed, or on sys.path?)") from None
        raise Invalid(f"importing {module_name} failed: {type(error).__name__}: {error}") from None
    except Exception as error:  # noqa: BLE001 - any error in the user's module is reported, not raised
        raise Invalid(f"importing {module_name} failed: {type(error).__name__}: {error}") from None
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            names = [n for n in dir(module) if not n.startswith("_")]
            raise Invalid(f"module {module_name} has no {qualname!r}{did_you_mean(part, names)}")
    if not (isinstance(found, type) and issubclass(found, Actor)):
        raise Invalid(f"{reference} is not an Actor subclass (got {found!r})")
    return found


def _actor(value: Any, _: Any) -> type[Actor]:
    if type(value) is not str:
        raise _expect("package.module:Class", value)
    return import_actor(value)


def _freeze(value: Any) -> Any:
    """A YAML value made immutable: lists become tuples, mappings ``FrozenDict``."""
    if isinstance(value, list):
        return tuple(_freeze(item) for item in value)
    if isinstance(value, dict):
        return FrozenDict({key: _freeze(item) for key, item in value.items()})
    return value


def _args(value: Any, _: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _expect("a list of arguments", value)
    return _freeze(value)


def _kwargs(value: Any, _: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _expect("a mapping of keyword arguments", value)
    return {key: _freeze(item) for key, item in value.items()}


def _kind_of_node(value: Any) -> type:
    """Which class a child mapping is: a worker has ``actor:``, a supervisor its own keys."""
    if not isinstance(value, dict):
        raise _expect("a mapping (a worker with actor:, or a supervisor with children: or dynamic: true)", value)
    if "actor" in value:
        return WorkerNode
    if SUPERVISOR_KEYS & value.keys():
        return SupervisorNode
    if any(did_you_mean(key, ("actor",)) for key in value):
        return WorkerNode  # a misspelt actor: is then reported as an unknown key, with the fix
    raise Invalid("expected a worker (with actor:) or a supervisor (with children: or dynamic: true)")


def make_converter() -> cattrs.Converter:
    """The strict converter every config section is structured with."""
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
    for kind, hook in ((str, _str), (int, _int), (float, _float), (bool, _bool), (Seconds, _seconds),
                       (Shutdown, _shutdown), (Bytes, _bytes), (ActorClass, _actor)):
        converter.register_structure_hook(kind, hook)
    for kind, hook in ((tuple[Arg, ...], _args), (dict[str, Arg], _kwargs)):
        converter.register_structure_hook_func(lambda other, kind=kind: other == kind, hook)
    converter.register_structure_hook_func(lambda kind: typing.get_origin(kind) is Literal, _literal)

    def optional(value: Any, kind: Any) -> Any:
        if value is None:
            return None
        rest = tuple(arg for arg in typing.get_args(kind) if arg is not type(None))
        return converter.structure(value, rest[0] if len(rest) == 1 else Union[rest])  # noqa: UP007

    converter.register_structure_hook_func(
        lambda kind: _is_union(kind) and type(None) in typing.get_args(kind), optional
    )
    converter.register_structure_hook(Node, lambda value, _: converter.structure(value, _kind_of_node(value)))

    def nodes(value: Any, _: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _expect("a list of children", value)
        return _each(value, lambda item: converter.structure(item, Node), tuple[Node, ...])

    converter.register_structure_hook_func(lambda kind: kind == tuple[Node, ...], nodes)

    def attrs_class(cls: type) -> Callable[[Any, Any], Any]:
        structure_fn = make_dict_structure_fn(
            cls,
            converter,
            _cattrs_forbid_extra_keys=True,
            **{name: override(struct_hook=_as(converter, kind)) for name, kind in field_types(cls).items()},
        )

        def hook(value: Any, kind: Any) -> Any:
            if not isinstance(value, dict):
                raise _expect("a mapping", value)
            return structure_fn(value, kind)

        return hook

    converter.register_structure_hook_factory(attrs.has, attrs_class)
    return converter


def _as(converter: cattrs.Converter, kind: Any) -> Callable[[Any, Any], Any]:
    return lambda value, _: converter.structure(value, kind)


def _is_union(kind: Any) -> bool:
    return typing.get_origin(kind) in (Union, types.UnionType)


def _each(values: list[Any], structure_one: Callable[[Any], Any], kind: Any) -> tuple[Any, ...]:
    """Structure every item, gathering the failures with their indices as cattrs does."""
    items: list[Any] = []
    errors: list[Exception] = []
    for index, value in enumerate(values):
        try:
            items.append(structure_one(value))
        except Exception as error:  # noqa: BLE001 - gathered and reported with the item's path
            error.add_note(IterableValidationNote(f"Structuring {kind} @ index {index}", index, kind))
            errors.append(error)
    if errors:
        raise IterableValidationError(f"While structuring {kind}", errors, kind)
    return tuple(items)


def structure(converter: cattrs.Converter, source: Located, value: Any, kind: type, at: PathKey) -> Any:
    """``value`` structured as ``kind``; on failure every problem is added to ``source`` (with
    the path below ``at``) and None is returned."""
    try:
        return converter.structure(value, kind)
    except Exception as error:  # noqa: BLE001 - every failure becomes a problem with its path
        _report(source, error, at)
        return None


def _report(source: Located, error: BaseException, at: PathKey) -> None:
    if isinstance(error, (ClassValidationError, IterableValidationError)):
        for inner in error.exceptions:
            _report(source, inner, (*at, *_step(inner)))
    elif isinstance(error, ForbiddenExtraKeysError):
        known = [f.name for f in attrs.fields(error.cl)]
        for key in sorted(error.extra_fields):
            hint = did_you_mean(key, known)
            message = f"unknown key{hint}" if hint else f"unknown key; expected one of {', '.join(known)}"
            source.problem((*at, key), message, key=True)
    elif isinstance(error, KeyError):
        source.problem(at[:-1], f'missing required key "{at[-1]}"')
    elif isinstance(error, InvalidChildSpec):
        field = error.field.rsplit(".", 1)[-1]
        source.problem((*at, field), f"{error.reason}; got {describe(error.value)}")
    elif isinstance(error, (Invalid, ValueError, TypeError)):
        source.problem(at, str(error))
    else:
        raise error


def _step(error: BaseException) -> PathKey:
    """The key or index cattrs noted on ``error``: where below its parent it happened."""
    for note in getattr(error, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            return (note.name,)
        if isinstance(note, IterableValidationNote):
            return (note.index,)
    return ()
