"""Small actors shared by the runtime tests."""

import asyncio

from neural_actors.runtime import Actor, Continue, NoReply, Stop, message


@message
class Get:
    pass


@message
class Crash:
    reason: str = "boom"


@message
class Sleep:
    seconds: float


class Recorder(Actor):
    """Records every cast and info message; answers ``Get`` with the record."""

    def init(self, trap: bool = False) -> None:
        self.seen: list = []
        self.trap_exit = trap

    def handle_cast(self, msg):
        if type(msg) is Crash:
            raise ValueError(msg.reason)
        self.seen.append(msg)

    def handle_info(self, msg):
        self.seen.append(msg)

    def handle_call(self, msg, caller):
        match msg:
            case Get():
                return tuple(self.seen)
            case Crash(reason):
                raise ValueError(reason)
            case Stop():
                raise msg


class Sleeper(Actor):
    """Answers calls after sleeping (an async actor)."""

    async def handle_call(self, msg, caller):
        await asyncio.sleep(msg.seconds)
        return msg.seconds


class Deferred(Actor):
    """Keeps callers and answers them all on the next cast."""

    def init(self) -> None:
        self.waiting = []

    def handle_call(self, msg, caller):
        self.waiting.append(caller)
        return NoReply

    def handle_cast(self, msg):
        for caller in self.waiting:
            caller.reply(msg)
        self.waiting.clear()


class Continuing(Actor):
    """Finishes its set-up in ``handle_continue``."""

    def init(self) -> object:
        self.steps = ["init"]
        return Continue("load")

    def handle_continue(self, term):
        self.steps.append(term)

    def handle_call(self, msg, caller):
        return tuple(self.steps)
