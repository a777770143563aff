"""The shared argument checks: one message per rule."""

import numpy as np
import pytest
from neural_actors.kernels.checks import check_leaf, check_shape, integer, leaf_shapes


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((3, 4), "a must have shape (3, 5) (got (3, 4))"),
        ((3,), "a must have shape (3, 5) (got (3,))"),
        ((3, 5, 1), "a must have shape (3, 5) (got (3, 5, 1))"),
    ],
)
def test_a_shape_that_differs_in_a_size_or_in_rank_is_named(shape: tuple, expected: str) -> None:
    with pytest.raises(ValueError) as error:
        check_shape("a", np.zeros(shape, np.float32), (3, 5))

    assert expected == str(error.value)


def test_named_sizes_match_anything_and_read_as_written() -> None:
    """A str stands for a free size; a one-element shape keeps its comma; context follows it."""
    check_shape("w", np.zeros((7, 2, 9), np.float32), ("E", 2, "h"))

    with pytest.raises(ValueError) as error:
        check_shape("w", np.zeros((7, 3, 9), np.float32), ("E", 2, "h"), " for d = 2")
    assert "w must have shape (E, 2, h) for d = 2 (got (7, 3, 9))" == str(error.value)
    with pytest.raises(ValueError) as error:
        check_shape("b", np.zeros(2, np.float32), (3,))
    assert "b must have shape (3,) (got (2,))" == str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"), [(3, 3), (np.int64(3), 3), (np.uint8(0), 0), (True, None), (3.0, None), ("3", None)]
)
def test_integers_are_pythons_or_numpys_never_bools(value: object, expected: int | None) -> None:
    assert expected == integer(value)
    assert expected is None or type(integer(value)) is int


def test_the_leaf_shapes_are_stated_once_and_checked_by_them() -> None:
    """``leaf_shapes`` is the rule; ``check_leaf`` names the first array that breaks it."""
    shapes = leaf_shapes(2, d_in=5, d_out=3, leaf_width=4)
    arrays = {name: np.zeros(shape, np.float32) for name, shape in shapes.items()}
    x = np.zeros((6, 5), np.float32)

    assert 2 == check_leaf(x, *arrays.values())
    arrays["leaf_b2"] = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError) as error:
        check_leaf(x, *arrays.values())
    assert "leaf_b2 must have shape (4, 3) for depth 2 (got (4, 2))" == str(error.value)
