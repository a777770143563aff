"""Driving actors from plain, synchronous code (a script, a Flask or Django view).

``Runtime.blocking()`` runs the runtime on its own loop thread; every call blocks the calling
thread until done and raises what the async call would. Run: ``python examples/sync_bridge.py``.
"""

import neural_actors as na


class Doubler(na.Actor):
    def handle_call(self, msg: int, caller: na.Caller) -> int:
        return 2 * msg


def main() -> None:
    with na.Runtime.blocking() as rt:
        pid = rt.spawn(Doubler, name="doubler")
        print(rt.call(pid, 21))  # 42
        try:
            rt.call("nobody", 1)
        except na.NoProcess as missing:
            print(missing)  # no process is registered as 'nobody'


if __name__ == "__main__":
    main()
