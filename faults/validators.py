"""The field validators of fault plans: one small function per kind of field.

Each raises ``FaultPlanError(field, value, expected)``; a caller that knows more (the YAML
reader knows ``faults[2].schedule.every``) adds the path in front of the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import FaultPlanError

__all__ = ["as_tuple", "count", "hashable", "instance", "one_of", "pattern", "probability", "seconds", "strings"]

Validator = Callable[[Any, Any, Any], None]


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def seconds(field: str, *, optional: bool = False, positive: bool = False) -> Validator:
    """Finite seconds, ``>= 0`` (``> 0`` if ``positive``); ``None`` too if ``optional``."""
    expected = f"finite seconds {'> 0' if positive else '>= 0'}" + (" or None" if optional else "")

    def check(_: Any, __: Any, value: Any) -> None:
        if value is None and optional:
            return
        if not _number(value) or value < 0 or (positive and value == 0):
            raise FaultPlanError(field, value, expected)

    return check


def probability(field: str) -> Validator:
    """A number from 0 to 1."""

    def check(_: Any, __: Any, value: Any) -> None:
        if not _number(value) or not 0 <= value <= 1:
            raise FaultPlanError(field, value, "a probability from 0 to 1")

    return check


def count(field: str, *, optional: bool = False, least: int = 1) -> Validator:
    """An int ``>= least``; ``None`` too if ``optional``."""
    expected = f"an int >= {least}" + (" or None" if optional else "")

    def check(_: Any, __: Any, value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise FaultPlanError(field, value, expected)

    return check


def one_of(field: str, choices: tuple[Any, ...]) -> Validator:
    """One of ``choices`` (of the same type: ``True`` is not ``1``)."""

    def check(_: Any, __: Any, value: Any) -> None:
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise FaultPlanError(field, value, f"one of {', '.join(map(str, choices))}")

    return check


def pattern(field: str) -> Validator:
    """A non-empty shell-style pattern (``fnmatch``), or ``None``."""

    def check(_: Any, __: Any, value: Any) -> None:
        if value is not None and (type(value) is not str or not value):
            raise FaultPlanError(field, value, "a non-empty pattern string or None")

    return check


def strings(field: str, *, choices: tuple[str, ...] | None = None) -> Validator:
    """A tuple of strings (each one of ``choices`` if given)."""
    expected = f"a tuple of {', '.join(choices)}" if choices else "a tuple of strings"

    def check(_: Any, __: Any, value: Any) -> None:
        if type(value) is not tuple or not all(type(v) is str and (choices is None or v in choices) for v in value):
            raise FaultPlanError(field, value, expected)

    return check


def hashable(field: str, *, optional: bool = True) -> Validator:
    """Any hashable value (names and group keys); ``None`` too if ``optional``."""
    expected = "a hashable name" + (" or None" if optional else "")

    def check(_: Any, __: Any, value: Any) -> None:
        if value is None and not optional:
            raise FaultPlanError(field, value, expected)
        try:
            hash(value)
        except TypeError:
            raise FaultPlanError(field, value, expected) from None

    return check


def instance(field: str, cls: type, expected: str) -> Validator:
    """An instance of ``cls``, or ``None``."""

    def check(_: Any, __: Any, value: Any) -> None:
        if value is not None and type(value) is not cls:
            raise FaultPlanError(field, value, expected)

    return check


def as_tuple(value: Any) -> Any:
    """Lists become tuples (a plan is immutable); anything else is left for the validator."""
    return tuple(value) if isinstance(value, list) else value
