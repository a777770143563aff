"""The restart strategies as pure functions, and the one table the flags take their names from."""

import pytest
from neural_actors.supervisors import STRATEGIES, InvalidChildSpec, SupervisorFlags
from neural_actors.supervisors.strategies import one_for_all, one_for_one, rest_for_one

CHILDREN = ["a", "b", "c", "d"]


def test_one_for_one_stops_nothing_and_starts_the_child() -> None:
    """Only the child being restarted."""
    assert ([], ["c"]) == one_for_one(CHILDREN, "c")


def test_one_for_all_stops_the_others_and_starts_all_in_order() -> None:
    """Every other child is stopped (the supervisor stops them in reverse), all start in order."""
    assert (["a", "b", "d"], CHILDREN) == one_for_all(CHILDREN, "c")


def test_rest_for_one_stops_the_later_children_and_starts_from_the_child() -> None:
    """Children started before it are untouched."""
    assert (["c", "d"], ["b", "c", "d"]) == rest_for_one(CHILDREN, "b")
    assert ([], ["d"]) == rest_for_one(CHILDREN, "d")


def test_rest_for_one_finds_the_child_by_identity() -> None:
    """Two children equal in value are still told apart."""
    first, second = [1], [1]

    assert ([second], [first, second]) == rest_for_one([first, second], first)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_flags_accept_every_strategy_in_the_table(name: str) -> None:
    """The table is where the valid names come from."""
    assert name == SupervisorFlags(strategy=name).strategy


def test_flags_refuse_names_outside_the_table_listing_the_table() -> None:
    """The error lists exactly the table's names, in its order."""
    with pytest.raises(InvalidChildSpec) as info:
        SupervisorFlags(strategy="simple_one_for_one")

    assert f"must be one of {', '.join(STRATEGIES)}" == info.value.reason
