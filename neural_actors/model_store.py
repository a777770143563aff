"""Model weights by name or by file, loaded once per host and shared read-only by every actor.

A model actor is started from a *source*, a string its ``ChildSpec`` keeps: a path to a file
(``models/digits.npz``), ``shipped:NAME`` for a model that ships with the package
(``neural_actors/models/NAME``), or ``store:NAME`` for a model put in this process's store. Every
incarnation loads from its source in ``init``: a restarted actor gets its weights from where
they live, never from the state of the incarnation that crashed.

Loading the same file again costs nothing: the store keeps each file's model, keyed by the
loader and the file's path, size and modification time, so replicas on one host share one copy
(and a file replaced on disk is read again). Models are immutable values (``freeze``), so
sharing them is safe: nobody can write into arrays a frozen model holds.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar, final

from neural_actors.runtime import check_immutable, freeze

from .errors import ModelNotFound

__all__ = ["SHIPPED", "SHIPPED_PREFIX", "STORE_PREFIX", "ModelStore", "load_model", "model_store", "put_model"]

#: A source that starts with this names a model put in the store by name.
STORE_PREFIX = "store:"

#: A source that starts with this names a file of ``SHIPPED``, the models the package ships.
SHIPPED_PREFIX = "shipped:"

#: Where the shipped models are (installed with the package).
SHIPPED = os.path.join(os.path.dirname(__file__), "models")

M = TypeVar("M")


@final
class ModelStore:
    """Named models and the models of files already read, for one process."""

    def __init__(self) -> None:
        self._named: dict[str, Any] = {}
        self._files: dict[tuple[Callable[..., Any], str], tuple[tuple[int, int], Any]] = {}
        self._lock = threading.Lock()  # loads may run on worker threads

    def put(self, name: str, model: Any) -> Any:
        """Keep ``model`` (frozen) under ``name``, replacing what was there; returns the frozen
        model, which ``load("store:NAME")`` gives every actor from now on.

        Raises:
            TypeError: ``model`` has no immutable equivalent (naming what cannot be frozen).
            ValueError: ``name`` is empty.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a model name must be a non-empty str (got {name!r})")
        frozen = freeze(model)
        check_immutable(frozen, f"model {name!r}")
        with self._lock:
            self._named[name] = frozen
        return frozen

    def remove(self, name: str) -> None:
        """Forget the model named ``name`` (running actors keep theirs until they restart)."""
        with self._lock:
            self._named.pop(name, None)

    def clear(self) -> None:
        """Forget every named model and every file read."""
        with self._lock:
            self._named.clear()
            self._files.clear()

    def load(self, source: str, loader: Callable[[str], M]) -> M:
        """The model of ``source``: ``store:NAME``, or a file path read by ``loader`` once per
        version of the file.

        Args:
            source: ``store:NAME``, ``shipped:NAME`` or a path (relative to the working
                directory).
            loader: reads a path into a model, e.g. ``MoEModel.load``; its result is frozen.

        Raises:
            ModelNotFound: no model has that name, or no file is at that path.
            ValueError: the loader refused the file (its message names what is wrong).
        """
        if not isinstance(source, str):
            raise TypeError(f"a model source must be a str (got {source!r})")
        if source.startswith(STORE_PREFIX):
            name = source[len(STORE_PREFIX):]
            with self._lock:
                if name in self._named:
                    return self._named[name]
                known = ", ".join(sorted(self._named)) or "none"
            raise ModelNotFound(source, f"no model is stored under {name!r} (stored: {known})")
        where = os.path.join(SHIPPED, source[len(SHIPPED_PREFIX):]) if source.startswith(SHIPPED_PREFIX) else source
        path = os.path.realpath(where)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            raise ModelNotFound(source, f"no such file ({path})") from None
        version = (status.st_size, status.st_mtime_ns)
        with self._lock:
            cached = self._files.get((loader, path))
        if cached is not None and cached[0] == version:
            return cached[1]
        model = freeze(loader(path))
        with self._lock:
            self._files[loader, path] = (version, model)
        return model


#: This process's store: every actor of every runtime in the process shares it.
model_store = ModelStore()


def load_model(source: str, loader: Callable[[str], M]) -> M:
    """``model_store.load(source, loader)``: the model of a source, shared on this host."""
    return model_store.load(source, loader)


def put_model(name: str, model: Any) -> Any:
    """``model_store.put(name, model)``: keep ``model`` (frozen) for sources ``store:NAME``."""
    return model_store.put(name, model)
