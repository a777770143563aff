"""Immutable messages: the ``@message`` decorator, ``freeze`` and the send-time check.

Processes share messages by reference, which is only safe if nobody can change them. So every
payload is checked at send: builtins that cannot change, tuples and frozensets of those,
``@message`` instances, and numpy arrays that are read-only down their whole base chain (a
read-only view of a writable array still changes under the receiver's feet).

The check sits on the hot path, so each ``@message`` class gets a checker generated once, the
way attrs generates ``__init__``: per field one ``type(v) in SCALARS`` test, and the slow
recursive walk only for fields holding containers or arrays.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, final

import attrs
import numpy as np

from .pid import Pid, Ref

__all__ = ["FrozenDict", "check_immutable", "freeze", "is_message_class", "message"]

T = TypeVar("T")

#: Types whose instances can never change (subclasses are checked separately: a subclass may
#: add mutable state).
SCALARS: frozenset[type] = frozenset(
    {type(None), bool, int, float, complex, str, bytes, Pid, Ref, range, type(Ellipsis)}
)

_CHECKERS: dict[type, Callable[[Any], None]] = {}


@final
class FrozenDict(Mapping[Any, Any]):
    """An immutable, hashable mapping: what ``freeze`` turns a ``dict`` into."""

    __slots__ = ("_data", "_hash")

    def __init__(self, items: Mapping[Any, Any] | None = None) -> None:
        object.__setattr__(self, "_data", dict(items or {}))
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(frozenset(self._data.items())))
        return self._hash

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenDict is immutable")

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def message(cls: type[T]) -> type[T]:
    """Make ``cls`` a message: a frozen, slotted attrs class whose fields are checked at send.

    Use it like ``attrs.frozen``; fields may carry converters, validators and defaults.
    Freezing happens at construction (attrs refuses attribute assignment); deep immutability
    of the field values is checked when the message is sent, naming the offending field.

    Args:
        cls: the class to turn into a message.

    Returns:
        The new frozen, slotted class.
    """
    new = attrs.frozen(cls)
    new.__neural_actors_message__ = True  # type: ignore[attr-defined]
    _CHECKERS[new] = _make_checker(new)
    return new


def is_message_class(cls: type) -> bool:
    """Tell whether ``cls`` was made with ``@message``."""
    return cls in _CHECKERS


def check_immutable(value: Any, where: str = "message") -> None:
    """Raise ``TypeError`` unless ``value`` is deeply immutable.

    Args:
        value: the payload about to be sent.
        where: how to name the payload in the error when it is not a ``@message``.

    Raises:
        TypeError: naming the field path, e.g. ``Infer.batch[2]: list is mutable; use a tuple
            or freeze()``.
    """
    t = type(value)
    if t in SCALARS:
        return
    checker = _CHECKERS.get(t)
    if checker is not None:
        checker(value)
    else:
        _check_value(value, where)


def freeze(value: Any) -> Any:
    """Return an immutable equivalent of ``value``, copying only what must change.

    Lists and tuples become tuples, sets frozensets, dicts ``FrozenDict``, bytearrays bytes,
    writable numpy arrays read-only copies (nobody else holds the copy, so nobody can write
    to it), and messages get their fields frozen. Values already immutable come back as they
    are.

    Args:
        value: what to freeze.

    Returns:
        An immutable value equal in content to ``value``.

    Raises:
        TypeError: for objects with no immutable equivalent (an arbitrary class instance, an
            object-dtype array).
    """
    t = type(value)
    if t in SCALARS or isinstance(value, (enum.Enum, type)):
        return value
    if t in (list, tuple):
        items = tuple(freeze(v) for v in value)
        unchanged = t is tuple and all(a is b for a, b in zip(items, value))
        return value if unchanged else items
    if t in (set, frozenset):
        members = frozenset(freeze(v) for v in value)
        return value if t is frozenset and members == value else members
    if t in (dict, FrozenDict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if t is bytearray or t is memoryview:
        return bytes(value)
    if isinstance(value, np.ndarray):
        return _freeze_array(value)
    if isinstance(value, np.generic):
        return value
    if t in _CHECKERS:
        changes = {}
        for field in attrs.fields(t):
            old = getattr(value, field.name)
            new = freeze(old)
            if new is not old:
                changes[field.name] = new
        return attrs.evolve(value, **changes) if changes else value
    raise TypeError(f"cannot freeze {t.__name__}: make it a @message or send its fields")


def _freeze_array(array: np.ndarray) -> np.ndarray:
    if array.dtype.hasobject:
        raise TypeError("cannot freeze an object-dtype array: its elements may change")
    if _array_is_frozen(array):
        return array
    frozen = array.copy()
    frozen.flags.writeable = False
    return frozen


def _array_is_frozen(array: np.ndarray) -> bool:
    """True if no array in the base chain can be written through."""
    node: Any = array
    while node is not None:
        if isinstance(node, np.ndarray):
            if node.flags.writeable:
                return False
        elif isinstance(node, (bytearray, memoryview)) and not getattr(node, "readonly", False):
            return False
        node = getattr(node, "base", None)
    return True


def _check_value(value: Any, path: str) -> None:
    """The slow, recursive walk; ``path`` names the value in the error."""
    t = type(value)
    # A class is sent as a reference to code, like a module name in Erlang; an exception is a
    # crash's exit reason, which links and monitors must be told (read-only by convention).
    if t in SCALARS or isinstance(value, (enum.Enum, type, BaseException)):
        return
    if t is tuple:
        for i, item in enumerate(value):
            if type(item) not in SCALARS:
                _check_value(item, f"{path}[{i}]")
        return
    if t is frozenset:
        for item in value:
            if type(item) not in SCALARS:
                _check_value(item, f"{path}{{{item!r}}}")
        return
    if t is FrozenDict:
        for key, item in value.items():
            _check_value(item, f"{path}[{key!r}]")
        return
    checker = _CHECKERS.get(t)
    if checker is not None:
        checker(value, path)
        return
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{path}: object-dtype array may change; send a numeric array")
        if not _array_is_frozen(value):
            raise TypeError(f"{path}: writable ndarray is mutable; use freeze(array)")
        return
    if isinstance(value, np.generic):
        return
    if t in (list, dict, set, bytearray):
        raise TypeError(f"{path}: {t.__name__} is mutable; use a tuple or freeze()")
    raise TypeError(
        f"{path}: {t.__name__} is not a known immutable type; make it a @message or freeze() it"
    )


def _make_checker(cls: type) -> Callable[..., None]:
    """Generate ``check(msg, path=<class name>)`` with one fast test per field."""
    names = [field.name for field in attrs.fields(cls)]
    lines = [f"def check(msg, path={cls.__name__!r}):"]
    for name in names:
        lines.append(f"    v = msg.{name}")
        lines.append(f"    if type(v) not in SCALARS: check_value(v, path + '.{name}')")
    if not names:
        lines.append("    pass")
    namespace: dict[str, Any] = {"SCALARS": SCALARS, "check_value": _check_value}
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from field names only
    return namespace["check"]
