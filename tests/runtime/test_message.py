"""Immutable messages: the send-time check, its error paths, ``freeze`` and ``register_immutable``."""

import dataclasses
import datetime as dt
import decimal
import enum
import fractions
import functools
import importlib
import pathlib
import uuid
import zoneinfo
from pathlib import Path
from typing import NamedTuple

import attrs
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from neural_actors.runtime import (
    FrozenDict,
    Pid,
    Ref,
    check_immutable,
    freeze,
    message,
    register_immutable,
)


@message
class Infer:
    batch: object
    tag: str = ""


@message
class Outer:
    inner: object


class Color(enum.Enum):
    RED = 1
    SHADES = (1, 2)


class Rows(enum.Enum):
    FIRST = [1, 2]


class Point(NamedTuple):
    x: object
    y: object


@dataclasses.dataclass(frozen=True)
class Span:
    start: object
    stop: object


@dataclasses.dataclass
class Box:
    content: object


class Bag:
    def __repr__(self) -> str:
        return "Bag()"


class Tagged(np.ndarray):
    """An ndarray subclass whose instances carry a ``__dict__``."""


class ShiftedZone(dt.tzinfo):
    """A tzinfo subclass: arbitrary user code, not known to be immutable."""

    def utcoffset(self, when: object) -> dt.timedelta:
        return dt.timedelta(hours=1)


def nested_tuple(levels: int) -> tuple:
    """``levels`` tuples, each the only item of the one around it."""
    value: tuple = ()
    for _ in range(levels):
        value = (value,)
    return value


# The check --------------------------------------------------------------------------------


def test_scalars_and_nested_immutables_pass() -> None:
    """Builtins, enums, pids, refs, tuples, frozensets and messages are accepted."""
    check_immutable(Infer((1, 2.0, "x", b"y", None, True, 3j, Color.RED, Pid(0, 1, 2), Ref(0, 1))))
    check_immutable(Infer(frozenset({1, (2, 3)})))
    check_immutable(Outer(Infer((1,))))


def test_list_in_tuple_is_named_by_path() -> None:
    """A list deep in a tuple is rejected with the class, field and index."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer((1, 2, [3])))

    assert "Infer.batch[2]: list is mutable; use a tuple or freeze()" == str(info.value)


def test_nested_message_field_path() -> None:
    """The path runs through nested messages."""
    with pytest.raises(TypeError) as info:
        check_immutable(Outer(Infer({"a": 1})))

    assert "Outer.inner.batch: dict is mutable; use freeze() (a FrozenDict)" == str(info.value)


def test_bare_payloads_are_checked_too() -> None:
    """Payloads that are not messages are checked, named by ``where``."""
    check_immutable((1, "a"))
    with pytest.raises(TypeError) as info:
        check_immutable(({1},), where="payload")

    assert "payload[0]: set is mutable; use a frozenset or freeze()" == str(info.value)


def test_messages_are_frozen() -> None:
    """Assigning a field raises."""
    msg = Infer((1,))
    with pytest.raises(AttributeError):
        msg.tag = "x"  # type: ignore[misc]


def test_unknown_class_is_rejected_with_fixes_that_work() -> None:
    """An arbitrary object is refused, and the error names the two fixes that do work."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(Bag()))

    assert (
        "Infer.batch: Bag is not a known immutable type; make it a @message, or declare it "
        "with register_immutable(Bag) if its instances never change"
    ) == str(info.value)


@pytest.mark.parametrize(
    "value", [len, lambda: 1, [].append, functools.partial(int, "1")], ids=["builtin", "lambda", "bound", "partial"]
)
def test_callables_are_refused_with_what_to_send_instead(value: object) -> None:
    """A function has state (closure, defaults, a bound object); a class or a name is sent instead."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(value))

    name = type(value).__name__
    assert (
        f"Infer.batch: {name} can change (its closure, defaults, attributes or bound object); "
        "send a class, or a name the receiver looks up"
    ) == str(info.value)


def test_subclass_of_an_immutable_type_is_refused() -> None:
    """A subclass may add mutable state, so only the exact immutable types pass."""

    class Label(str):
        pass

    label = Label("x")
    label.notes = []  # type: ignore[attr-defined]

    with pytest.raises(TypeError, match=r"^Infer\.batch: Label is not a known immutable type"):
        check_immutable(Infer(label))


def test_frozen_dict_keys_are_checked() -> None:
    """A key is part of the payload too: an object of unknown type is refused as a key."""

    class Key:
        def __repr__(self) -> str:
            return "Key(1)"

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(FrozenDict({Key(): 1})))

    assert (
        "Infer.batch<key Key(1)>: Key is not a known immutable type; make it a @message, or "
        "declare it with register_immutable(Key) if its instances never change"
    ) == str(info.value)


def test_frozen_dict_values_are_named_by_key() -> None:
    """A mutable value in a ``FrozenDict`` is named by its key."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(FrozenDict({"rows": [1]})))

    assert "Infer.batch['rows']: list is mutable; use a tuple or freeze()" == str(info.value)


def test_enum_member_with_a_mutable_value_is_refused() -> None:
    """An enum member is only as immutable as its value; the fix is in the enum, not in freeze."""
    check_immutable(Infer(Color.SHADES))
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(Rows.FIRST))

    assert (
        "Infer.batch: enum member Rows.FIRST has a mutable value; give Rows immutable values "
        "(tuples, frozensets, FrozenDicts)"
    ) == str(info.value)
    with pytest.raises(TypeError, match=r"^cannot freeze value: enum member Rows\.FIRST has a mutable value"):
        freeze(Rows.FIRST)


def test_memoryview_is_refused() -> None:
    """Any holder of a memoryview can release it, which breaks it for every other holder."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(memoryview(b"abc")))

    assert (
        "Infer.batch: memoryview can be released by any holder, breaking it for all; "
        "use bytes or freeze()"
    ) == str(info.value)
    assert b"abc" == freeze(memoryview(b"abc"))


# Arrays -----------------------------------------------------------------------------------


def test_writable_array_is_rejected() -> None:
    """A writable numpy array is mutable."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(np.zeros(3)))

    assert "Infer.batch: writable ndarray is mutable; use freeze(array)" == str(info.value)


def test_read_only_view_of_writable_array_is_rejected() -> None:
    """A read-only view still changes through its writable base."""
    base = np.zeros(4)
    view = base[:2]
    view.flags.writeable = False

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(view))

    assert "Infer.batch: read-only view of a writable ndarray is mutable; use freeze(array)" == str(info.value)


def test_read_only_array_that_owns_its_memory_is_refused() -> None:
    """numpy lets any holder of an array that owns its memory set it writable again."""
    array = np.zeros(3)
    array.flags.writeable = False

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(array))

    assert (
        "Infer.batch: read-only ndarray owns its memory, so any holder can make it writable "
        "again; use freeze(array)"
    ) == str(info.value)


def test_array_over_a_read_only_view_of_writable_memory_is_refused() -> None:
    """A read-only memoryview hides nothing: its ``obj`` is the writable memory."""
    memory = bytearray(16)
    array = np.frombuffer(memoryview(memory).toreadonly(), np.float64)

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(array))

    assert "Infer.batch: ndarray over a memoryview may change; use freeze(array)" == str(info.value)


def test_frozen_array_cannot_be_made_writable_again() -> None:
    """``freeze`` output, its views and its base all refuse writes, so receivers cannot race."""
    frozen = freeze(np.arange(6.0).reshape(2, 3))

    for array in (frozen, frozen[1:], frozen.T, frozen.reshape(6)):
        with pytest.raises(ValueError, match="cannot set WRITEABLE flag"):
            array.flags.writeable = True
    assert isinstance(frozen.base, bytes)
    check_immutable(Infer(frozen))
    check_immutable(Infer(frozen.T[1:]))


def test_freeze_copies_a_read_only_array_that_owns_its_memory() -> None:
    """Such an array could be made writable again, so ``freeze`` copies it."""
    array = np.arange(3.0)
    array.flags.writeable = False

    frozen = freeze(array)

    assert frozen is not array
    assert [0.0, 1.0, 2.0] == frozen.tolist()
    check_immutable(Infer(frozen))


def test_array_over_bytes_passes_and_freeze_keeps_it() -> None:
    """An array over a ``bytes`` object can never change; ``freeze`` does not copy it."""
    array = np.frombuffer(bytes(range(8)), np.uint8)

    check_immutable(Infer(array))
    assert array is freeze(array)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(5.0),
        np.arange(7, dtype=np.int8),
        np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2],
        np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        np.array(3.5),
        np.zeros(3, dtype=[("x", "i4"), ("y", "f8")]),
    ],
    ids=["float64", "int8", "strided", "fortran", "0-d", "structured"],
)
def test_freeze_output_starts_on_a_cache_line(array: np.ndarray) -> None:
    """Frozen arrays are C-contiguous copies whose data starts on a 64-byte boundary."""
    frozen = freeze(array)

    assert 0 == frozen.ctypes.data % 64
    assert frozen.flags.c_contiguous
    assert array.dtype == frozen.dtype
    assert array.shape == frozen.shape
    assert np.array_equal(array, frozen)


def test_freeze_keeps_the_shape_and_dtype_of_an_empty_array() -> None:
    """An empty array has no data to align but keeps its shape and dtype."""
    frozen = freeze(np.zeros((0, 3), np.float32))

    assert ((0, 3), np.dtype(np.float32)) == (frozen.shape, frozen.dtype)
    check_immutable(Infer(frozen))


def test_object_arrays_are_refused_with_a_fix_that_works() -> None:
    """An object array holds references; its nested-tuple form can be frozen instead."""
    array = np.array([[1, "a"]], dtype=object)

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(array))

    assert (
        "Infer.batch: object-dtype array holds references to objects that may change; "
        "use freeze(array.tolist())"
    ) == str(info.value)
    check_immutable(Infer(freeze(array.tolist())))


def test_void_view_into_a_writable_structured_array_is_refused() -> None:
    """Indexing a structured array gives a ``np.void`` that writes through to the array."""
    rows = np.zeros(2, dtype=[("x", "i4")])

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(rows[0]))

    assert "Infer.batch: void scalar is a view into an array that can change; use freeze(value)" == str(info.value)


def test_freeze_turns_a_void_view_into_a_frozen_copy() -> None:
    """The frozen row no longer follows its array and refuses writes."""
    rows = np.zeros(2, dtype=[("x", "i4")])

    row = freeze(rows[0])
    rows["x"][0] = 9

    assert 0 == row["x"]
    with pytest.raises(ValueError, match="read-only"):
        row["x"] = 1
    check_immutable(Infer(row))
    assert row is freeze(row)


def test_void_scalar_without_fields_passes() -> None:
    """An unstructured void owns its bytes and has no fields to assign."""
    raw = np.frombuffer(b"abcd", dtype="V2")[0]

    check_immutable(Infer(raw))
    assert raw is freeze(raw)


def test_ndarray_subclass_is_refused() -> None:
    """A subclass instance can carry mutable state of its own; its plain-array form can be sent."""
    tagged = freeze(np.arange(3)).view(Tagged)
    tagged.notes = []  # type: ignore[attr-defined]

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(tagged))

    assert (
        "Infer.batch: Tagged is an ndarray subclass, whose instances may carry mutable state; "
        "use freeze(np.asarray(value))"
    ) == str(info.value)
    with pytest.raises(TypeError, match=r"^cannot freeze value: Tagged is an ndarray subclass"):
        freeze(tagged)
    check_immutable(Infer(freeze(np.asarray(tagged))))


def test_masked_array_is_refused_with_its_parts_as_the_fix() -> None:
    """A masked array's mask and fill value change in place, even over frozen data."""
    masked = np.ma.array(freeze(np.arange(3.0)), mask=[False, True, False])

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(masked))

    assert (
        "Infer.batch: MaskedArray has a mutable mask and fill value; send its parts: "
        "freeze((value.data, np.ma.getmaskarray(value)))"
    ) == str(info.value)
    check_immutable(Infer(freeze((masked.data, np.ma.getmaskarray(masked)))))


# Depth ------------------------------------------------------------------------------------


def test_deep_nesting_is_refused_naming_the_path_prefix_and_the_limit() -> None:
    """A payload nested deeper than the limit gets a TypeError, never a RecursionError."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(nested_tuple(10_000)))

    assert (
        "Infer.batch[0][0][0][0][0][0][0][0][0]...: nested deeper than 100 levels; "
        "flatten it (e.g. a tuple of rows, or an array)"
    ) == str(info.value)


def test_nesting_up_to_the_limit_passes() -> None:
    """One hundred levels pass; one more is refused."""
    check_immutable(nested_tuple(100))
    with pytest.raises(TypeError, match="nested deeper than 100 levels"):
        check_immutable(nested_tuple(101))


def test_freeze_refuses_deep_nesting_likewise() -> None:
    """``freeze`` has the same limit and says so."""
    value: list = []
    for _ in range(10_000):
        value = [value]

    with pytest.raises(TypeError) as info:
        freeze(value)

    assert (
        "cannot freeze value[0][0][0][0][0][0][0][0][0][0]...: nested deeper than 100 levels; "
        "flatten it (e.g. a tuple of rows, or an array)"
    ) == str(info.value)


# Cost: verdicts kept on frozen containers -----------------------------------------------------


def test_a_frozen_dict_is_walked_once() -> None:
    """A ``FrozenDict`` keeps its verdict, so sending it again does not walk it again."""
    reads: list[str] = []

    @dataclasses.dataclass(frozen=True)
    class Probe:
        n: int

        def __getattribute__(self, name: str) -> object:
            if name == "n":
                reads.append(name)
            return object.__getattribute__(self, name)

    payload = FrozenDict({"probe": Probe(1)})

    check_immutable(Infer(payload))
    check_immutable(Infer(payload))
    check_immutable(Infer(freeze(payload)))

    assert ["n"] == reads


def test_tuples_are_walked_on_every_check() -> None:
    """A tuple cannot keep a verdict, so each check walks it (scalar items cost little)."""
    reads: list[str] = []

    @dataclasses.dataclass(frozen=True)
    class Probe:
        n: int

        def __getattribute__(self, name: str) -> object:
            if name == "n":
                reads.append(name)
            return object.__getattribute__(self, name)

    payload = (Probe(1),)

    check_immutable(Infer(payload))
    check_immutable(Infer(payload))

    assert ["n", "n"] == reads


def test_a_refused_frozen_dict_is_refused_again() -> None:
    """Only a passing verdict is kept."""
    payload = FrozenDict({"rows": [1]})

    for _ in range(2):
        with pytest.raises(TypeError, match="list is mutable"):
            check_immutable(payload)


# Common immutable values ----------------------------------------------------------------------


IMMUTABLE_VALUES = [
    dt.datetime(2024, 5, 1, 12, 30),
    dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc),
    dt.datetime(2024, 5, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    dt.date(2024, 5, 1),
    dt.time(12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    dt.timedelta(seconds=3),
    dt.timezone.utc,
    decimal.Decimal("1.25"),
    uuid.UUID(int=7),
    pathlib.PurePosixPath("/a/b"),
    pathlib.PureWindowsPath("c:/a"),
    pathlib.Path("/tmp"),
    fractions.Fraction(1, 3),
    Color.RED,
    Color.SHADES,
    Point(1, (2, 3)),
    Span(dt.date(2024, 1, 1), dt.date(2024, 2, 1)),
    range(3),
    slice(1, 10, 2),
    3 + 4j,
    b"bytes",
    np.float32(1.5),
    np.datetime64("2024-05-01"),
    Infer,
]


@pytest.mark.parametrize("value", IMMUTABLE_VALUES, ids=lambda v: type(v).__name__)
def test_common_immutable_values_pass_and_freeze_returns_them(value: object) -> None:
    """Standard-library values that cannot change are accepted, and ``freeze`` keeps them."""
    check_immutable(Infer(value))

    assert value is freeze(value)


def test_namedtuple_fields_are_checked_and_frozen() -> None:
    """A NamedTuple is checked field by field; ``freeze`` rebuilds it with frozen fields."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(Point(1, [2])))

    assert "Infer.batch.y: list is mutable; use a tuple or freeze()" == str(info.value)
    assert Point(1, (2,)) == freeze(Point(1, [2]))
    assert Point is type(freeze(Point(1, [2])))


def test_frozen_dataclass_fields_are_checked_and_frozen() -> None:
    """A frozen dataclass is checked field by field; ``freeze`` replaces mutable fields."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(Span(0, {"end": 1})))

    assert "Infer.batch.stop: dict is mutable; use freeze() (a FrozenDict)" == str(info.value)
    assert Span(0, FrozenDict({"end": 1})) == freeze(Span(0, {"end": 1}))


def test_mutable_dataclass_is_refused() -> None:
    """A dataclass that is not frozen can change."""
    with pytest.raises(TypeError, match=r"^Infer\.batch: Box is not a known immutable type; make it a @message"):
        check_immutable(Infer(Box(1)))


def test_slice_parts_are_checked() -> None:
    """A slice is as immutable as its start, stop and step."""
    with pytest.raises(TypeError) as info:
        check_immutable(Infer(slice(0, [1])))

    assert "Infer.batch.stop: list is mutable; use a tuple or freeze()" == str(info.value)


def test_freeze_rebuilds_a_slice_with_frozen_parts() -> None:
    """A slice of lists becomes a slice of tuples."""
    assert slice(0, (1,)) == freeze(slice(0, [1]))


def test_state_outside_a_frozen_dataclass_fields_is_checked() -> None:
    """A cached property stores into the instance's ``__dict__``, out of the fields' reach."""

    @dataclasses.dataclass(frozen=True)
    class Cached:
        n: int

        @functools.cached_property
        def rows(self) -> list[int]:
            return [self.n]

    cached = Cached(1)
    check_immutable(Infer(cached))
    assert [1] == cached.rows

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(cached))

    assert (
        "Infer.batch.rows: not a field, and holds a value that can change; keep only immutable values in it"
    ) == str(info.value)


def test_freeze_passes_private_attrs_fields_by_their_init_name() -> None:
    """attrs takes ``_rows`` as ``rows`` in ``__init__``; ``freeze`` rebuilds through it."""

    @message
    class Private:
        _rows: object

    frozen = freeze(Private([1, 2]))

    assert (1, 2) == frozen._rows


def test_datetime_with_an_unknown_tzinfo_is_refused() -> None:
    """A datetime is as immutable as its tzinfo, which may be any user class."""
    when = dt.datetime(2024, 5, 1, tzinfo=ShiftedZone())

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(when))

    assert (
        "Infer.batch.tzinfo: ShiftedZone is not a known immutable type; make it a @message, or "
        "declare it with register_immutable(ShiftedZone) if its instances never change"
    ) == str(info.value)


# register_immutable ---------------------------------------------------------------------------


def test_register_immutable_declares_a_type_and_returns_it() -> None:
    """A registered class passes the check and ``freeze``; its subclasses do not."""

    class Money:
        __slots__ = ("cents",)

    class Tip(Money):
        pass

    with pytest.raises(TypeError, match="Money is not a known immutable type"):
        check_immutable(Infer(Money()))

    assert Money is register_immutable(Money)
    check_immutable(Infer(Money()))
    money = Money()
    assert money is freeze(money)
    with pytest.raises(TypeError, match="Tip is not a known immutable type"):
        check_immutable(Infer(Tip()))


def test_register_immutable_works_as_a_decorator() -> None:
    """``@register_immutable`` on a class declaration."""

    @register_immutable
    class Celsius:
        __slots__ = ()

    check_immutable(Infer(Celsius()))


def test_register_immutable_refuses_what_is_not_a_class() -> None:
    """Only classes can be registered."""
    with pytest.raises(TypeError) as info:
        register_immutable(3)  # type: ignore[arg-type]

    assert "register_immutable() takes a class (got 3, an int)" == str(info.value)


@pytest.mark.parametrize(
    ("cls", "why"),
    [
        (list, "its instances can change"),
        (np.ndarray, "its instances can change"),
        (tuple, "the check already looks inside its instances"),
        (FrozenDict, "the check already looks inside its instances"),
        (Infer, "the check already looks inside its instances"),
    ],
)
def test_register_immutable_refuses_types_it_must_not_trust(cls: type, why: str) -> None:
    """Mutable builtins and containers whose items are checked cannot be declared immutable."""
    with pytest.raises(ValueError) as info:
        register_immutable(cls)

    assert f"cannot register {cls.__name__}: {why}" == str(info.value)


# Errors name fixes that work --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        pytest.param([1, [2]], freeze, id="list-freeze"),
        pytest.param([1, 2], tuple, id="list-tuple"),
        pytest.param({"a": [1]}, freeze, id="dict-freeze"),
        pytest.param({1}, frozenset, id="set-frozenset"),
        pytest.param({1}, freeze, id="set-freeze"),
        pytest.param(bytearray(b"x"), bytes, id="bytearray-bytes"),
        pytest.param(bytearray(b"x"), freeze, id="bytearray-freeze"),
        pytest.param(memoryview(b"x"), bytes, id="memoryview-bytes"),
        pytest.param(np.zeros(2), freeze, id="array-freeze"),
        pytest.param(np.array([[1, "a"]], dtype=object), lambda v: freeze(v.tolist()), id="object-array-tolist"),
        pytest.param(np.zeros(2, dtype=[("x", "i4")])[0], freeze, id="void-freeze"),
        pytest.param(freeze(np.arange(2)).view(Tagged), lambda v: freeze(np.asarray(v)), id="subclass-asarray"),
        pytest.param(
            np.ma.array([1.0], mask=[True]), lambda v: freeze((v.data, np.ma.getmaskarray(v))), id="masked-parts"
        ),
        pytest.param(Point(1, [2]), freeze, id="namedtuple-freeze"),
        pytest.param(Span(1, [2]), freeze, id="dataclass-freeze"),
    ],
)
def test_the_fix_an_error_names_passes_the_check(value: object, fix: object) -> None:
    """Each refused value, changed as its error says, is accepted."""
    with pytest.raises(TypeError):
        check_immutable(Infer(value))

    check_immutable(Infer(fix(value)))  # type: ignore[operator]


# freeze ---------------------------------------------------------------------------------------


def test_freeze_converts_containers_and_copies_arrays() -> None:
    """``freeze`` turns lists, dicts, sets and arrays into immutable equals, leaving the input."""
    array = np.arange(3.0)
    frozen = freeze(Infer([1, {"a": [2]}, {3}, bytearray(b"z"), array]))

    assert Infer((1, FrozenDict({"a": (2,)}), frozenset({3}), b"z", array)).batch[:4] == frozen.batch[:4]
    assert frozen.batch[4].flags.writeable is False
    assert array.flags.writeable is True
    check_immutable(frozen)


def test_freeze_keeps_immutable_values() -> None:
    """Already-immutable values come back as the same object."""
    msg = Infer((1, 2))
    array = freeze(np.ones(2))
    mapping = FrozenDict({"a": (1,)})

    assert msg is freeze(msg)
    assert array is freeze(array)
    assert mapping is freeze(mapping)


def test_freeze_refuses_what_has_no_immutable_form() -> None:
    """An arbitrary object cannot be frozen; the error names the path and what would work."""
    with pytest.raises(TypeError) as info:
        freeze([1, Bag()])

    assert (
        "cannot freeze value[1]: Bag is not a known immutable type; make it a @message, or "
        "declare it with register_immutable(Bag) if its instances never change"
    ) == str(info.value)


def test_frozen_dict_is_hashable_and_read_only() -> None:
    """``FrozenDict`` hashes and refuses assignment."""
    frozen = FrozenDict({"a": 1})

    assert hash(frozen) == hash(FrozenDict({"a": 1}))
    with pytest.raises(TypeError):
        frozen["b"] = 2  # type: ignore[index]


# Typing ---------------------------------------------------------------------------------------


def test_message_is_declared_a_frozen_dataclass_transform() -> None:
    """Type checkers learn from ``@message`` that the class gets a dataclass-like ``__init__``."""
    transform = message.__dataclass_transform__  # type: ignore[attr-defined]
    options = {**transform, **transform.get("kwargs", {})}  # Python 3.11 keeps new options in kwargs

    assert (True, (attrs.field,)) == (options["frozen_default"], options["field_specifiers"])


MYPY_SNIPPET = """
import attrs
from neural_actors.runtime.message import message

@message
class Add:
    n: int
    label: str = "x"
    tags: tuple[str, ...] = attrs.field(factory=tuple)

a = Add(5)
b = Add(n=5, label="y")
c = Add(1, "z", ("t",))
n: int = a.n
Add("5")
a.n = 3
"""


def test_message_classes_type_check_under_mypy(tmp_path: Path) -> None:
    """mypy accepts positional and keyword construction of a ``@message`` class, and refuses a
    field of the wrong type and an assignment: the snippet's last two lines, and nothing else.

    The editable install hides the package from mypy behind an import hook, so the test lays
    out the two modules ``message`` needs as a package mypy can find.
    """
    api = pytest.importorskip("mypy.api")
    runtime = Path(importlib.import_module("neural_actors.runtime.message").__file__).parent
    package = tmp_path / "src" / "neural_actors"
    (package / "runtime").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "runtime" / "__init__.py").write_text("")
    for module in ("message.py", "pid.py"):
        (package / "runtime" / module).symlink_to(runtime / module)
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {tmp_path / 'src'}\n")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(MYPY_SNIPPET)

    out, err, status = api.run([
        str(snippet), "--strict", "--config-file", str(config), "--cache-dir", str(tmp_path / "cache"),
        "--follow-imports=silent", "--no-error-summary",
    ])

    assert ("", 1) == (err, status)
    assert [
        f"{snippet}:15: error: Argument 1 to \"Add\" has incompatible type \"str\"; expected \"int\"  [arg-type]",
        f"{snippet}:16: error: Property \"n\" defined in \"Add\" is read-only  [misc]",
    ] == out.splitlines()


# Properties -----------------------------------------------------------------------------------


scalars = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3), st.booleans(), st.none())
immutable = st.recursive(scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(scalars, max_size=3), max_leaves=12)
mutable_leaf = st.one_of(st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=2), scalars, max_size=2))


@given(immutable)
def test_property_immutable_payloads_pass(value: object) -> None:
    """Every nesting of tuples and frozensets of scalars is accepted."""
    check_immutable(Infer(value))


@given(st.lists(immutable, max_size=4), mutable_leaf, st.data())
def test_property_a_mutable_leaf_is_found_at_its_path(items: list, leaf: object, data: st.DataObject) -> None:
    """A list or dict placed anywhere in a tuple is found, and the error names its index."""
    index = data.draw(st.integers(0, len(items)))
    items.insert(index, leaf)

    with pytest.raises(TypeError) as info:
        check_immutable(Infer(tuple(items)))

    assert str(info.value).startswith(f"Infer.batch[{index}]: {type(leaf).__name__} is mutable")


@given(st.recursive(scalars | mutable_leaf, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=2), inner, max_size=3), max_leaves=10))
def test_property_freeze_always_yields_immutable(value: object) -> None:
    """Whatever ``freeze`` accepts, its result passes the check, and freezing it again keeps it."""
    frozen = freeze(value)

    check_immutable(Infer(frozen))
    assert frozen is freeze(frozen)
