"""Reading a YAML config into plain values, remembering where each one was written.

PyYAML's composer gives every node its line and column, and constructs nothing: the values
are built here, from scalars, lists and mappings only, so no tag can make a config run code.
Scalars are typed by the YAML 1.2 core schema rather than PyYAML's YAML 1.1 default, so ``no``,
``on`` and ``1:30`` stay strings instead of turning into ``False``, ``True`` and ``90``.

On the way, three things of the config format happen here because they need the source:

- ``${VAR}`` and ``${VAR:-default}`` are replaced from the environment (``$${`` writes a
  literal ``${``); an unquoted scalar is typed after that, so ``seed: ${SEED:-0}`` is an int.
- A mapping with an ``include: other.yaml`` key is replaced by that file's content (a path
  relative to the including file), with the mapping's other keys laid over it; a cycle is an
  error that names the chain.
- Duplicate keys are errors (PyYAML keeps the last one silently).

Every problem is collected with its file, line and column rather than raised at the first one,
so a user sees all of them at once.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

__all__ = ["CoreResolver", "Located", "Mark", "PathKey", "Problem", "format_path", "read_yaml", "read_yaml_text"]

PathKey = tuple[str | int, ...]

#: Aliases can make a small file expand without bound ("billion laughs"); a config never
#: needs this many values.
MAX_VALUES = 100_000

_TAG = "tag:yaml.org,2002:"


@attrs.frozen
class Mark:
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@attrs.frozen
class Problem:
    """One thing wrong in a config: where, which value (its path from the top), and what."""

    mark: Mark | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.mark}: " if self.mark is not None else ""
        what = f"{self.path}: " if self.path else ""
        return f"{where}{what}{self.message}"


def format_path(path: PathKey) -> str:
    """``("tree", "children", 2, "restart")`` as ``tree.children[2].restart``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@attrs.define(eq=False)
class Located:
    """Plain values read from YAML (dicts, lists, str, int, float, bool, None), with the mark
    of each value and of each mapping key, by path."""

    data: Any = None
    values: dict[PathKey, Mark] = attrs.Factory(dict)
    keys: dict[PathKey, Mark] = attrs.Factory(dict)
    problems: list[Problem] = attrs.Factory(list)
    #: Paths whose values could not be read (an include, a variable, a scalar): what is later
    #: found wrong at or below them, or at the mapping holding them, follows from that.
    unread: set[PathKey] = attrs.Factory(set)

    def mark(self, path: PathKey, *, key: bool = False) -> Mark | None:
        """The mark of the value at ``path`` (of its key with ``key``), else of the nearest
        enclosing value that has one."""
        if key and path in self.keys:
            return self.keys[path]
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get(())

    def problem(self, path: PathKey, message: str, *, key: bool = False) -> None:
        """Record a problem about the value at ``path`` (or its key), unless it follows from a
        value that could not be read."""
        if any(path[: len(unread)] == unread or path == unread[:-1] for unread in self.unread):
            return
        self.problems.append(Problem(self.mark(path, key=key), format_path(path), message))

    def unreadable(self, path: PathKey, message: str, mark: Mark | None = None) -> None:
        """Record that the value at ``path`` could not be read, and why."""
        self.problems.append(Problem(mark or self.mark(path), format_path(path), message))
        self.unread.add(path)


class CoreResolver(BaseResolver):
    """YAML 1.2's core schema: true/false, null/~, decimal/0o/0x ints, floats with .inf/.nan."""


for _tag, _pattern, _first in (
    ("null", r"(?:~|null|Null|NULL|)\Z", ["~", "n", "N", ""]),
    ("bool", r"(?:true|True|TRUE|false|False|FALSE)\Z", list("tTfF")),
    ("int", r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z", list("-+0123456789")),
    (
        "float",
        r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z",
        list("-+.0123456789"),
    ),
):
    CoreResolver.add_implicit_resolver(_TAG + _tag, re.compile(_pattern), _first)


class _Composer(Reader, Scanner, Parser, Composer, CoreResolver):
    """PyYAML's pure-Python composer (the same messages whether or not libyaml is installed)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        CoreResolver.__init__(self)


_RESOLVER = CoreResolver()
_INTERPOLATION = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_VARIABLE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def read_yaml(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> Located:
    """Read the YAML file at ``path``, following its includes; problems are collected, not raised."""
    located = Located()
    display = os.fspath(path)
    _Reading(located, os.environ if env is None else env).file(display, Path(display), (), (), None)
    return located


def read_yaml_text(
    text: str, *, source: str = "<string>", base: str | os.PathLike[str] = ".", env: Mapping[str, str] | None = None
) -> Located:
    """Read YAML ``text``; its includes are relative to the directory ``base``."""
    located = Located()
    reading = _Reading(located, os.environ if env is None else env)
    reading.text(text, source, Path(base) / source, (), ())
    return located


@attrs.define(eq=False)
class _Reading:
    """One read of a config and the files it includes."""

    out: Located
    env: Mapping[str, str]
    count: int = 0

    def file(self, display: str, path: Path, at: PathKey, chain: tuple[Path, ...], include: Mark | None) -> Any:
        """The content of the file ``path``, read as the value at ``at``."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._fail(include, at, f"no such file: {display}", display)
        except (OSError, UnicodeDecodeError) as error:
            return self._fail(include, at, f"cannot read {display}: {error}", display)
        return self.text(text, display, path, at, chain)

    def _fail(self, include: Mark | None, at: PathKey, message: str, display: str) -> None:
        if include is None:
            self.out.problems.append(Problem(Mark(display, 1, 1), "", message))
        else:
            self.out.unreadable((*at, "include"), message, include)

    def text(self, text: str, display: str, path: Path, at: PathKey, chain: tuple[Path, ...]) -> Any:
        try:
            node = _Composer(text).get_single_node()
        except yaml.MarkedYAMLError as error:
            problem = _syntax_problem(error, display)
            self.out.unreadable(at, problem.message, problem.mark)
            return None
        if node is None:
            if not at:
                self.out.values[()] = Mark(display, 1, 1)
            return None
        chain = (*chain, path.resolve())
        value = self.node(node, display, at, chain, ())
        if not at:
            self.out.data = value
        return value

    def node(self, node: Node, file: str, at: PathKey, chain: tuple[Path, ...], stack: tuple[int, ...]) -> Any:
        self.count += 1
        mark = _mark(node, file)
        self.out.values[at] = mark
        if self.count > MAX_VALUES:
            if self.count == MAX_VALUES + 1:
                self.out.unreadable(at, f"the document expands to more than {MAX_VALUES} values (through aliases?)")
            return None
        if id(node) in stack:
            self.out.unreadable(at, "an alias refers to a value that contains it")
            return None
        stack = (*stack, id(node))
        if isinstance(node, ScalarNode):
            return self.scalar(node, at)
        if node.tag not in (_TAG + "seq", _TAG + "map"):
            self.out.unreadable(at, f"unsupported tag {node.tag}; configs hold plain values only")
            return None
        if isinstance(node, SequenceNode):
            return [self.node(item, file, (*at, i), chain, stack) for i, item in enumerate(node.value)]
        return self.mapping(node, file, at, chain, stack)

    def mapping(
        self, node: MappingNode, file: str, at: PathKey, chain: tuple[Path, ...], stack: tuple[int, ...]
    ) -> Any:
        pairs: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key_mark = _mark(key_node, file)
            if not isinstance(key_node, ScalarNode):
                message = "keys must be plain names, not lists or mappings"
                self.out.problems.append(Problem(key_mark, format_path(at), message))
                continue
            key = key_node.value
            if key in pairs:
                first = self.out.keys[(*at, key)]
                self.out.problems.append(
                    Problem(key_mark, format_path((*at, key)), f"duplicate key (first written at line {first.line})")
                )
                continue
            self.out.keys[(*at, key)] = key_mark
            pairs[key] = value_node
        if "include" not in pairs:
            return {key: self.node(value, file, (*at, key), chain, stack) for key, value in pairs.items()}
        base = self.include(pairs.pop("include"), file, at, chain)
        if not pairs:
            return base
        if base is not None and not isinstance(base, dict):
            self.out.problem((*at, "include"), "an included file with keys beside the include: must hold a mapping")
            return None
        self.out.values[at] = _mark(node, file)
        merged = dict(base or {})
        merged.update({key: self.node(value, file, (*at, key), chain, stack) for key, value in pairs.items()})
        return merged

    def include(self, node: Node, file: str, at: PathKey, chain: tuple[Path, ...]) -> Any:
        """The content of the file an ``include:`` names, relative to the including file."""
        mark = _mark(node, file)
        where = (*at, "include")
        if not (isinstance(node, ScalarNode) and node.tag == _TAG + "str" and node.value):
            self.out.unreadable(where, "expected the path of a YAML file", mark)
            return None
        target = self.interpolate(node.value, where, mark)
        display = os.path.normpath(os.path.join(os.path.dirname(file), target))
        path = chain[-1].parent / target
        if path.resolve() in chain:
            names = [*(_short(p) for p in chain), _short(path.resolve())]
            self.out.unreadable(where, f"include cycle: {' -> '.join(names)}", mark)
            return None
        return self.file(display, path, at, chain, mark)

    def scalar(self, node: ScalarNode, at: PathKey) -> Any:
        value: str = node.value
        tag = node.tag
        if "$" in value:
            implicit = node.style is None and _RESOLVER.resolve(ScalarNode, value, (True, False)) == tag
            value = self.interpolate(value, at, self.out.values[at])
            if implicit:
                tag = _RESOLVER.resolve(ScalarNode, value, (True, False))
        try:
            return _typed(tag, value)
        except ValueError as error:
            self.out.unreadable(at, str(error))
            return None

    def interpolate(self, value: str, at: PathKey, mark: Mark) -> str:
        def replace(match: re.Match[str]) -> str:
            if match[0] == "$${":
                return "${"
            body = match["body"]
            variable = _VARIABLE.fullmatch(body) if body is not None else None
            if variable is None:
                self.out.unreadable(at, "expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)", mark)
                return ""
            name, default = variable["name"], variable["default"]
            found = self.env.get(name)
            if found:
                return found
            if default is not None:
                return default
            fix = f"set it or write ${{{name}:-value}}"
            self.out.unreadable(at, f"${{{name}}} is not set and has no default; {fix}", mark)
            return ""

        return _INTERPOLATION.sub(replace, value)


def _typed(tag: str, value: str) -> Any:
    """The Python value of a scalar of core-schema type ``tag``."""
    kind = tag.removeprefix(_TAG)
    if kind == "str":
        return value
    if kind == "null":
        if value in ("", "~", "null", "Null", "NULL"):
            return None
        raise ValueError(f"{value!r} is not null")
    if kind == "bool":
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"{value!r} is not true or false")
    if kind == "int":
        try:
            return int(value, 0) if value[:2] in ("0o", "0x") else int(value)
        except (ValueError, IndexError):
            raise ValueError(f"{value!r} is not an int") from None
    if kind == "float":
        lowered = value.lower()
        if lowered.endswith(".inf"):
            return -math.inf if lowered.startswith("-") else math.inf
        if lowered == ".nan":
            return math.nan
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    raise ValueError(f"unsupported tag {tag}; configs hold plain values only")


def _mark(node: Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _short(path: Path) -> str:
    """A file's name for a message: relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


_HINTS = {
    "found character '\\t' that cannot start any token": "tabs cannot indent YAML; indent with spaces",
}


def _syntax_problem(error: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = error.problem_mark or error.context_mark
    where = Mark(file, mark.line + 1, mark.column + 1) if mark is not None else Mark(file, 1, 1)
    text = " ".join(part for part in (error.context, error.problem) if part)
    hint = _HINTS.get(error.problem or "")
    return Problem(where, "", f"YAML syntax error: {text}" + (f" ({hint})" if hint else ""))
