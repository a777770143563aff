"""The JSON Schema (draft 2020-12) of config files, generated from the format's attrs classes.

The same classes and field types the loader structures with make the schema, so an editor
completing and checking a file (VS Code's YAML extension, JetBrains IDEs) agrees with the
loader on every key, enum and default. What only the loader can check (imports, argument
binding, duplicate ids, combinations) is not in the schema.

Anywhere a mapping is, ``include: file.yaml`` may stand instead of its required keys, and a
number or boolean may be written as ``${VAR}``: both are resolved before the loader structures.
"""

from __future__ import annotations

import typing
from typing import Any, Literal

import attrs

from .config import SECTIONS, SectionRegistry
from .config_format import (
    ActorClass,
    Arg,
    Bytes,
    Node,
    RuntimeSection,
    Seconds,
    Shutdown,
    SupervisorNode,
    WorkerNode,
    describe_fields,
    field_types,
)
from .units import DURATION_UNITS, SIZE_UNITS

__all__ = ["config_json_schema"]

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
_ENV = {"type": "string", "pattern": r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}$"}
_DURATION = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": rf"^([0-9]+(\.[0-9]+)?|\.[0-9]+) ?({'|'.join(DURATION_UNITS)})$"},
        {"$ref": "#/$defs/env"},
    ],
}
_SIZE = {
    "anyOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": rf"^([0-9]+(\.[0-9]+)?|\.[0-9]+) ?({'|'.join(SIZE_UNITS)})$"},
        {"$ref": "#/$defs/env"},
    ],
}


def config_json_schema(sections: SectionRegistry = SECTIONS) -> dict[str, Any]:
    """The schema of a config file with the given registered sections (the provided ones too,
    when their layers can be imported)."""
    for name in sections.providers:
        sections.provide(name)
    classes: dict[str, type] = {}
    top = {"runtime": RuntimeSection, **sections.sections}
    properties: dict[str, Any] = {name: _schema(cls, classes) for name, cls in top.items()}
    properties["tree"] = {"$ref": "#/$defs/SupervisorNode", "description": "the root supervisor"}
    properties["include"] = {"type": "string", "description": "a YAML file laid under this one"}
    defs = {"env": _ENV, "Node": {"anyOf": [{"$ref": "#/$defs/WorkerNode"}, {"$ref": "#/$defs/SupervisorNode"}]}}
    pending = [WorkerNode, SupervisorNode]
    while pending:
        cls = pending.pop()
        if cls.__name__ in defs:
            continue
        defs[cls.__name__] = _object(cls, classes)
        pending.extend(c for c in classes.values() if c.__name__ not in defs)
    return {
        "$schema": _DRAFT,
        "$id": "https://neural-actors.invalid/config.schema.json",
        "title": "neural-actors config",
        "type": "object",
        "properties": properties,
        "anyOf": [{"required": ["tree"]}, {"required": ["include"]}],
        "additionalProperties": False,
        "$defs": defs,
    }


def _schema(kind: Any, classes: dict[str, type]) -> dict[str, Any]:
    """The schema of one field type; attrs classes are referenced and collected in ``classes``."""
    if kind is Node:
        return {"$ref": "#/$defs/Node"}
    if attrs.has(kind):
        classes[kind.__name__] = kind
        return {"$ref": f"#/$defs/{kind.__name__}"}
    origin = typing.get_origin(kind)
    arguments = typing.get_args(kind)
    if type(None) in arguments:
        rest = [a for a in arguments if a is not type(None)]
        inner = _schema(rest[0] if len(rest) == 1 else typing.Union[tuple(rest)], classes)  # noqa: UP007
        return {"anyOf": [inner, {"type": "null"}]}
    if origin is typing.Union:
        return {"anyOf": [_schema(a, classes) for a in arguments]}
    if origin is Literal:
        return {"enum": list(arguments)}
    if origin is tuple:
        return {"type": "array", "items": _schema(arguments[0], classes)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema(arguments[1], classes)}
    simple: dict[Any, dict[str, Any]] = {
        str: {"type": "string"},
        int: {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/env"}]},
        float: {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/env"}]},
        bool: {"anyOf": [{"type": "boolean"}, {"$ref": "#/$defs/env"}]},
        Seconds: _DURATION,
        Bytes: _SIZE,
        Shutdown: {"anyOf": [{"enum": ["brutal_kill", "infinity"]}, *_DURATION["anyOf"]]},
        ActorClass: {"type": "string", "pattern": r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"},
        Arg: {},
    }
    return dict(simple[kind])


def _object(cls: type, classes: dict[str, type]) -> dict[str, Any]:
    """An attrs class as an object schema: its fields, their descriptions and defaults."""
    described = describe_fields(cls)
    properties: dict[str, Any] = {}
    required = []
    for field in attrs.fields(cls):
        schema = _schema(field_types(cls)[field.name], classes)
        if field.name in described:
            schema["description"] = described[field.name]
        if field.default is attrs.NOTHING:
            required.append(field.name)
        elif isinstance(field.default, (str, int, float, bool)):
            schema["default"] = field.default
        properties[field.name] = schema
    properties["include"] = {"type": "string", "description": "a YAML file whose keys this mapping's keys override"}
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if cls.__doc__:
        schema["description"] = cls.__doc__.strip().splitlines()[0]
    if required:
        schema["anyOf"] = [{"required": required}, {"required": ["include"]}]
    return schema
