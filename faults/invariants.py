"""Invariant checkers: what must hold after any fault, for tests and for ``neural-actors chaos``.

Each checker returns the ``Violation`` values it found (an empty list: the invariant holds):

- ``check_pending_calls``: no call left pending: every caller got a reply or a clear error
  (``ActorExited``, ``CallTimeout``, ``MailboxFull``...). Check once the faults have healed
  and the longest call timeout has passed.
- ``check_stopped``: no process left running after shutdown, none runnable.
- ``check_registry``: no name and no group member pointing at a dead process.
- ``check_accounting``: every message accounted for, exactly (see ``accounting.py``); check
  when the runtime is idle (``await rt.wait_idle()``), or messages in flight are reported.
- ``check_restarts``: restarts consistent with each supervisor's intensity (see
  ``restarts.py``).

``check_invariants`` runs the four that hold while a runtime runs; ``assert_invariants``
raises ``InvariantViolated`` listing every violation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import attrs

from neural_actors.runtime import Runtime

from .errors import InvariantViolated
from .injector import FaultInjector

__all__ = [
    "INVARIANTS",
    "Violation",
    "assert_invariants",
    "check_accounting",
    "check_invariants",
    "check_pending_calls",
    "check_registry",
    "check_restarts",
    "check_stopped",
]

#: Every invariant's name, as ``Violation.invariant`` and reports give it.
INVARIANTS = ("pending_calls", "stopped", "registry", "accounting", "restarts")


@final
@attrs.frozen
class Violation:
    """One broken invariant: which, and what was seen."""

    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


def check_pending_calls(rt: Runtime) -> list[Violation]:
    """Every call still waiting for its reply is a violation: its caller hangs."""
    return [Violation("pending_calls", f"{caller.describe()} (still waiting)") for caller in rt.pending_calls()]


def check_stopped(rt: Runtime) -> list[Violation]:
    """After ``rt.shutdown()``: no process alive, none runnable."""
    found = [
        Violation("stopped", f"{pid!r} ({_actor(rt, pid)}) is still running after shutdown") for pid in rt.processes()
    ]
    runnable = rt.statistics().runnable
    if runnable:
        found.append(Violation("stopped", f"{runnable} process(es) still counted runnable after shutdown"))
    return found


def _actor(rt: Runtime, pid: object) -> str:
    info = rt.process_info(pid)  # type: ignore[arg-type]
    return info.actor if info is not None else "gone"


def check_registry(rt: Runtime) -> list[Violation]:
    """Every registered name and group member is a live process."""
    found = [
        Violation("registry", f"name {name!r} points at {pid!r}, which is dead")
        for name, pid in rt.registered().items()
        if not rt.is_alive(pid)
    ]
    for group, members in rt.groups().items():
        found.extend(
            Violation("registry", f"group {group!r} lists {pid!r}, which is dead")
            for pid in members
            if not rt.is_alive(pid)
        )
    return found


def check_accounting(injector: FaultInjector) -> list[Violation]:
    """``sent == delivered + dropped by faults + dropped by mailboxes + dead letters``."""
    counts = injector.accounting()
    missing = counts.unaccounted
    if not missing:
        return []
    if counts.in_flight == missing and injector.transport.next_arrival() is not None:
        why = f"{missing} still in flight: check once the runtime is idle (await rt.wait_idle())"
    elif counts.in_flight:
        why = f"{counts.in_flight} handed on and never arrived, though nothing is on its way: lost"
    else:
        why = "neither in flight nor counted anywhere: lost"
    return [
        Violation(
            "accounting",
            f"{missing} of {counts.sent} messages unaccounted for (delivered {counts.delivered}, dropped by "
            f"faults {counts.dropped_by_fault}, by mailboxes {counts.dropped_by_mailbox}, dead letters "
            f"{counts.dead_letters}): {why}",
        )
    ]


def check_restarts(injector: FaultInjector) -> list[Violation]:
    """No supervisor made more restarts within its period than its intensity allows and went on."""
    return [Violation("restarts", detail) for detail in injector.ledger.violations()]


def check_invariants(rt: Runtime, injector: FaultInjector) -> list[Violation]:
    """The invariants of a running runtime: pending calls, registry, accounting, restarts."""
    return [*check_pending_calls(rt), *check_registry(rt), *check_accounting(injector), *check_restarts(injector)]


def assert_invariants(violations: Sequence[Violation]) -> None:
    """Raise ``InvariantViolated`` listing ``violations``, if there are any.

    Raises:
        InvariantViolated: at least one invariant broke.
    """
    if violations:
        raise InvariantViolated(violations)
