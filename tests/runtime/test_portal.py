"""The sync bridge: plain threads call and cast through ``Runtime.blocking()`` and get the same
errors as ``await rt.call`` raises, many threads at once."""

import concurrent.futures

import pytest
from neural_actors.runtime import (
    Actor,
    ActorExited,
    CallTimeout,
    MailboxFull,
    MailboxPolicy,
    NoProcess,
    NoReply,
    Runtime,
)


class Doubler(Actor):
    """Doubles numbers; ``"never"`` is never answered; a negative number crashes it."""

    def handle_call(self, msg, caller):
        if msg == "never":
            return NoReply
        if msg < 0:
            raise ValueError("negative")
        return 2 * msg

    def handle_cast(self, msg):
        pass


def test_threads_call_at_once_and_each_gets_its_own_answer() -> None:
    with Runtime.blocking(clock="virtual") as rt:
        rt.spawn(Doubler, name="doubler")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: rt.call("doubler", n), range(100)))

    assert [2 * n for n in range(100)] == answers


def test_blocking_calls_raise_what_async_calls_raise() -> None:
    """A timeout, a crash, an unknown name, a full mailbox, a mutable message: the same
    exceptions, with the same messages."""
    with Runtime.blocking(clock="virtual") as rt:
        pid = rt.spawn(Doubler)
        with pytest.raises(CallTimeout) as late:
            rt.call(pid, "never", timeout=2.0)
        with pytest.raises(ActorExited) as crashed:
            rt.call(pid, -1)
        with pytest.raises(NoProcess) as unknown:
            rt.call("nobody", 1)
        full = rt.spawn(Doubler, mailbox=MailboxPolicy(1, "fail"))

        async def cast_twice() -> None:  # in one turn of the loop, before the actor runs
            rt.runtime.cast(full, 1)
            rt.runtime.cast(full, 2)

        with pytest.raises(MailboxFull):
            rt.run(cast_twice)
        with pytest.raises(TypeError) as mutable:
            rt.cast(full, [1])

    assert f"no reply from {pid!r} to str within 2.0 s" == str(late.value)
    assert f"{pid!r} exited: ValueError: negative" == str(crashed.value)
    assert "no process is registered as 'nobody'" == str(unknown.value)
    assert "message: list is mutable; use a tuple or freeze()" == str(mutable.value)
