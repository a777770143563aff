"""Durations and sizes as people write them in configuration: ``250ms``, ``2m``, ``1.5MiB``.

A duration is a number of seconds or a number with a unit (``us``, ``ms``, ``s``, ``m``, ``h``);
a size is a number of bytes or a number with a unit (``B``, ``KiB``, ``MiB``, ``GiB`` and the
decimal ``kB``, ``MB``, ``GB``). Both parse to plain numbers (seconds as ``float`` or ``int``,
bytes as ``int``), so what a config says is exactly what the Python API takes.

``format_duration`` writes seconds back in the largest unit that reads back as an equal number
(``0.25`` is ``250ms``), and as a bare number when none does: a dumped tree loads back equal.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

__all__ = ["format_duration", "format_size", "parse_duration", "parse_size"]

#: Seconds per unit, as exact fractions, so that ``250ms`` is 250/1000 rounded once.
DURATION_UNITS: dict[str, Fraction] = {
    "h": Fraction(3600),
    "m": Fraction(60),
    "s": Fraction(1),
    "ms": Fraction(1, 1000),
    "us": Fraction(1, 1_000_000),
}

SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "kB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}

_NUMBER_WITH_UNIT = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[A-Za-z]+)")

DURATION_FORM = "a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h"
SIZE_FORM = "a number of bytes or a number with a unit, as 512B, 64KiB, 1.5MiB, 2GB"


def _quantity(value: object, units: dict[str, Any], form: str) -> tuple[Fraction, str]:
    """The exact amount ``value`` (a string such as ``"1.5MiB"``) stands for, and its unit."""
    match = _NUMBER_WITH_UNIT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"expected {form}")
    unit = match["unit"]
    if unit not in units:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(units)}")
    return Fraction(match["number"]) * units[unit], unit


def parse_duration(value: object) -> float | int:
    """Seconds from a number (returned as is) or a string such as ``"250ms"``.

    Raises:
        ValueError: not a non-negative, finite number or a number with a known unit; the
            message says what was expected.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_FORM}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected {DURATION_FORM}, finite and >= 0")
        return value
    seconds, unit = _quantity(value, DURATION_UNITS, DURATION_FORM)
    return int(seconds) if seconds.denominator == 1 and unit in ("h", "m", "s") else float(seconds)


def format_duration(seconds: float | int) -> str | float | int:
    """``seconds`` in the largest unit that parses back to exactly ``seconds``, else as is."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise ValueError(f"expected a finite number of seconds (got {seconds!r})")
    if seconds <= 0:
        return seconds
    exact = Fraction(seconds)
    for unit, size in DURATION_UNITS.items():
        count = round(exact / size)
        text = f"{count}{unit}"
        if count >= 1 and parse_duration(text) == seconds:
            return text
    return seconds


def parse_size(value: object) -> int:
    """Bytes from an int (returned as is) or a string such as ``"1.5MiB"``.

    Raises:
        ValueError: not a non-negative whole number of bytes, or an unknown unit.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"expected {SIZE_FORM}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected {SIZE_FORM}, >= 0")
        return value
    size, _ = _quantity(value, SIZE_UNITS, SIZE_FORM)
    if size.denominator != 1:
        raise ValueError(f"{value} is not a whole number of bytes")
    return int(size)


def format_size(size: int) -> str | int:
    """``size`` bytes in the largest binary unit that divides it, else as a bare number."""
    for unit in ("GiB", "MiB", "KiB"):
        if size and size % SIZE_UNITS[unit] == 0:
            return f"{size // SIZE_UNITS[unit]}{unit}"
    return size
