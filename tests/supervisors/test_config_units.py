"""Durations and sizes as configs write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from neural_actors.supervisors.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("5s", 5), ("2m", 120), ("1.5h", 5400.0), ("10us", 1e-05), (".5s", 0.5), (3, 3), (0.1, 0.1)],
)
def test_durations_parse_to_seconds(text: object, seconds: float) -> None:
    """A number is seconds; a number with a unit is converted exactly once."""
    assert seconds == parse_duration(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5 parsecs", "unknown unit 'parsecs'; expected one of h, m, s, ms, us"),
        ("-1s", "expected a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h"),
        (-1, "expected a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h, finite and >= 0"),
        (True, "expected a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h"),
        (float("inf"), "expected a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h, finite and >= 0"),
    ],
)
def test_bad_durations_say_what_was_expected(text: object, message: str) -> None:
    """A bad duration is refused with the forms that are accepted."""
    with pytest.raises(ValueError) as info:
        parse_duration(text)

    assert message == str(info.value)


@given(st.one_of(st.floats(0, 1e9, allow_nan=False), st.integers(0, 10**9)))
def test_formatted_durations_parse_back_equal(seconds: float) -> None:
    """``format_duration`` never loses a bit: it picks a unit only when it reads back equal."""
    assert seconds == parse_duration(format_duration(seconds))


def test_durations_are_formatted_in_the_largest_exact_unit() -> None:
    assert ["250ms", "2m", "1h", "5s", 1e-07] == [format_duration(s) for s in (0.25, 120, 3600, 5.0, 1e-07)]


def test_sizes_parse_to_bytes_and_format_back() -> None:
    """Binary and decimal units; a fraction of a byte is refused."""
    assert (1572864, 65536, 2000, 7) == (parse_size("1.5MiB"), parse_size("64KiB"), parse_size("2kB"), parse_size(7))
    assert ("1536KiB", 1000) == (format_size(1572864), format_size(1000))
    with pytest.raises(ValueError) as info:
        parse_size("0.5B")
    assert "0.5B is not a whole number of bytes" == str(info.value)
