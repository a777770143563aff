"""The fault plan's transport: it wraps the runtime's own (the mesh's, or none) and applies the
message faults and partitions on the way, counting where every message goes.

Each signal the seam hands over is judged once, at send: a partition or a ``Drop`` may drop
it (counted with its reason, recorded in the trace); ``Delay``, ``Duplicate`` and ``Reorder``
mark it. What is not dropped is passed to the transport underneath (the mesh, which may still
refuse it with ``Unreachable``) or, with none, straight on. When the transport underneath
delivers it, the marks apply on the arrival side:

- **delay**: the message waits its delay, and every later message of the same sender/receiver
  pair waits behind it, so a plain delay keeps FIFO order per pair;
- **reorder**: the message is held until the next message of its pair has arrived, then
  arrives right behind it; one held per pair; released after ``hold`` seconds if none comes;
- **duplicate**: a copy is carried right behind the original (through the mesh as well).

Exits and downs pass untouched, always. Replies pass untouched unless a fault selects the
``reply`` kind.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any, final

from neural_actors.runtime import Pid, Runtime, Transport

from .accounting import MessageAccounting
from .plan import Delay, Reorder
from .targets import Messages, Target, payload, route_links, type_matches
from .timeline import Timeline

__all__ = ["ActiveFault", "FaultTransport"]

Pair = tuple[Pid, Pid]
_PASS_THROUGH = frozenset({"exit", "down"})


@final
class ActiveFault:
    """A message fault with an open window, its random picks resolved when the window opened."""

    __slots__ = ("fault", "index", "kinds", "probability", "receivers", "senders", "windows")

    def __init__(
        self, index: int, fault: Any, senders: frozenset[Pid] | None, receivers: frozenset[Pid] | None
    ) -> None:
        self.index = index
        self.fault = fault
        self.kinds = frozenset(fault.messages.kinds)
        self.probability = fault.schedule.probability
        self.senders = senders
        self.receivers = receivers
        self.windows = 1


@final
class FaultTransport:
    """Carries every signal of a runtime with a fault plan installed; see the module docstring.

    Args:
        rt: the runtime.
        inner: the transport underneath (``rt.transport`` before install), or ``None``.
        arrivals: the timeline delayed and held messages wait on.
        rng: the plan's one random generator.
        hit: called as ``hit(kind, index, sender, target, message)`` for each message a fault hits.
    """

    def __init__(
        self,
        rt: Runtime,
        inner: Transport | None,
        arrivals: Timeline,
        rng: random.Random,
        hit: Callable[[str, int, Pid, Pid, Any], None],
    ) -> None:
        self.rt = rt
        self.inner = inner
        self._resolve = rt.delivery.resolve
        self._arrivals = arrivals
        self._rng = rng
        self._hit = hit
        #: Message faults with an open window, by plan index, kept in plan order.
        self._active: dict[int, ActiveFault] = {}
        self._ordered: list[ActiveFault] = []
        #: Partitions in force, by token: the plan index of the fault, and each core's side.
        self.partitions: dict[int, tuple[int, dict[int, int]]] = {}
        #: Called with ``(target, item)`` for each timer message (the restart ledger's door).
        self.on_timer: Callable[[Pid, Any], None] | None = None
        self._gates: dict[Pair, deque[tuple[float, Pid, Callable[[], None], bool]]] = {}
        self._held: dict[Pair, tuple[Callable[[], None], bool, float, int]] = {}
        self._routes: dict[tuple[int, int], frozenset[tuple[int, int, int, str, int]]] = {}
        self.sent = 0
        self.delivered = 0
        self.dropped: dict[str, int] = {}
        self.dropped_by_mailbox = 0
        self.dead_letters = 0
        self.duplicated = 0
        self.refused = 0
        self.in_transit = 0

    # Windows ---------------------------------------------------------------------------------

    def open(self, index: int, fault: Any, senders: frozenset[Pid] | None, receivers: frozenset[Pid] | None) -> None:
        """Open a window of message fault ``index`` (windows of one fault may overlap)."""
        active = self._active.get(index)
        if active is not None:
            active.windows += 1
            return
        self._active[index] = ActiveFault(index, fault, senders, receivers)
        self._ordered = [self._active[i] for i in sorted(self._active)]

    def close(self, index: int) -> None:
        """Close one window of message fault ``index``."""
        active = self._active.get(index)
        if active is None:
            return
        active.windows -= 1
        if not active.windows:
            del self._active[index]
            self._ordered = [self._active[i] for i in sorted(self._active)]

    def close_all(self) -> None:
        """Close every window and end every partition (the plan heals)."""
        self._active.clear()
        self._ordered = []
        self.partitions.clear()

    # Carrying --------------------------------------------------------------------------------

    def carry(self, sender: Pid, target: Pid, kind: str, item: Any, arrive: Callable[[], None]) -> None:
        """Judge one signal, then hand it on (see the module docstring).

        Raises:
            Unreachable: the transport underneath refused it (the mesh: a failed core or link).
        """
        if kind in _PASS_THROUGH:
            self._pass(sender, target, kind, item, arrive)
            return
        counted = kind != "reply"
        if kind == "timer" and self.on_timer is not None:
            self.on_timer(target, item)
        delay = 0.0
        reorder = 0.0
        duplicate = False
        if counted and self.partitions:
            cut = self._cut(sender, target)
            if cut is not None:
                self.sent += 1
                self._drop(sender, target, kind, item, "partition", cut)
                return
        for active in self._ordered:
            if kind not in active.kinds or not self._selects(active, sender, target, kind, item):
                continue
            if active.probability < 1.0 and self._rng.random() >= active.probability:
                continue
            fault = active.fault
            if fault.kind == "drop":
                if counted:
                    self.sent += 1
                self._drop(sender, target, kind, item, "drop", active.index)
                return
            self._hit(fault.kind, active.index, sender, target, payload(kind, item))
            if type(fault) is Delay:
                delay += fault.seconds + (self._rng.uniform(0.0, fault.jitter) if fault.jitter else 0.0)
            elif type(fault) is Reorder:
                reorder = max(reorder, fault.hold)
            else:
                duplicate = True
        self._hand(sender, target, kind, item, arrive, delay, reorder, counted)
        if duplicate:
            if counted:
                self.duplicated += 1
            self._hand(sender, target, kind, item, arrive, 0.0, 0.0, counted)

    def next_arrival(self) -> float | None:
        """When the next message on its way lands: held here, or on the transport underneath."""
        mine = self._arrivals.next_time()
        theirs = self.inner.next_arrival() if self.inner is not None else None
        if mine is None:
            return theirs
        return mine if theirs is None else min(mine, theirs)

    def _pass(self, sender: Pid, target: Pid, kind: str, item: Any, arrive: Callable[[], None]) -> None:
        if self.inner is None:
            arrive()
        else:
            self.inner.carry(sender, target, kind, item, arrive)  # type: ignore[arg-type]

    def _drop(self, sender: Pid, target: Pid, kind: str, item: Any, reason: str, index: int) -> None:
        if kind != "reply":
            self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self._hit(reason, index, sender, target, payload(kind, item))

    def _selects(self, active: ActiveFault, sender: Pid, target: Pid, kind: str, item: Any) -> bool:
        messages: Messages = active.fault.messages
        if messages.types and not type_matches(messages.types, payload(kind, item)):
            return False
        if messages.cores is not None and (sender.core, target.core) != messages.cores:
            return False
        if messages.link is not None and messages.link.key() not in self._route(sender.core, target.core):
            return False
        if not self._party(messages.sender, active.senders, sender):
            return False
        return self._party(messages.receiver, active.receivers, target)

    def _party(self, selector: Target | None, picked: frozenset[Pid] | None, pid: Pid) -> bool:
        if selector is None:
            return True
        if picked is not None:
            return pid in picked
        process = self._resolve(pid)
        return process is not None and selector.matches(self.rt, process)

    def _route(self, src: int, dst: int) -> frozenset[tuple[int, int, int, str, int]]:
        route = self._routes.get((src, dst))
        if route is None:
            route = self._routes[(src, dst)] = route_links(self.rt.mesh, src, dst)  # type: ignore[arg-type]
        return route

    def _cut(self, sender: Pid, target: Pid) -> int | None:
        """The plan index of a partition between the two cores, or ``None``."""
        for index, sides in self.partitions.values():
            a = sides.get(sender.core)
            b = sides.get(target.core)
            if a is not None and b is not None and a != b:
                return index
        return None

    # Arrival -----------------------------------------------------------------------------------

    def _hand(
        self,
        sender: Pid,
        target: Pid,
        kind: str,
        item: Any,
        arrive: Callable[[], None],
        delay: float,
        hold: float,
        counted: bool,
    ) -> None:
        """Pass one message to the transport underneath, to land here when it arrives."""

        def landed() -> None:
            self.in_transit -= 1
            self._land(sender, target, arrive, delay, hold, counted)

        if counted:
            self.sent += 1
        self.in_transit += 1
        if self.inner is None:
            landed()
            return
        try:
            self.inner.carry(sender, target, kind, item, landed)  # type: ignore[arg-type]
        except BaseException:
            self.in_transit -= 1
            if counted:
                self.sent -= 1
                self.refused += 1
            raise

    def _land(
        self, sender: Pid, target: Pid, arrive: Callable[[], None], delay: float, hold: float, counted: bool
    ) -> None:
        pair = (sender, target)
        if hold and pair not in self._held:
            key = self._arrivals.at(self._arrivals.now() + hold, self._release_held, pair)
            self._held[pair] = (arrive, counted, delay, key)
            return
        self._gate(pair, arrive, delay, counted)
        held = self._held.pop(pair, None)
        if held is not None:
            self._arrivals.cancel(held[3])
            self._gate(pair, held[0], held[2], held[1])

    def _release_held(self, pair: Pair) -> None:
        arrive, counted, delay, _ = self._held.pop(pair)
        self._gate(pair, arrive, delay, counted)

    def _gate(self, pair: Pair, arrive: Callable[[], None], delay: float, counted: bool) -> None:
        """Let a message arrive after ``delay``, behind whatever of its pair still waits."""
        queue = self._gates.get(pair)
        if queue is None and delay <= 0.0:
            self._apply(pair[1], arrive, counted)
            return
        when = self._arrivals.now() + delay
        if queue is None:
            queue = self._gates[pair] = deque()
        # Released from the front only: one due behind one that is not waits for it.
        queue.append((when, pair[1], arrive, counted))
        self._arrivals.at(when, self._release_gate, pair)

    def _release_gate(self, pair: Pair) -> None:
        queue = self._gates.get(pair)
        now = self._arrivals.now()
        while queue and queue[0][0] <= now:
            _, target, arrive, counted = queue.popleft()
            self._apply(target, arrive, counted)
        if queue is not None and not queue:
            del self._gates[pair]

    def _apply(self, target: Pid, arrive: Callable[[], None], counted: bool) -> None:
        """Deliver one message and learn the mailbox's verdict from its drop counter."""
        if not counted:
            arrive()
            return
        process = self._resolve(target)
        if process is None:
            self.dead_letters += 1
            arrive()
            return
        mailbox = process.mailbox
        before = mailbox.dropped
        arrive()
        # drop_newest and a refusal drop the newcomer; drop_oldest keeps it and drops the oldest
        # (delivered earlier): either way one message moves from delivered to dropped.
        dropped = mailbox.dropped - before
        self.delivered += 1 - dropped
        self.dropped_by_mailbox += dropped

    # Accounting ----------------------------------------------------------------------------------

    @property
    def held(self) -> int:
        """Messages this transport holds back now (delayed behind their pair, or reordered)."""
        return sum(map(len, self._gates.values())) + len(self._held)

    def accounting(self, dead_at_send: int) -> MessageAccounting:
        """The counts so far; ``dead_at_send``: dead letters the seam made before carrying."""
        return MessageAccounting(
            sent=self.sent + dead_at_send,
            delivered=self.delivered,
            dropped=tuple(sorted(self.dropped.items())),
            dropped_by_mailbox=self.dropped_by_mailbox,
            dead_letters=self.dead_letters + dead_at_send,
            in_flight=self.in_transit + self.held,
            duplicated=self.duplicated,
            refused=self.refused,
        )
