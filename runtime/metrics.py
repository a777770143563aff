"""Counters a runtime keeps for monitoring: messages, drops, calls, restarts, mailbox depth.

Off by default (``Runtime(metrics=True)`` turns them on): like tracing and fault hooks, they
then cost an ``is None`` check, one on the hot paths (a cast queued locally, a call to an idle
actor) and two on the others. When on, ``RuntimeMetrics`` is the one small
object the seam, the process loop and the supervisors update; ``Runtime.metrics_snapshot()``
reads it together with what the runtime already counts (dead letters, each mailbox's drops,
the processes, the mesh's links) into an immutable ``MetricsSnapshot``. Nothing here knows
Prometheus: ``neural_actors.metrics`` turns a snapshot into Prometheus metric families.

What is counted, and where:

- **sent** (by kind: ``cast``, ``send``, ``call``, ``timer``, ``reply``): a message the seam
  accepted for a target it resolved, whatever happened to it next;
- **delivered**: a message queued in its target's mailbox, or a reply handed to its caller;
- **dropped** (by reason): ``dead_letter`` (the target was gone), ``refused`` (a full bounded
  mailbox raised ``MailboxFull`` to the sender), ``overflow`` (a mailbox's policy dropped a
  message: ``drop_newest``, ``drop_oldest``, or a refusal nobody could be told of),
  ``exited`` (left unhandled in a mailbox when its process exited); a transport that drops
  (a fault plan) adds its own reason with ``drop``;
- **calls**: each call's latency, from the call to its outcome (``ok``, ``exited``,
  ``timeout``, ``refused``, ``cancelled``), in a fixed-bucket histogram;
- **restarts** per supervisor and child, **escalations** per supervisor (a supervisor that
  gave up), reported by the supervisors through ``restarted`` and ``escalated``.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Hashable, Mapping
from typing import Any, final

import attrs

from .errors import ActorExited, MailboxFull
from .pid import Pid

__all__ = ["CALL_BUCKETS", "CallHistogram", "MetricsSnapshot", "RuntimeMetrics"]

#: Upper bounds (seconds) of the call-latency buckets: from a local call to an idle actor
#: (microseconds) to a call near the default 5 s timeout; one more bucket holds the rest.
CALL_BUCKETS: tuple[float, ...] = (
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5, 5.0, 10.0,
)


@final
@attrs.frozen
class CallHistogram:
    """The latencies of the calls that ended one way: cumulative counts per upper bound, as
    Prometheus has them (the last bound is ``inf``), their count and their sum in seconds."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum: float


@final
@attrs.frozen
class MetricsSnapshot:
    """A runtime's counters at one moment; see the module docstring for what each counts.

    Attributes:
        sent: messages sent, by kind.
        delivered: messages queued in a mailbox, and replies handed to their callers.
        dropped: messages dropped, by reason.
        calls: call latency histograms, by outcome.
        restarts: ``(supervisor, child) -> restarts``.
        escalations: ``supervisor -> times it gave up``.
        mailbox_depth: ``name -> depth`` of each registered process's mailbox.
        mailbox_total: messages queued in all mailboxes.
        mailbox_max: the deepest mailbox.
        processes, spawned, exited, crashed: as ``Runtime.statistics()``.
        links: for a runtime on a mesh, ``(chip, x, y, direction, noc, bytes, utilisation)`` of
            each link that carried traffic; empty otherwise.
    """

    sent: Mapping[str, int]
    delivered: int
    dropped: Mapping[str, int]
    calls: Mapping[str, CallHistogram]
    restarts: Mapping[tuple[str, str], int]
    escalations: Mapping[str, int]
    mailbox_depth: Mapping[str, int]
    mailbox_total: int
    mailbox_max: int
    processes: int
    spawned: int
    exited: int
    crashed: int
    links: tuple[tuple[int, int, int, str, int, int, float], ...] = ()


@final
class RuntimeMetrics:
    """The live counters of one runtime: updated in place by the seam, the process loop and
    the supervisors; read through ``Runtime.metrics_snapshot()``.

    Only the runtime creates one (``Runtime(metrics=True)``); ``Runtime.metrics`` gives it to
    the layers above, which report through its methods.
    """

    __slots__ = ("_buckets", "_labels", "delivered", "dropped", "escalations", "exited_dropped",
                 "exited_refused", "restarts", "sent")

    def __init__(self) -> None:
        self.sent: dict[str, int] = dict.fromkeys(("cast", "send", "call", "timer", "reply"), 0)
        self.delivered = 0
        #: Drops counted here; the seam's dead letters and the mailboxes' own counts are added
        #: by the snapshot.
        self.dropped: dict[str, int] = {}
        #: Overflow drops and refusals of mailboxes whose processes have exited.
        self.exited_dropped = 0
        self.exited_refused = 0
        self.restarts: dict[tuple[str, str], int] = {}
        self.escalations: dict[str, int] = {}
        # outcome -> per-bucket counts (not cumulative), count, sum
        self._buckets: dict[str, list[Any]] = {}
        self._labels: dict[Pid, str] = {}

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` messages dropped for ``reason`` (a transport's own drops)."""
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    # Calls ------------------------------------------------------------------------------------

    def watch_call(self, future: asyncio.Future[Any], started: float) -> None:
        """Time the call whose reply ``future`` is, from ``started`` (loop time) to its outcome."""
        loop = future.get_loop()
        future.add_done_callback(lambda done: self.call_ended(_outcome(done), loop.time() - started))

    def call_ended(self, outcome: str, seconds: float) -> None:
        """Count one call that ended with ``outcome`` after ``seconds``."""
        counts = self._buckets.get(outcome)
        if counts is None:
            counts = self._buckets[outcome] = [[0] * (len(CALL_BUCKETS) + 1), 0, 0.0]
        counts[0][bisect.bisect_left(CALL_BUCKETS, seconds)] += 1
        counts[1] += 1
        counts[2] += seconds

    def call_histograms(self) -> dict[str, CallHistogram]:
        """The call histograms so far, by outcome."""
        histograms = {}
        for outcome, (counts, count, total) in self._buckets.items():
            cumulative, running = [], 0
            for bound, n in zip((*CALL_BUCKETS, float("inf")), counts):
                running += n
                cumulative.append((bound, running))
            histograms[outcome] = CallHistogram(tuple(cumulative), count, total)
        return histograms

    # Supervisors -------------------------------------------------------------------------------

    def label(self, supervisor: Pid, label: str) -> None:
        """Name ``supervisor`` ``label`` in the restart metrics (its path in the tree, say),
        until it exits; without a label a supervisor is named by its registered name or pid."""
        self._labels[supervisor] = label

    def label_of(self, supervisor: Pid, name: Hashable | None = None) -> str:
        """The label the restart metrics use for ``supervisor`` (registered as ``name``)."""
        label = self._labels.get(supervisor)
        if label is not None:
            return label
        return str(name) if name is not None else repr(supervisor)

    def restarted(self, supervisor: str, child: Hashable) -> None:
        """Count a restart of ``child`` by the supervisor labelled ``supervisor``."""
        key = (supervisor, str(child))
        self.restarts[key] = self.restarts.get(key, 0) + 1

    def escalated(self, supervisor: str) -> None:
        """Count the supervisor labelled ``supervisor`` giving up (its exit escalates)."""
        self.escalations[supervisor] = self.escalations.get(supervisor, 0) + 1

    # Processes ---------------------------------------------------------------------------------

    def process_exited(self, pid: Pid, dropped: int, refused: int, unhandled: int) -> None:
        """Keep the counts of a mailbox that goes away with its process."""
        self.exited_dropped += dropped
        self.exited_refused += refused
        if unhandled:
            self.drop("exited", unhandled)
        self._labels.pop(pid, None)


def _outcome(future: asyncio.Future[Any]) -> str:
    if future.cancelled():
        return "cancelled"
    error = future.exception()  # also marks it retrieved: a caller that gave up is not logged
    if error is None:
        return "ok"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ActorExited):
        return "exited"
    if isinstance(error, MailboxFull):
        return "refused"
    return "error"
