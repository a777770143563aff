"""A counter actor: a cast changes it, a call reads it. Run: ``python examples/first_actor.py``."""

import neural_actors as na


@na.message
class Add:
    n: int


class Counter(na.Actor):
    def init(self, start: int = 0) -> None:
        self.count = start

    def handle_cast(self, msg: Add) -> None:
        self.count += msg.n

    def handle_call(self, msg: str, caller: na.Caller) -> int:
        if msg == "get":
            return self.count
        raise ValueError(f"unknown request {msg!r}")


async def main() -> None:
    async with na.Runtime() as rt:
        pid = rt.spawn(Counter, 10, name="counter")
        rt.cast(pid, Add(5))
        print(await rt.call("counter", "get"))  # 15


if __name__ == "__main__":
    na.run(main)
