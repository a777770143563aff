"""Small actors and trees shared by the fault tests."""

from neural_actors.runtime import Actor, NoReply, message
from neural_actors.supervisors import ChildSpec, Supervisor, SupervisorFlags


@message
class Ping:
    n: int


@message
class Pong:
    n: int


class Echo(Actor):
    """Answers a call with its request; records casts and infos in order, and its calls."""

    def init(self, group: str | None = None) -> None:
        self.seen: list = []
        if group is not None:
            self.runtime.join(group, self.pid)

    def handle_call(self, msg, caller):
        if msg == "seen":
            return tuple(self.seen)
        self.seen.append(("call", msg))
        return msg

    def handle_cast(self, msg):
        self.seen.append(msg)

    def handle_info(self, msg):
        self.seen.append(msg)


class Silent(Actor):
    """Takes every call and never answers it, nor keeps the caller: a bug that strands callers."""

    def handle_call(self, msg, caller):
        return NoReply


def echo_tree(*names: str, intensity: int = 10, period: float = 1.0, group: str | None = None) -> ChildSpec:
    """A root supervisor ``root`` over named ``Echo`` workers."""
    children = tuple(ChildSpec(id=name, start=(Echo, (group,)), name=name) for name in names)
    flags = SupervisorFlags(intensity=intensity, period=period)
    return ChildSpec(id="root", start=(Supervisor, (flags, children)), type="supervisor", name="root")
