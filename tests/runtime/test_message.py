"""Immutable messages: the send-time check, its error paths, and ``freeze``."""

import enum

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from neural_actors.runtime import FrozenDict, Pid, Ref, check_immutable, freeze, message


@message
class Infer:
    batch: object
    tag: str = ""


@message
class Outer:
    inner: object


class Color(enum.Enum):
    RED = 1


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
    with pytest.raises(TypeError, match=r"^Outer\.inner\.batch: dict is mutable"):
        check_immutable(Outer(Infer({"a": 1})))


def test_writable_array_is_rejected() -> None:
    """A writable numpy array is mutable."""
    with pytest.raises(TypeError, match=r"^Infer\.batch: writable ndarray is mutable; use freeze\(array\)"):
        check_immutable(Infer(np.zeros(3)))


def test_read_only_view_of_writable_array_is_rejected() -> None:
    """A read-only view still changes through its writable base."""
    base = np.zeros(4)
    view = base[:2]
    view.flags.writeable = False

    with pytest.raises(TypeError, match="writable ndarray"):
        check_immutable(Infer(view))


def test_frozen_array_passes_and_object_arrays_fail() -> None:
    """Read-only arrays pass; object arrays never do."""
    check_immutable(Infer(freeze(np.arange(3))))
    with pytest.raises(TypeError, match="object-dtype array"):
        check_immutable(Infer(np.array([[1]], dtype=object)))


def test_unknown_class_is_rejected_with_the_fix() -> None:
    """An arbitrary object is not known to be immutable."""

    class Bag:
        pass

    with pytest.raises(TypeError, match=r"Bag is not a known immutable type; make it a @message or freeze\(\) it"):
        check_immutable(Infer(Bag()))


def test_bare_payloads_are_checked_too() -> None:
    """Payloads that are not messages are checked, named by ``where``."""
    check_immutable((1, "a"))
    with pytest.raises(TypeError, match=r"^payload\[0\]: set is mutable"):
        check_immutable(({1},), where="payload")


def test_messages_are_frozen() -> None:
    """Assigning a field raises."""
    msg = Infer((1,))
    with pytest.raises(AttributeError):
        msg.tag = "x"  # type: ignore[misc]


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

    assert msg is freeze(msg)
    assert array is freeze(array)


def test_freeze_refuses_what_has_no_immutable_form() -> None:
    """An arbitrary object cannot be frozen."""
    with pytest.raises(TypeError, match="cannot freeze object"):
        freeze(object())


def test_frozen_dict_is_hashable_and_read_only() -> None:
    """``FrozenDict`` hashes and refuses assignment."""
    frozen = FrozenDict({"a": 1})

    assert hash(frozen) == hash(FrozenDict({"a": 1}))
    with pytest.raises(TypeError):
        frozen["b"] = 2  # type: ignore[index]


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


@given(st.recursive(scalars | mutable_leaf, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner), max_leaves=10))
def test_property_freeze_always_yields_immutable(value: object) -> None:
    """Whatever ``freeze`` accepts, its result passes the check."""
    check_immutable(Infer(freeze(value)))
