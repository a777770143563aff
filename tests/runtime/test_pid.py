"""Pids and refs: immutable, hashable, printed like Erlang's, never reused."""

import attrs
import pytest
from neural_actors.runtime import Pid, Ref, Runtime

from .helpers import Recorder


def test_pid_and_ref_print_like_erlang() -> None:
    """``<node.core.serial>`` and ``#Ref<node.serial>``."""
    assert ("<0.3.17>", "#Ref<0.42>") == (repr(Pid(0, 3, 17)), repr(Ref(0, 42)))


def test_pids_are_immutable_values() -> None:
    """Equal fields mean equal, hashable pids; fields cannot be assigned."""
    pid = Pid(1, 2, 3)

    assert {pid: "x"}[Pid(1, 2, 3)] == "x"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        pid.serial = 4  # type: ignore[misc]


@pytest.mark.asyncio
async def test_serials_are_never_reused(actor_runtime: Runtime) -> None:
    """Spawning after exits never hands out an old pid; refs are unique too."""
    first = actor_runtime.spawn(Recorder)
    await actor_runtime.stop(first)
    later = [actor_runtime.spawn(Recorder) for _ in range(5)]

    assert first not in later
    assert len({first, *later}) == 6
    assert actor_runtime.make_ref() != actor_runtime.make_ref()
