"""A supervision tree that survives a crash: the crashed worker is restarted under its name.

Run: ``python examples/supervision_tree.py``.
"""

import neural_actors as na


class Worker(na.Actor):
    def init(self, model: str) -> None:
        self.model = model

    def handle_call(self, msg: str, caller: na.Caller) -> str:
        if msg == "crash":
            raise RuntimeError("worker crashed")
        return f"{self.model} serves {msg}"


async def main() -> None:
    async with na.Runtime(log_level="warning") as rt:
        children = [na.ChildSpec(id=f"w{i}", start=(Worker, (f"model-{i}",)), name=f"w{i}") for i in range(3)]
        await rt.start(na.Supervisor, na.SupervisorFlags(strategy="one_for_one", intensity=3, period=5), children)
        try:
            await rt.call("w1", "crash")
        except na.ActorExited as exited:
            print("w1 crashed:", exited.reason)
        await rt.wait_idle()
        print(await rt.call("w1", "hello"))  # model-1 serves hello


if __name__ == "__main__":
    na.run(main)
