"""Every exception of the supervisors layer."""

from __future__ import annotations

import reprlib
from typing import Any

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


def describe(value: Any) -> str:
    """``value`` for an error message: its repr, shortened, and its type (``[1], a list``)."""
    if value is None:
        return "None"
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{_REPR.repr(value)}, {article} {name}"


class InvalidChildSpec(ValueError):
    """Raised when a child spec, a supervisor flag or a management call's argument is invalid.

    ``field`` names it (``children[2].restart``), ``reason`` says what it must be, ``value`` is
    what came: ``restart: must be one of permanent, transient, temporary (got 'prmanent', a str)``.
    """

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(field, value, reason)
        self.field = field
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason} (got {describe(self.value)})"

    def within(self, prefix: str) -> InvalidChildSpec:
        """The same error with ``prefix`` before the field: a caller adds where the spec was."""
        return InvalidChildSpec(f"{prefix}{self.field}", self.value, self.reason)


class SupervisorError(LookupError):
    """Raised when a management call cannot be done.

    ``error`` is OTP's word for why (``not_found``, ``running``, ``restarting``,
    ``already_present``, ``already_started``, ``start_failed``, ``max_children``,
    ``simple_one_for_one``), or ``unknown_request`` for a request no supervisor answers;
    ``child_id`` names the child (None when the error is about no child); ``detail`` says more
    where there is more to say (the start failure's reason, the process holding a name, the
    requests a supervisor answers).
    """

    def __init__(self, error: str, child_id: Any = None, detail: str | None = None) -> None:
        super().__init__(error, child_id, detail)
        self.error = error
        self.child_id = child_id
        self.detail = detail

    def __str__(self) -> str:
        text = self.error if self.child_id is None else f"child {self.child_id!r}: {self.error}"
        return text if self.detail is None else f"{text}: {self.detail}"


class ChildRestarting(RuntimeError):
    """Raised in a caller whose call reached a child that is pausing before a backoff restart."""

    def __init__(self, child_id: Any, name: Any) -> None:
        super().__init__(child_id, name)
        self.child_id = child_id
        self.name = name

    def __str__(self) -> str:
        return f"child {self.child_id!r} ({self.name!r}) is restarting; retry later"


class ConfigError(ValueError):
    """Raised when a config file has problems; lists every one, each with its file, line,
    column and path (``problems`` holds them, in the order of the files' text)."""

    def __init__(self, problems: Any) -> None:
        self.problems = tuple(problems)
        super().__init__(*self.problems)

    def __str__(self) -> str:
        count = len(self.problems)
        lines = [f"{count} problem{'s' if count != 1 else ''} in the config:"]
        lines.extend(str(problem) for problem in self.problems)
        return "\n".join(lines)
