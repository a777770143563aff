"""The public front door: every name imports and presents itself as ``neural_actors.X``."""

import pickle

import pytest

import neural_actors as na


@pytest.mark.parametrize("name", na.__all__)
def test_every_public_name_imports(name: str) -> None:
    """Each name in ``__all__`` is an attribute of the package."""
    assert getattr(na, name) is not None


@pytest.mark.parametrize("name", [n for n in na.__all__ if isinstance(getattr(na, n), type)])
def test_public_classes_say_their_public_module(name: str) -> None:
    """Reprs and tracebacks show ``neural_actors.X``, not the private module path."""
    assert "neural_actors" == getattr(na, name).__module__


def test_public_values_still_pickle() -> None:
    """A pid survives pickling under its public module name."""
    pid = na.Pid(0, 3, 17)

    assert pid == pickle.loads(pickle.dumps(pid))


def test_exception_names_in_tracebacks() -> None:
    """An exception's type prints with the public path."""
    assert "neural_actors.ActorExited" == f"{na.ActorExited.__module__}.{na.ActorExited.__qualname__}"
