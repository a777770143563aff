"""Every exception of the supervisors layer."""

from __future__ import annotations

from typing import Any


class InvalidChildSpec(ValueError):
    """Raised when a child spec or supervisor flag is invalid; names the field, the value and why."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        super().__init__(field, value, reason)
        self.field = field
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.value!r} {self.reason}"


class SupervisorError(LookupError):
    """Raised when a management call cannot be done.

    ``error`` is OTP's word for why (``not_found``, ``running``, ``restarting``,
    ``already_present``, ``already_started``, ``start_failed``, ``max_children``,
    ``simple_one_for_one``); ``detail`` says more where there is more to say (the start
    failure's reason, the process holding a name).
    """

    def __init__(self, error: str, child_id: Any, detail: str | None = None) -> None:
        super().__init__(error, child_id, detail)
        self.error = error
        self.child_id = child_id
        self.detail = detail

    def __str__(self) -> str:
        text = f"child {self.child_id!r}: {self.error}"
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
