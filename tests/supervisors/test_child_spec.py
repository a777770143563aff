"""Child specs and flags: every field's check names the field, what it must be and what came;
numbers must be finite; ``check_childspecs`` checks a list of specs as a supervisor would."""

import numpy as np
import pytest
from neural_actors.runtime import Actor, FrozenDict, check_immutable, freeze
from neural_actors.supervisors import (
    Backoff,
    ChildSpec,
    InvalidChildSpec,
    Supervisor,
    SupervisorFlags,
    check_childspecs,
)

INF, NAN = float("inf"), float("nan")


class Worker(Actor):
    """A child that does nothing."""


def worker(**fields) -> ChildSpec:
    return ChildSpec(**{"id": "w", "start": (Worker, ()), **fields})


class Opaque:
    """A value of a class the immutability check does not know."""

    def __repr__(self) -> str:
        return "Opaque()"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"id": [1]}, "id: must be a hashable value other than None (got [1], a list)"),
        ({"id": None}, "id: must be a hashable value other than None (got None)"),
        ({"id": ([1],)}, "id: must be a hashable value other than None (got ([1],), a tuple)"),
        ({"start": "mfa"}, "start: must be a tuple (actor_class, args) or (actor_class, args, kwargs) (got 'mfa', a str)"),
        ({"start": ()}, "start: must be a tuple (actor_class, args) or (actor_class, args, kwargs) (got (), a tuple)"),
        ({"start": (int, ())}, "start[0]: must be an Actor subclass (got <class 'int'>, a type)"),
        ({"start": (Worker, "ab")}, "start[1]: must be a tuple of positional arguments (got 'ab', a str)"),
        ({"start": (Worker, (), [1])}, "start[2]: must be a dict of keyword arguments (got [1], a list)"),
        (
            {"start": (Worker, (Opaque(),))},
            "start[1]: must hold immutable values, reused at every restart (start[1][0]: Opaque is not a known "
            "immutable type; make it a @message, or declare it with register_immutable(Opaque) if its instances "
            "never change) (got (Opaque(),), a tuple)",
        ),
        ({"restart": "permenant"}, "restart: must be one of permanent, transient, temporary (got 'permenant', a str)"),
        ({"shutdown": -1}, "shutdown: must be 'brutal_kill', 'infinity' or a finite number of seconds >= 0 (got -1, an int)"),
        ({"shutdown": INF}, "shutdown: must be 'brutal_kill', 'infinity' or a finite number of seconds >= 0 (got inf, a float)"),
        ({"shutdown": NAN}, "shutdown: must be 'brutal_kill', 'infinity' or a finite number of seconds >= 0 (got nan, a float)"),
        ({"shutdown": True}, "shutdown: must be 'brutal_kill', 'infinity' or a finite number of seconds >= 0 (got True, a bool)"),
        ({"type": "wrker"}, "type: must be one of worker, supervisor (got 'wrker', a str)"),
        ({"significant": 1}, "significant: must be True or False (got 1, an int)"),
        ({"backoff": 5}, "backoff: must be a Backoff or None (got 5, an int)"),
        ({"name": [1]}, "name: must be None or a hashable value (got [1], a list)"),
        ({"node": -1}, "node: must be None, a node number (an int >= 0) or one of round_robin (got -1, an int)"),
        ({"node": "spread"}, "node: must be None, a node number (an int >= 0) or one of round_robin (got 'spread', a str)"),
        ({"node": True}, "node: must be None, a node number (an int >= 0) or one of round_robin (got True, a bool)"),
        (
            {"significant": True},
            "significant: must be False for a permanent child (only transient or temporary children can be significant) (got True, a bool)",
        ),
    ],
)
def test_each_child_spec_field_says_what_it_must_be_and_what_came(fields: dict, expected: str) -> None:
    """Raises ``InvalidChildSpec`` with the field, what it must be and the value with its type."""
    with pytest.raises(InvalidChildSpec) as info:
        worker(**fields)

    assert expected == str(info.value)
    assert expected.split(":")[0] == info.value.field


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"strategy": "simple_one_for_one"}, "strategy: must be one of one_for_one, one_for_all, rest_for_one (got 'simple_one_for_one', a str)"),
        ({"intensity": -1}, "intensity: must be an int >= 0 (got -1, an int)"),
        ({"intensity": 1.0}, "intensity: must be an int >= 0 (got 1.0, a float)"),
        ({"intensity": NAN}, "intensity: must be an int >= 0 (got nan, a float)"),
        ({"intensity": True}, "intensity: must be an int >= 0 (got True, a bool)"),
        ({"period": -INF}, "period: must be a finite number of seconds > 0 (got -inf, a float)"),
        ({"period": "5"}, "period: must be a finite number of seconds > 0 (got '5', a str)"),
    ],
)
def test_each_flag_says_what_it_must_be_and_what_came(fields: dict, expected: str) -> None:
    """Raises ``InvalidChildSpec`` naming the flag (more cases in the suite's ``sup_flags``)."""
    with pytest.raises(InvalidChildSpec) as info:
        SupervisorFlags(**fields)

    assert expected == str(info.value)


def test_specs_and_flags_are_messages() -> None:
    """A spec of a child supervisor, flags and all, can be sent to a running supervisor."""
    nested = ChildSpec(id="sub", type="supervisor", start=(Supervisor, (SupervisorFlags(), ())))

    check_immutable(nested)
    check_immutable(worker(backoff=Backoff(), start=(Worker, (), {"k": 1})))


def test_check_childspecs_accepts_good_specs_and_returns_none() -> None:
    """A list or tuple of valid specs with distinct ids passes, with or without flags."""
    specs = [worker(id="a"), worker(id="b", restart="transient", significant=True)]

    assert None is check_childspecs(specs, SupervisorFlags(auto_shutdown="all_significant"))
    assert None is check_childspecs(tuple(specs))
    assert None is check_childspecs([])


@pytest.mark.parametrize(
    ("children", "flags", "expected"),
    [
        ("ab", None, "children: must be a list or tuple of ChildSpec (got 'ab', a str)"),
        ([worker(), 3], None, "children[1]: must be a ChildSpec (got 3, an int)"),
        ([worker(id=1), worker(id=2), worker(id=1)], None, "children[2].id: must be unique; children[0] has it too (got 1, an int)"),
        (
            [worker(restart="temporary", significant=True)],
            SupervisorFlags(),
            "children[0].significant: must be False under auto_shutdown never; give the supervisor auto_shutdown "
            "any_significant or all_significant to let this child shut it down (got True, a bool)",
        ),
        ([worker()], ("one_for_one", 1, 5), "flags: must be a SupervisorFlags or None (got ('one_for_one', 1, 5), a tuple)"),
    ],
)
def test_check_childspecs_names_the_child_by_position(children, flags, expected: str) -> None:
    """The first fault is raised, its field prefixed with the child's position."""
    with pytest.raises(InvalidChildSpec) as info:
        check_childspecs(children, flags)

    assert expected == str(info.value)


def test_long_values_are_shortened_in_messages() -> None:
    """A huge value is not printed whole in the error."""
    with pytest.raises(InvalidChildSpec) as info:
        worker(id=[freeze(np.zeros(3))] * 1000)

    assert len(str(info.value)) < 200


def test_start_arguments_are_frozen_so_no_restart_sees_what_another_did() -> None:
    """Lists become tuples and dicts FrozenDicts: a restarted child gets the arguments the
    spec was made with, whatever an earlier incarnation did to its own."""
    spec = ChildSpec(id="w", start=(Worker, [[1, 2], {"k": [3]}], {"opts": [4]}))

    assert ((1, 2), FrozenDict({"k": (3,)})) == spec.args
    assert {"opts": (4,)} == spec.kwargs
