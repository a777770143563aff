"""Every exception of the fault layer, in one place.

A fault plan is data a person writes (in Python or YAML), so a bad one is refused when it is
built, naming the field, what was expected and what came. A fault a plan injects into a
process is an ``InjectedFault``: it becomes the process's exit reason like any crash, and says
which fault of which plan put it there, so a crash report reads as what it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["FaultPlanError", "InjectedFault", "InvariantViolated"]


class FaultPlanError(ValueError):
    """Raised when a fault plan, a fault, a schedule, a target or a load is invalid.

    The message names the field, what was expected and what came; the parts are attributes.
    """

    def __init__(self, field: str, value: Any, expected: str) -> None:
        super().__init__(field, value, expected)
        self.field = field
        self.value = value
        self.expected = expected

    def __str__(self) -> str:
        return f"{self.field}: expected {self.expected} (got {self.value!r})"


class InjectedFault(RuntimeError):
    """Raised inside a process by a fault plan: a crash in a handler, a failed ``init``, a
    crash after a count of messages. It is the process's exit reason, as any crash is."""

    def __init__(self, kind: str, fault: int) -> None:
        super().__init__(kind, fault)
        self.kind = kind
        self.fault = fault

    def __str__(self) -> str:
        return f"{self.kind} injected by fault {self.fault} of the fault plan"


class InvariantViolated(AssertionError):
    """Raised by ``assert_invariants`` when a checker found a violation; lists every one."""

    def __init__(self, violations: Sequence[Any]) -> None:
        super().__init__(tuple(violations))
        self.violations = tuple(violations)

    def __str__(self) -> str:
        lines = "".join(f"\n  {violation}" for violation in self.violations)
        return f"{len(self.violations)} invariant violation(s):{lines}"
