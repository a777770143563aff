"""Field validators for specs and flags, one small check per kind of value, as OTP's ``validX``.

Each returns an attrs validator that raises ``InvalidChildSpec(field, value, reason)``, the
reason saying what the field must be. Numbers must be finite: an infinite or NaN period,
pause or timeout would silently turn a limit off (``nan < 0`` is false), so it is refused
where it is written, not discovered when the limit never triggers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from .errors import InvalidChildSpec

__all__ = ["hashable", "is_seconds", "non_negative_int", "one_of", "seconds"]

Validator = Callable[[Any, Any, Any], None]


def is_seconds(value: Any, *, allow_zero: bool) -> bool:
    """True if ``value`` is a finite int or float (not a bool), > 0 or >= 0 as asked."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


def seconds(field: str, *, allow_zero: bool = False, optional: bool = False) -> Validator:
    """A finite number of seconds, > 0 (or >= 0 with ``allow_zero``); None too if ``optional``."""
    bound = ">= 0" if allow_zero else "> 0"
    reason = f"must be {'None or ' if optional else ''}a finite number of seconds {bound}"

    def check(_: Any, __: Any, value: Any) -> None:
        if not (optional and value is None) and not is_seconds(value, allow_zero=allow_zero):
            raise InvalidChildSpec(field, value, reason)

    return check


def non_negative_int(field: str, *, optional: bool = False) -> Validator:
    """An int >= 0 (a bool or a float is refused: a count is whole); None too if ``optional``."""
    reason = "must be None or an int >= 0" if optional else "must be an int >= 0"

    def check(_: Any, __: Any, value: Any) -> None:
        if not (optional and value is None) and (type(value) is not int or value < 0):
            raise InvalidChildSpec(field, value, reason)

    return check


def one_of(field: str, choices: Iterable[str]) -> Validator:
    """One of ``choices``, which are listed in the error."""
    allowed = tuple(choices)
    reason = f"must be one of {', '.join(allowed)}"

    def check(_: Any, __: Any, value: Any) -> None:
        if type(value) is not str or value not in allowed:
            raise InvalidChildSpec(field, value, reason)

    return check


def hashable(field: str, *, optional: bool) -> Validator:
    """A hashable value: None is refused unless ``optional`` (an id must name something)."""
    reason = "must be None or a hashable value" if optional else "must be a hashable value other than None"

    def check(_: Any, __: Any, value: Any) -> None:
        if value is None:
            if optional:
                return
            raise InvalidChildSpec(field, value, reason)
        try:
            hash(value)
        except TypeError:
            raise InvalidChildSpec(field, value, reason) from None

    return check
