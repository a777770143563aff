"""Random actor systems: whatever happens, every exit is heard exactly once and nothing is left.

Hypothesis draws a script: sync and async members (some trapping exits, some with bounded
mailboxes), observers that link to and monitor them, and batches of operations applied in one
go so they land in the same scheduling batch: links, monitors, crashes (``BaseException`` kinds
and exceptions that cannot be printed), stops, kills, exit signals, calls from the test and from
members, stray messages, linked children. Each script runs on the virtual clock with a drawn
scheduler seed, and the run is checked against a model:

- leaving the runtime completes, no process and no task of it is left;
- every monitor an observer made gets exactly one ``Down``, with the target's exit reason (or
  ``noproc`` if it was already dead); every link an observer made gets exactly one ``Exit``;
- no ``Down`` is delivered twice anywhere, no member hears a link's exit twice;
- every call resolves: a reply, ``ActorExited``, ``CallTimeout`` or ``MailboxFull``.

Observers are started first, so the shutdown stops them last and they hear every member's exit.
A few scripts are also replayed in a fresh interpreter under another ``PYTHONHASHSEED``: the
trace digest must not change.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import structlog.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from neural_actors.runtime import (
    Actor,
    ActorExited,
    CallTimeout,
    Down,
    Exit,
    MailboxFull,
    MailboxPolicy,
    NoReply,
    Runtime,
    Stop,
    VirtualEventLoop,
    format_reason,
)

from .test_reliability import Unprintable, UnprintableError

ROOT = Path(__file__).resolve().parents[2]

POLICIES = (
    None,
    MailboxPolicy(capacity=2, overflow="fail"),
    MailboxPolicy(capacity=2, overflow="backpressure"),
    MailboxPolicy(capacity=2, overflow="drop_newest"),
    MailboxPolicy(capacity=2, overflow="drop_oldest"),
)


CRASHES: dict[str, type[BaseException]] = {
    "value": ValueError,
    "exit": SystemExit,
    "interrupt": KeyboardInterrupt,
    "generator": GeneratorExit,
    "cancelled": asyncio.CancelledError,
    "unprintable": UnprintableError,
}
STOP_REASONS = ("normal", "shutdown", ("shutdown", 1))
EXIT_REASONS = ("normal", "shutdown", "boom")
ALLOWED_CALL_ERRORS = (ActorExited, CallTimeout, MailboxFull)


class Member(Actor):
    """A member of a random system; logs what it does and hears to the shared ``log``."""

    def init(self, log: list, trap: bool) -> None:
        self.log = log
        self.trap_exit = trap
        self.held: list = []

    def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("link", pid):
                self.log.append(("link", self.pid, pid, self.runtime.is_alive(pid)))
                self.link(pid)
            case ("monitor", pid):
                alive = self.runtime.is_alive(pid)
                self.log.append(("monitor", self.pid, self.monitor(pid), pid, alive))
            case ("crash", kind):
                raise CRASHES[kind]("crashed on request")
            case ("stop", reason):
                raise Stop(reason)
            case ("spawn_link",):
                self.spawn_link(Member, self.log, False)

    def handle_call(self, msg: Any, caller: Any) -> Any:
        match msg:
            case "ping":
                return "pong"
            case "hold":
                self.held.append(caller)
                return NoReply
            case ("crash", kind):
                raise CRASHES[kind]("crashed in a call")
        return None

    def handle_info(self, msg: Any) -> None:
        if type(msg) in (Exit, Down):
            self.log.append(("heard", self.pid, msg))
        else:
            super().handle_info(msg)  # a stray: logged and ignored, unprintable or not


class AsyncMember(Member):
    """A member whose casts are ``async``: it can call other members."""

    async def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("call", pid, request):
                try:
                    outcome = await self.call(pid, request, timeout=2.0)
                except Exception as error:  # noqa: BLE001 - the check says which errors may come
                    outcome = error
                self.log.append(("called", self.pid, outcome))
            case _:
                await asyncio.sleep(0)
                super().handle_cast(msg)


class Observer(Member):
    """A member that traps exits and is never a target: it lives until the shutdown."""

    def init(self, log: list) -> None:
        super().init(log, True)


# Scripts ---------------------------------------------------------------------------------------


@st.composite
def scripts(draw: st.DrawFn, printable: bool = False) -> tuple:
    """A literal script: (seed, observers, members, batches); literals so a subprocess can replay it."""
    members = draw(
        st.lists(
            st.tuples(st.booleans(), st.booleans(), st.integers(0, len(POLICIES) - 1)),
            min_size=2,
            max_size=4,
        )
    )
    observers = draw(st.integers(1, 2))
    member = st.integers(0, len(members) - 1)
    anyone = st.integers(-observers, len(members) - 1)  # negative: an observer
    kinds = st.sampled_from([kind for kind in CRASHES if not (printable and kind == "unprintable")])
    operation = st.one_of(
        st.tuples(st.just("link"), anyone, member),
        st.tuples(st.just("monitor"), anyone, member),
        st.tuples(st.just("crash"), member, kinds),
        st.tuples(st.just("crash_call"), member, kinds),
        st.tuples(st.just("stop"), member, st.sampled_from(STOP_REASONS)),
        st.tuples(st.just("kill"), member),
        st.tuples(st.just("exit"), member, st.sampled_from(EXIT_REASONS)),
        st.tuples(st.just("call"), member, st.sampled_from(("ping", "hold")), st.sampled_from((0.5, 3.0))),
        st.tuples(st.just("member_call"), member, member, st.sampled_from(("ping", "hold"))),
        st.tuples(st.just("stray"), member, st.just(True) if printable else st.booleans()),
        st.tuples(st.just("spawn_link"), member),
    )
    # Mostly no time between batches: a batch then runs while the last one's bursts are starting.
    gaps = st.sampled_from((0.0, 0.0, 0.0, 0.25, 1.0))
    batches = draw(st.lists(st.tuples(st.lists(operation, max_size=8), gaps), min_size=1, max_size=6))
    seed = draw(st.integers(0, 2**16))
    return (seed, observers, tuple(members), tuple((tuple(ops), gap) for ops, gap in batches))


def apply(rt: Runtime, op: tuple, observers: list, members: list, calls: list) -> None:
    """Apply one operation of a script, from the test's side; refusals by full mailboxes are fine."""
    kind, *args = op

    def who(index: int) -> Any:
        return observers[-index - 1] if index < 0 else members[index]

    try:
        match kind:
            case "link" | "monitor":
                rt.cast(who(args[0]), (kind, members[args[1]]))
            case "crash":
                rt.cast(members[args[0]], ("crash", args[1]))
            case "crash_call":
                crash = rt.call(members[args[0]], ("crash", args[1]), timeout=1.0)
                calls.append(asyncio.ensure_future(crash))
            case "stop":
                rt.cast(members[args[0]], ("stop", args[1]))
            case "kill":
                rt.exit(members[args[0]], "kill")
            case "exit":
                rt.exit(members[args[0]], args[1])
            case "call":
                calls.append(asyncio.ensure_future(rt.call(members[args[0]], args[1], timeout=args[2])))
            case "member_call":
                if args[0] != args[1]:
                    rt.cast(members[args[0]], ("call", members[args[1]], args[2]))
            case "stray":
                rt.send(members[args[0]], "stray" if args[1] else Unprintable())
            case "spawn_link":
                rt.cast(members[args[0]], ("spawn_link",))
    except MailboxFull:
        pass


async def play(script: tuple, trace: bool) -> dict[str, Any]:
    """Run ``script``; returns what the checks need."""
    seed, observer_count, member_specs, batches = script
    log: list = []
    calls: list = []
    async with Runtime(clock="virtual", seed=seed, trace=trace) as rt:
        observers = [rt.spawn(Observer, log) for _ in range(observer_count)]
        members = [
            rt.spawn(AsyncMember if is_async else Member, log, trap, mailbox=POLICIES[policy])
            for is_async, trap, policy in member_specs
        ]
        for pid in members:  # the first observer hears every member's exit reason
            rt.cast(observers[0], ("monitor", pid))
        await rt.wait_idle()
        for ops, gap in batches:
            for op in ops:
                apply(rt, op, observers, members, calls)
            await asyncio.sleep(gap)
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    return {
        "log": log,
        "outcomes": outcomes,
        "observers": observers,
        "members": members,
        "left": rt.processes(),
        "runnable": rt.statistics().runnable,
        "tasks": [task for task in asyncio.all_tasks() if task is not asyncio.current_task()],
        "digest": rt.trace_digest() if trace else None,
    }


def run_script(script: tuple, trace: bool = False) -> dict[str, Any]:
    """Play ``script`` on a fresh virtual loop that raises ``Deadlock`` instead of hanging."""
    with asyncio.Runner(loop_factory=lambda: VirtualEventLoop(deadlock_after=0.5)) as runner:
        return runner.run(play(script, trace))


def replay(script: tuple) -> str:
    """The trace digest of ``script`` (what a fresh interpreter prints)."""
    return run_script(script, trace=True)["digest"]


# The model -------------------------------------------------------------------------------------


def check(run: dict[str, Any]) -> None:
    """Assert the invariants of the module docstring on one run."""
    assert [] == run["left"]
    assert 0 == run["runnable"]
    assert [] == run["tasks"]
    for outcome in run["outcomes"]:
        assert outcome == "pong" or isinstance(outcome, ALLOWED_CALL_ERRORS), repr(outcome)

    log = run["log"]
    heard = [(entry[1], entry[2]) for entry in log if entry[0] == "heard"]
    downs = [msg.ref for _, msg in heard if type(msg) is Down]
    assert len(downs) == len(set(downs)), "a Down was delivered twice"
    for outcome in (entry[2] for entry in log if entry[0] == "called"):
        assert outcome == "pong" or isinstance(outcome, ALLOWED_CALL_ERRORS), repr(outcome)
    exits = [(who, msg) for who, msg in heard if type(msg) is Exit]
    linked_exits = Counter((who, msg.pid) for who, msg in exits if msg.reason != "noproc")
    assert all(count == 1 for count in linked_exits.values()), "a link's exit was heard twice"

    registrar = run["observers"][0]
    live_refs = {entry[2] for entry in log if entry[0] == "monitor" and entry[1] == registrar and entry[4]}
    reasons = {msg.pid: msg.reason for who, msg in heard if type(msg) is Down and msg.ref in live_refs}
    assert set(run["members"]) == set(reasons), "the first observer missed a member's exit"
    for observer in run["observers"]:
        check_observer(observer, log, heard, reasons)


def check_observer(observer: Any, log: list, heard: list, reasons: dict) -> None:
    """Every monitor and link ``observer`` made was answered exactly once, with the right reason."""
    monitors = {entry[2]: entry[3:] for entry in log if entry[0] == "monitor" and entry[1] == observer}
    downs = {msg.ref: msg for who, msg in heard if who == observer and type(msg) is Down}
    assert set(monitors) == set(downs), "a monitor got no Down"
    for ref, (target, alive) in monitors.items():
        expected = reasons[target] if alive else "noproc"
        assert (target, format_reason(expected)) == (downs[ref].pid, format_reason(downs[ref].reason))

    links = [entry[2:] for entry in log if entry[0] == "link" and entry[1] == observer]
    expected_exits: Counter = Counter()
    for target in {target for target, alive in links if alive}:
        expected_exits[target, format_reason(reasons[target])] += 1
    for target, alive in links:
        if not alive:
            expected_exits[target, "noproc"] += 1
    exits = [msg for who, msg in heard if who == observer and type(msg) is Exit]
    assert expected_exits == Counter((msg.pid, format_reason(msg.reason)) for msg in exits)


# Properties ------------------------------------------------------------------------------------

#: A named hazard: an async member's burst task is created, and a kill in the next batch cancels
#: it before its first step.
KILLED_BEFORE_FIRST_STEP = (
    0,
    1,
    ((True, False, 0), (False, False, 0)),
    (((("stray", 0, True),), 0.0), ((("kill", 0),), 0.0)),
)

#: The same burst cancelled by a crash of a linked sync member later in the same batch (the
#: scheduler seed 1 puts the async member first).
CANCELLED_BY_LINKED_CRASH = (
    1,
    1,
    ((True, False, 0), (False, False, 0)),
    (((("link", 1, 0),), 0.25), ((("stray", 0, True), ("crash", 1, "value")), 0.0)),
)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(script=scripts())
@example(script=KILLED_BEFORE_FIRST_STEP)
@example(script=CANCELLED_BY_LINKED_CRASH)
def test_random_actor_systems_hear_every_exit_once_and_leave_nothing_running(script: tuple) -> None:
    """Links, monitors, crashes, kills and calls in shared batches, under a random scheduler seed."""
    with structlog.testing.capture_logs():  # crash reports by the hundred, kept out of the output
        run = run_script(script)

    check(run)


@settings(max_examples=3, deadline=None, derandomize=True, database=None)
@given(script=scripts(printable=True))
def test_random_actor_systems_replay_the_same_trace_under_another_hash_seed(script: tuple) -> None:
    """A fresh interpreter with ``PYTHONHASHSEED`` 1 and 2 records the same trace digest.

    Unprintable values stay out of these scripts: the trace renders with ``repr``.
    """
    code = (
        "import ast, sys; from tests.runtime.test_properties import replay; "
        "print(replay(ast.literal_eval(sys.argv[1])))"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code, repr(script)],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for hash_seed in ("1", "2")
    ]
    with structlog.testing.capture_logs():
        digest = replay(script)

    for child in children:
        out, err = child.communicate(timeout=60)
        assert 0 == child.returncode, err
        assert digest == out.splitlines()[-1]  # the digest follows the run's log lines
