"""The public front door: every name imports, presents itself as ``neural_actors.X``, and
every public value survives pickling (the road to other processes and nodes)."""

import pickle

import pytest

import neural_actors as na
from neural_actors import runtime, supervisors

#: Names the layers export for the layers above and for transports, left out of the front door.
LOW_LEVEL = {
    "Delivery", "Logger", "SignalKind", "Transport", "check_seconds", "check_shutdown", "format_reason",
    "STRATEGIES", "ProcessHooks", "RemoteKind", "RemoteRoute", "NODE_PLACEMENTS",
}


def test_the_front_door_exports_every_public_name_of_the_layers() -> None:
    """A name the runtime or supervisors export is in ``neural_actors.__all__`` unless low level."""
    layer_names = set(runtime.__all__) | set(supervisors.__all__)

    assert set() == layer_names - LOW_LEVEL - set(na.__all__)
    assert set() == LOW_LEVEL - layer_names  # the exceptions list names that still exist


@pytest.mark.parametrize("name", na.__all__)
def test_every_public_name_imports(name: str) -> None:
    """Each name in ``__all__`` is an attribute of the package."""
    assert getattr(na, name) is not None


@pytest.mark.parametrize("name", [n for n in na.__all__ if isinstance(getattr(na, n), type)])
def test_public_classes_say_their_public_module(name: str) -> None:
    """Reprs and tracebacks show ``neural_actors.X``, not the private module path."""
    assert "neural_actors" == getattr(na, name).__module__


class _Worker(na.Actor):
    pass


PUBLIC_VALUES = [
    na.Pid(0, 3, 17),
    na.Ref(0, 42),
    na.Exit(na.Pid(0, 0, 1), "shutdown"),
    na.Down(na.Ref(0, 1), na.Pid(0, 0, 1), "noproc"),
    na.FrozenDict({"a": 1}),
    na.Continue("load"),
    na.Ignore(),
    na.NoReply,
    na.MailboxPolicy(8, "drop_oldest"),
    na.Backoff(min=1, max=8),
    na.SupervisorFlags(strategy="rest_for_one", intensity=3, period=10),
    na.ChildSpec(id="w", start=(_Worker, (1, "x")), restart="transient"),
]

PUBLIC_ERRORS = [
    na.ActorExited(na.Pid(0, 0, 1), "killed"),
    na.NoProcess("cache"),
    na.CallTimeout(na.Pid(0, 0, 1), "get", 5.0),
    na.MailboxFull(na.Pid(0, 0, 1), 8, "fail"),
    na.NameTaken("cache", na.Pid(0, 0, 1)),
    na.StartFailed("Worker", "boom"),
    na.StartIgnored("Worker"),
    na.SupervisorError("not_found", "w"),
    na.InvalidChildSpec("restart", "permenant", "is not one of permanent, transient, temporary"),
    na.ChildRestarting("w", "cache"),
    na.Deadlock(["task 'main' waits"], 5.0),
]


@pytest.mark.parametrize("value", PUBLIC_VALUES, ids=lambda v: type(v).__name__)
def test_public_values_pickle_to_equal_values(value: object) -> None:
    """Specs, flags, pids and signals cross a process boundary unchanged."""
    assert value == pickle.loads(pickle.dumps(value))


@pytest.mark.parametrize("error", PUBLIC_ERRORS, ids=lambda e: type(e).__name__)
def test_public_errors_pickle_with_their_message(error: Exception) -> None:
    """An error from another process reads the same as a local one."""
    copy = pickle.loads(pickle.dumps(error))

    assert (type(error), str(error)) == (type(copy), str(copy))


def test_exception_names_in_tracebacks() -> None:
    """An exception's type prints with the public path."""
    assert "neural_actors.ActorExited" == f"{na.ActorExited.__module__}.{na.ActorExited.__qualname__}"
