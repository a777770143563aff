"""Where every message went: the counts behind the accounting invariant.

A message is sent when the delivery seam accepts it (a cast, send, call, timer message or a
group member's copy; a send the mesh refuses with ``Unreachable`` was never sent). From then it
ends in exactly one of:

- **delivered**: it reached its target's mailbox and the mailbox kept it;
- **dropped by a fault**, with the reason (``drop``, ``partition``);
- **dropped by a mailbox policy**: a full mailbox refused it on arrival (``drop_newest``,
  ``fail``, ``backpressure``: no sender is there to tell), or evicted it later
  (``drop_oldest``: the newcomer is delivered, the oldest queued one dropped);
- **dead-lettered**: its target was gone when it was sent or when it arrived.

Until then it is **in flight**: on the mesh, delayed or held back by the plan. So once nothing
is in flight, ``sent == delivered + dropped + dropped_by_mailbox + dead_letters`` exactly.
A copy a ``Duplicate`` fault makes counts as one more message sent. Replies are not messages
here (a caller's outcome is the pending-call invariant's business).
"""

from __future__ import annotations

from typing import final

import attrs

__all__ = ["MessageAccounting"]


@final
@attrs.frozen
class MessageAccounting:
    """A snapshot of where the messages sent since the plan was installed went."""

    sent: int
    delivered: int
    dropped: tuple[tuple[str, int], ...]  # by a fault: (reason, count), by reason
    dropped_by_mailbox: int
    dead_letters: int
    in_flight: int  # handed on and not yet arrived, or held by the plan (delayed, reordered)
    duplicated: int  # copies made by Duplicate faults, counted in ``sent``
    refused: int  # sends the transport underneath refused (Unreachable): never sent

    @property
    def dropped_by_fault(self) -> int:
        """Messages a fault dropped, all reasons."""
        return sum(count for _, count in self.dropped)

    @property
    def unaccounted(self) -> int:
        """Messages sent that are neither delivered, dropped nor dead-lettered (in flight
        included: zero once the runtime is idle, if nothing was lost)."""
        return self.sent - self.delivered - self.dropped_by_fault - self.dropped_by_mailbox - self.dead_letters
