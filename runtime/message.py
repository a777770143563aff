"""Immutable messages: the ``@message`` decorator, ``freeze``, the send-time check, and
``register_immutable`` for types of your own.

Processes share messages by reference, which is only safe if nobody can change them. So every
payload is checked at send: values of types that cannot change (``SCALARS``), tuples,
frozensets and ``FrozenDict``s of those, ``@message`` instances, NamedTuples and frozen
dataclasses field by field, and numpy arrays whose memory nobody can write, now or later
(``docs/messages.md`` has the whole list and the reasons).

The check sits on the hot path. Each ``@message`` class gets a checker generated once, the way
attrs generates ``__init__``; a container of scalars is scanned at C speed
(``SCALARS.issuperset(map(type, items))``); a ``FrozenDict`` keeps a passing verdict, so it is
walked once however often it is sent. The walk recurses at most ``MAX_DEPTH`` levels and builds
the path it names in an error only when it refuses something.

Layout: the types -> ``FrozenDict`` and ``@message`` -> the check -> ``freeze`` -> arrays ->
declaring your own immutable types.
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import operator
import pathlib
import types
import uuid
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, dataclass_transform, final

import attrs
import numpy as np

from .pid import Pid, Ref

__all__ = ["MAX_DEPTH", "FrozenDict", "check_immutable", "freeze", "message", "register_immutable"]

T = TypeVar("T")

# The types ----------------------------------------------------------------------------------

#: Exact types whose instances can never change and hold nothing that can. The runtime tests
#: ``type(msg) in SCALARS`` before anything else on send. Subclasses are not in it, since a
#: subclass may add mutable state; ``register_immutable`` adds a type.
SCALARS: set[type] = {
    type(None), type(Ellipsis), bool, int, float, complex, str, bytes, range, Pid, Ref,
    datetime.date, datetime.timedelta, datetime.timezone, zoneinfo.ZoneInfo,
    decimal.Decimal, fractions.Fraction, uuid.UUID,
    pathlib.PurePosixPath, pathlib.PureWindowsPath, pathlib.PosixPath, pathlib.WindowsPath,
    # numpy's scalars own their data and have no setters; void scalars are views (see below).
    *(t for t in np.sctypeDict.values() if t not in (np.void, np.object_)),
}

#: How many containers deep the check and ``freeze`` go before refusing a payload: far deeper
#: than any sensible message, and shallow enough never to reach Python's recursion limit.
MAX_DEPTH = 100

_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels; flatten it (e.g. a tuple of rows, or an array)"

#: Steps of a path shown in an error; a deeper path ends in "...".
_PATH_STEPS = 10

#: numpy allocates on 16 bytes; the kernels' 64-byte loads run faster on a cache-line start.
_CACHE_LINE = 64


# FrozenDict and @message --------------------------------------------------------------------


@final
class FrozenDict(Mapping[Any, Any]):
    """An immutable, hashable mapping: what ``freeze`` turns a ``dict`` into.

    It remembers once it has passed the send-time check (its items cannot change, so neither
    can the verdict), which makes sending the same ``FrozenDict`` again cost O(1).
    """

    __slots__ = ("_data", "_hash", "_immutable")
    _data: dict[Any, Any]
    _hash: int | None
    _immutable: bool  # passed the send-time check

    def __init__(self, items: Mapping[Any, Any] | None = None) -> None:
        object.__setattr__(self, "_data", dict(items or {}))
        object.__setattr__(self, "_hash", None)
        object.__setattr__(self, "_immutable", False)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__: the slots cannot be set on an instance once made.
        return (FrozenDict, (self._data,))

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        value = self._hash
        if value is None:
            value = hash(frozenset(self._data.items()))
            object.__setattr__(self, "_hash", value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenDict is immutable")

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field,))
def message(cls: type[T]) -> type[T]:
    """Make ``cls`` a message: a frozen, slotted attrs class whose fields are checked at send.

    Use it like ``attrs.frozen``; fields may carry converters, validators and defaults. Type
    checkers see it as a frozen dataclass transform, so ``Add(5)`` and ``Add(n=5)`` type-check.
    Freezing happens at construction (attrs refuses attribute assignment); deep immutability
    of the field values is checked when the message is sent, naming the offending field.

    Args:
        cls: the class to turn into a message.

    Returns:
        The new frozen, slotted class.
    """
    new = attrs.frozen(cls)
    new.__neural_actors_message__ = True  # type: ignore[attr-defined]
    fields = attrs.fields(new)  # type: ignore[arg-type]
    _HANDLERS[new] = _make_checker(new, [f.name for f in fields])
    init = [(f.name, f.alias) for f in fields if f.init]
    _FREEZERS[new] = _record_freezer(new, init, attrs.evolve, complete=len(init) == len(fields))
    return new


# The check ----------------------------------------------------------------------------------


def check_immutable(value: Any, where: str = "message") -> None:
    """Raise ``TypeError`` unless ``value`` is deeply immutable.

    Args:
        value: the payload about to be sent.
        where: how to name the payload in the error when it is not a ``@message``.

    Raises:
        TypeError: naming the path to the offending value, what it is and what would work,
            e.g. ``Infer.batch[2]: list is mutable; use a tuple or freeze()``.
    """
    t = type(value)
    if t in SCALARS:
        return
    try:
        (_HANDLERS.get(t) or _check)(value, 0)
    except _Refused as refused:
        root = t.__name__ if getattr(t, "__neural_actors_message__", False) else where
        raise TypeError(f"{refused.path(root)}: {refused.reason}") from None


class _Refused(Exception):
    """Why a value was refused; the path to it is gathered while the walk unwinds, so a value
    that passes never pays for formatting one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.steps: list[str] = []

    def path(self, root: str) -> str:
        steps = self.steps[::-1]
        more = "..." if len(steps) > _PATH_STEPS else ""
        return root + "".join(steps[:_PATH_STEPS]) + more


_Walk = Callable[[Any, int], Any]

#: How to check a value, by its exact type: filled at import, by ``@message``, and on first
#: sight of any other type (``_handler_for``), so classifying a type happens once.
_HANDLERS: dict[type, _Walk] = {}


def _check(value: Any, depth: int) -> None:
    """Raise ``_Refused`` unless ``value`` is deeply immutable; ``depth`` counts the
    containers around it."""
    if depth > MAX_DEPTH:
        raise _Refused(_TOO_DEEP)
    t = type(value)
    handler = _HANDLERS.get(t)
    if handler is None:
        if t in SCALARS:
            return
        handler = _HANDLERS[t] = _handler_for(t)
    handler(value, depth)


def _visit(walk: _Walk, item: Any, depth: int, step: str, label: Any = None) -> Any:
    """``walk(item, depth)``, adding ``step`` to the path of a refusal: a format string for
    ``label``'s short repr (``"[{}]"``), or a field's ``".name"``."""
    try:
        return walk(item, depth)
    except _Refused as refused:
        refused.steps.append(step.format(_short(label)))
        raise


def _short(value: Any) -> str:
    """A repr for an error path: short, and never raising."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


# The loops below call _check inline rather than through _visit: one call less per item
# matters for a tuple of tuples, the commonest nesting.


def _check_tuple(value: tuple[Any, ...], depth: int) -> None:
    if SCALARS.issuperset(map(type, value)):
        return
    depth += 1
    for i, item in enumerate(value):
        t = type(item)
        if t in SCALARS:
            continue
        if t is tuple and depth <= MAX_DEPTH and SCALARS.issuperset(map(type, item)):
            continue  # a row of scalars, passed without two calls
        try:
            _check(item, depth)
        except _Refused as refused:
            refused.steps.append(f"[{i}]")
            raise


def _check_frozenset(value: frozenset[Any], depth: int) -> None:
    if SCALARS.issuperset(map(type, value)):
        return
    depth += 1
    for item in value:
        if type(item) not in SCALARS:
            try:
                _check(item, depth)
            except _Refused as refused:
                refused.steps.append(f"{{{_short(item)}}}")
                raise


def _check_frozen_dict(value: FrozenDict, depth: int) -> None:
    if value._immutable:
        return
    data = value._data
    if not (SCALARS.issuperset(map(type, data)) and SCALARS.issuperset(map(type, data.values()))):
        depth += 1
        for key, item in data.items():
            if type(key) not in SCALARS:
                _visit(_check, key, depth, "<key {}>", key)
            if type(item) not in SCALARS:
                try:
                    _check(item, depth)
                except _Refused as refused:
                    refused.steps.append(f"[{_short(key)}]")
                    raise
    object.__setattr__(value, "_immutable", True)


def _check_enum(value: enum.Enum, depth: int) -> None:
    # A member is global, sent by reference like a class; only its value could change.
    if type(value._value_) in SCALARS:
        return
    try:
        _check(value._value_, depth + 1)
    except _Refused:
        cls = type(value).__name__
        raise _Refused(
            f"enum member {cls}.{value._name_} has a mutable value; give {cls} immutable values "
            "(tuples, frozensets, FrozenDicts)"
        ) from None


def _check_array(value: np.ndarray, depth: int) -> None:
    reason = _unfrozen(value)
    if reason is not None:
        raise _Refused(reason)


def _check_void(value: np.void, depth: int) -> None:
    if not _void_is_frozen(value):
        raise _Refused("void scalar is a view into an array that can change; use freeze(value)")


def _check_extras(value: Any, depth: int, fields: frozenset[str]) -> None:
    """Attributes outside the fields (a ``functools.cached_property``, a ``__post_init__``'s
    ``object.__setattr__``) are state too."""
    for name, item in vars(value).items():
        if name not in fields and type(item) not in SCALARS:
            try:
                _check(item, depth)
            except _Refused:
                refused = _Refused(
                    "not a field, and holds a value that can change; keep only immutable values in it"
                )
                refused.steps.append(f".{name}")
                raise refused from None


def _accept(value: Any, depth: int) -> None:
    """A class is sent as a reference to code, as Erlang sends a module name."""


def _refuse(reason: str) -> _Walk:
    def refuse(value: Any, depth: int) -> None:
        raise _Refused(reason)

    return refuse


def _unknown(t: type) -> str:
    name = t.__name__
    return (
        f"{name} is not a known immutable type; make it a @message, or declare it with "
        f"register_immutable({name}) if its instances never change"
    )


def _make_checker(cls: type, names: list[str] | tuple[str, ...]) -> _Walk:
    """Generate ``check(value, depth)`` with one fast test per field of a record type."""
    lines = ["def check(value, depth):", "    depth += 1"]
    for name in names:
        lines += [
            f"    v = value.{name}",
            "    if type(v) not in SCALARS:",
            "        try:",
            "            walk(v, depth)",
            "        except Refused as refused:",
            f"            refused.steps.append('.{name}')",
            "            raise",
        ]
    if cls.__dictoffset__:  # instances have a __dict__, which may hold more than the fields
        lines.append("    check_extras(value, depth, FIELDS)")
    namespace: dict[str, Any] = {
        "SCALARS": SCALARS, "Refused": _Refused, "walk": _check, "check_extras": _check_extras,
        "FIELDS": frozenset(names),
    }
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from field names only
    return namespace["check"]


def _record_fields(t: type) -> tuple[str, ...] | None:
    """The fields of a NamedTuple or a frozen dataclass: records whose state they are."""
    if issubclass(t, tuple) and isinstance(getattr(t, "_fields", None), tuple):
        return t._fields  # type: ignore[attr-defined, no-any-return]
    params = getattr(t, "__dataclass_params__", None)
    if params is not None and params.frozen:
        return tuple(f.name for f in dataclasses.fields(t))
    return None


def _handler_for(t: type) -> _Walk:
    """Classify a type seen for the first time."""
    if issubclass(t, type):
        return _accept
    if issubclass(t, BaseException):
        # A crash's exit reason, which links, monitors and callers are told: exceptions are
        # shared as they are, read-only by convention (Erlang's reasons are terms; ours are
        # often the exception that ended the process).
        return _accept
    if issubclass(t, enum.Enum):
        return _check_enum
    if issubclass(t, np.void):
        return _check_void
    if issubclass(t, np.generic):
        return _accept
    if issubclass(t, np.ma.MaskedArray):
        return _refuse(
            f"{t.__name__} has a mutable mask and fill value; send its parts: "
            "freeze((value.data, np.ma.getmaskarray(value)))"
        )
    if issubclass(t, np.ndarray):
        return _refuse(
            f"{t.__name__} is an ndarray subclass, whose instances may carry mutable state; "
            "use freeze(np.asarray(value))"
        )
    if issubclass(t, _CODE_TYPES):
        return _refuse(
            f"{t.__name__} can change (its closure, defaults, attributes or bound object); "
            "send a class, or a name the receiver looks up"
        )
    fields = _record_fields(t)
    if fields is not None:
        return _make_checker(t, fields)
    return _refuse(_unknown(t))


#: Callables: code, but with state (a closure's cells, ``__defaults__``, a bound ``self``).
_CODE_TYPES = (
    types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial,
)


_HANDLERS.update({
    tuple: _check_tuple,
    frozenset: _check_frozenset,
    FrozenDict: _check_frozen_dict,
    np.ndarray: _check_array,
    np.void: _check_void,
    datetime.datetime: _make_checker(datetime.datetime, ("tzinfo",)),
    datetime.time: _make_checker(datetime.time, ("tzinfo",)),
    slice: _make_checker(slice, ("start", "stop", "step")),
    list: _refuse("list is mutable; use a tuple or freeze()"),
    dict: _refuse("dict is mutable; use freeze() (a FrozenDict)"),
    set: _refuse("set is mutable; use a frozenset or freeze()"),
    bytearray: _refuse("bytearray is mutable; use bytes or freeze()"),
    memoryview: _refuse(
        "memoryview can be released by any holder, breaking it for all; use bytes or freeze()"
    ),
})


# freeze -------------------------------------------------------------------------------------


def freeze(value: Any) -> Any:
    """Return an immutable equivalent of ``value``, copying only what must change.

    Lists and tuples become tuples, sets frozensets, dicts ``FrozenDict``s (keys frozen too),
    bytearrays and memoryviews bytes; messages, NamedTuples and frozen dataclasses get their
    fields frozen; numpy arrays that could change become read-only copies in memory nobody
    can write, starting on a 64-byte boundary (``docs/messages.md``, "Arrays"). Values already
    immutable come back as the same object.

    Args:
        value: what to freeze.

    Returns:
        An immutable value equal in content to ``value``; it passes ``check_immutable``.

    Raises:
        TypeError: naming the path to a value with no immutable equivalent (an object of an
            unknown class, an object-dtype array, an ndarray subclass, nesting deeper than
            ``MAX_DEPTH``) and what would work instead.
    """
    if type(value) in SCALARS:
        return value
    try:
        return _freeze(value, 0)
    except _Refused as refused:
        raise TypeError(f"cannot freeze {refused.path('value')}: {refused.reason}") from None


#: How to freeze a value, by its exact type; filled like ``_HANDLERS``.
_FREEZERS: dict[type, _Walk] = {}


def _freeze(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Refused(_TOO_DEEP)
    t = type(value)
    freezer = _FREEZERS.get(t)
    if freezer is None:
        if t in SCALARS:
            return value
        freezer = _FREEZERS[t] = _freezer_for(t)
    return freezer(value, depth)


def _freeze_sequence(value: list[Any] | tuple[Any, ...], depth: int) -> tuple[Any, ...]:
    if SCALARS.issuperset(map(type, value)):
        return value if type(value) is tuple else tuple(value)
    items = tuple(
        item if type(item) in SCALARS else _visit(_freeze, item, depth + 1, "[{}]", i)
        for i, item in enumerate(value)
    )
    unchanged = type(value) is tuple and all(map(operator.is_, items, value))
    return value if unchanged else items  # type: ignore[return-value]


def _freeze_set(value: set[Any] | frozenset[Any], depth: int) -> frozenset[Any]:
    if SCALARS.issuperset(map(type, value)):
        return value if type(value) is frozenset else frozenset(value)
    pairs = [
        (item, item if type(item) in SCALARS else _visit(_freeze, item, depth + 1, "{{{}}}", item))
        for item in value
    ]
    if type(value) is frozenset and all(old is new for old, new in pairs):
        return value
    return frozenset(new for _, new in pairs)


def _freeze_mapping(value: dict[Any, Any] | FrozenDict, depth: int) -> FrozenDict:
    if type(value) is FrozenDict:
        if value._immutable:
            return value
        data = value._data
    else:
        data = value
    frozen = {}
    unchanged = type(value) is FrozenDict
    for key, item in data.items():
        new_key = key if type(key) in SCALARS else _visit(_freeze, key, depth + 1, "<key {}>", key)
        new_item = item if type(item) in SCALARS else _visit(_freeze, item, depth + 1, "[{}]", key)
        unchanged = unchanged and new_key is key and new_item is item
        frozen[new_key] = new_item
    result = value if unchanged else FrozenDict(frozen)
    object.__setattr__(result, "_immutable", True)  # every item came out of freeze
    return result  # type: ignore[return-value]


def _freeze_bytes(value: bytearray | memoryview, depth: int) -> bytes:
    return bytes(value)


def _freeze_array(value: np.ndarray, depth: int) -> np.ndarray:
    if _unfrozen(value) is None:
        return value
    if value.dtype.hasobject:
        raise _Refused(_OBJECT_ARRAY)
    return _frozen_copy(value)


def _freeze_void(value: np.void, depth: int) -> np.void:
    if _void_is_frozen(value):
        return value
    if value.dtype.hasobject:
        raise _Refused(_OBJECT_ARRAY)
    return _frozen_copy(np.asarray(value))[()]  # type: ignore[return-value]


def _freeze_by_check(value: Any, depth: int) -> Any:
    """Types with no mutable form to convert are either immutable already or refused."""
    _check(value, depth)
    return value


def _record_freezer(
    cls: type, fields: Sequence[tuple[str, str]], rebuild: Callable[..., Any], *, complete: bool = True,
) -> _Walk:
    """Freeze a record's ``(attribute, init argument)`` fields, rebuilding it with
    ``rebuild(value, **changes)`` if any changed.

    State that cannot be rebuilt, fields ``__init__`` does not take (not ``complete``) and
    attributes outside the fields, is checked instead.
    """
    check = None
    if cls.__dictoffset__ or not complete:
        check = _HANDLERS.get(cls) or _handler_for(cls)

    def freeze_record(value: Any, depth: int) -> Any:
        changes = {}
        for name, argument in fields:
            old = getattr(value, name)
            if type(old) not in SCALARS:
                new = _visit(_freeze, old, depth + 1, f".{name}")
                if new is not old:
                    changes[argument] = new
        result = rebuild(value, **changes) if changes else value
        if check is not None:
            check(result, depth)
        return result

    return freeze_record


def _same_names(names: Iterable[str]) -> list[tuple[str, str]]:
    """Fields whose ``__init__`` argument is named as the attribute (all but attrs' private ones)."""
    return [(name, name) for name in names]


def _replace_slice(value: slice, **changes: Any) -> slice:
    return slice(*(changes.get(name, getattr(value, name)) for name in ("start", "stop", "step")))


def _freezer_for(t: type) -> _Walk:
    """Classify a type seen for the first time by ``freeze``."""
    fields = _record_fields(t)
    if fields is not None and issubclass(t, tuple):
        return _record_freezer(t, _same_names(fields), t._replace)  # type: ignore[attr-defined]
    if fields is not None:
        init = _same_names(f.name for f in dataclasses.fields(t) if f.init)
        return _record_freezer(t, init, dataclasses.replace, complete=len(init) == len(fields))
    if issubclass(t, np.void):
        return _freeze_void
    return _freeze_by_check


_FREEZERS.update({
    list: _freeze_sequence,
    tuple: _freeze_sequence,
    set: _freeze_set,
    frozenset: _freeze_set,
    dict: _freeze_mapping,
    FrozenDict: _freeze_mapping,
    bytearray: _freeze_bytes,
    memoryview: _freeze_bytes,
    np.ndarray: _freeze_array,
    slice: _record_freezer(slice, _same_names(("start", "stop", "step")), _replace_slice),
})


# Arrays -------------------------------------------------------------------------------------
#
# numpy lets any holder set ``flags.writeable = True`` on an array unless the array's base
# chain ends in memory that refuses writable buffers. A read-only array that owns its memory
# can always be made writable again, and so can a read-only view of one (through ``.base``);
# a read-only memoryview hands out its writable object as ``.obj``. Only ``bytes`` at the end
# of the chain holds: numpy refuses the flag, and ``.base`` exposes nothing writable. So a
# frozen array is a view of a ``bytes`` object, and the check accepts exactly those.

_OBJECT_ARRAY = (
    "object-dtype array holds references to objects that may change; use freeze(array.tolist())"
)


def _unfrozen(array: np.ndarray) -> str | None:
    """Why ``array`` could change, or None if no holder can ever write to it."""
    if array.dtype.hasobject:
        return _OBJECT_ARRAY
    if type(array.base) is bytes and not array.flags.writeable:  # freeze's own output
        return None
    node = array
    while True:
        if node.flags.writeable:
            if node is array:
                return "writable ndarray is mutable; use freeze(array)"
            return "read-only view of a writable ndarray is mutable; use freeze(array)"
        if node.flags.owndata:
            if node is array:
                return (
                    "read-only ndarray owns its memory, so any holder can make it writable again; "
                    "use freeze(array)"
                )
            return (
                "read-only view of an ndarray that owns its memory, which any holder can make "
                "writable again; use freeze(array)"
            )
        base = node.base
        if type(base) is np.ndarray:
            node = base
        elif type(base) is bytes:
            return None
        else:
            memory = "memory it does not own" if base is None else f"a {type(base).__name__}"
            return f"ndarray over {memory} may change; use freeze(array)"


def _void_is_frozen(value: np.void) -> bool:
    """A structured void scalar (a row) is a view into its array, and field assignment writes
    through to it; one without fields has nothing to assign."""
    if value.dtype.names is None and value.flags.owndata:
        return True
    base = value.base
    return not value.flags.writeable and type(base) is np.ndarray and _unfrozen(base) is None


def _frozen_copy(array: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``array`` over a new ``bytes`` object, starting on a cache line."""
    nbytes = array.nbytes
    if nbytes == 0:
        return np.ndarray(array.shape, array.dtype, buffer=b"")
    # Python code cannot write to bytes, so this one is made and filled the way C code makes
    # every bytes object: uninitialised, then written once before anyone else can see it.
    memory = _new_bytes(None, nbytes + _CACHE_LINE - 1)
    address = _bytes_data(memory)
    offset = -address % _CACHE_LINE
    whole = np.asarray(_Memory(address, len(memory)))
    whole[:offset] = 0  # the padding, so the bytes hold nothing left over from the allocator
    whole[offset + nbytes:] = 0
    whole[offset:offset + nbytes].view(array.dtype).reshape(array.shape)[...] = array
    return np.ndarray(array.shape, array.dtype, buffer=memory, offset=offset)


#: CPython's constructor of a bytes object left uninitialised, and the address of its data.
#: Prototypes of our own, so ctypes.pythonapi's shared function objects stay as they are.
_new_bytes = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t)(
    ("PyBytes_FromStringAndSize", ctypes.pythonapi)
)
_bytes_data = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(
    ("PyBytes_AsString", ctypes.pythonapi)
)


class _Memory:
    """Writable memory at an address, described to numpy by the array interface."""

    __slots__ = ("__array_interface__",)

    def __init__(self, address: int, nbytes: int) -> None:
        self.__array_interface__ = {
            "data": (address, False), "shape": (nbytes,), "typestr": "|u1", "version": 3,
        }


# Declaring your own immutable types ---------------------------------------------------------

#: Types whose instances change, and containers the check looks into: declaring them immutable
#: would let mutable payloads through.
_MUTABLE_TYPES = (list, dict, set, bytearray, memoryview, np.ndarray, np.void)
_LOOKED_INTO = (tuple, frozenset, FrozenDict)


def register_immutable(cls: type[T]) -> type[T]:
    """Declare that instances of ``cls`` never change, so messages may carry them as they are.

    Use it for value types of your own or of other libraries that the check does not know
    (``register_immutable(pendulum.DateTime)``), or as a class decorator. The check then
    accepts instances of exactly ``cls`` without looking inside, and ``freeze`` returns them
    as they are: you vouch that no holder can change one, including what it refers to.
    Subclasses are not covered (they may add state); register each one.

    Args:
        cls: the class to declare.

    Returns:
        ``cls`` itself.

    Raises:
        TypeError: ``cls`` is not a class.
        ValueError: ``cls`` is a type whose instances can change (``list``, ``ndarray``, ...)
            or one the check already looks inside (``tuple``, ``FrozenDict``, a ``@message``).
    """
    if not isinstance(cls, type):
        kind = type(cls).__name__
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise TypeError(f"register_immutable() takes a class (got {cls!r}, {article} {kind})")
    if issubclass(cls, _MUTABLE_TYPES):
        raise ValueError(f"cannot register {cls.__name__}: its instances can change")
    if cls in _LOOKED_INTO or getattr(cls, "__neural_actors_message__", False):
        raise ValueError(
            f"cannot register {cls.__name__}: the check already looks inside its instances"
        )
    SCALARS.add(cls)
    _HANDLERS.pop(cls, None)
    _FREEZERS.pop(cls, None)
    return cls
