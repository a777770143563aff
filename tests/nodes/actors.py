"""Actors the node tests start on their nodes (importable, so Ray's workers find them)."""

from __future__ import annotations

import asyncio
from typing import Any

from neural_actors.runtime import Actor, NoReply, Pid, message


@message
class Get:
    """Answer with what was seen so far."""


@message
class WaitFor:
    """Answer once ``count`` items have been seen (at once if they have)."""

    count: int


@message
class Crash:
    reason: str = "boom"


class Collector(Actor):
    """Keeps every cast and info message; answers ``WaitFor`` when enough have come."""

    def init(self, mode: str = "", trap: bool = False) -> None:
        if mode == "crash":
            raise ValueError("asked to crash")
        self.trap_exit = trap
        self.seen: list[Any] = []
        self.waiting: list[tuple[int, Any]] = []

    def handle_cast(self, msg: Any) -> None:
        if type(msg) is Crash:
            raise ValueError(msg.reason)
        self.note(msg)

    def handle_info(self, msg: Any) -> None:
        self.note(msg)

    def note(self, item: Any) -> None:
        self.seen.append(item)
        still = []
        for count, caller in self.waiting:
            if len(self.seen) >= count:
                caller.reply(tuple(self.seen))
            else:
                still.append((count, caller))
        self.waiting = still

    def handle_call(self, msg: Any, caller: Any) -> Any:
        match msg:
            case Get():
                return tuple(self.seen)
            case WaitFor(count) if len(self.seen) >= count:
                return tuple(self.seen)
            case WaitFor(count):
                self.waiting.append((count, caller))
                return NoReply
            case Crash(reason):
                raise ValueError(reason)
        return msg


class Linker(Collector):
    """A collector that traps exits and links, monitors or calls on request (casts of tuples)."""

    def init(self, mode: str = "", trap: bool = True) -> None:
        super().init(mode, trap)

    def handle_cast(self, msg: Any) -> None:
        match msg:
            case ("link", pid):
                self.link(pid)
            case ("unlink", pid):
                self.unlink(pid)
            case ("monitor", pid):
                self.note(("ref", self.monitor(pid)))
            case _:
                super().handle_cast(msg)


class Echo(Actor):
    """Answers every call with the request."""

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return msg


class Announcer(Actor):
    """Tells ``reporter`` its pid when it starts (each incarnation); echoes calls."""

    def init(self, reporter: Any) -> None:
        self.cast(reporter, ("started", self.pid))

    def handle_call(self, msg: Any, caller: Any) -> Any:
        if type(msg) is Crash:
            raise ValueError(msg.reason)
        return msg


class Hold(Actor):
    """Never answers a call (it keeps the caller waiting)."""

    def handle_call(self, msg: Any, caller: Any) -> Any:
        return NoReply


class Sleepy(Actor):
    """Answers a call after ``seconds`` of real time (an async actor)."""

    async def handle_call(self, seconds: float, caller: Any) -> float:
        await asyncio.sleep(seconds)
        return seconds


__all__ = ["Announcer", "Collector", "Crash", "Echo", "Get", "Hold", "Linker", "Pid", "Sleepy", "WaitFor"]
