"""The model store: named models, files read once per version, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from neural_actors.runtime import freeze

from neural_actors.errors import ModelNotFound
from neural_actors.model_store import ModelStore


def test_a_named_model_is_frozen_and_shared() -> None:
    store = ModelStore()
    stored = store.put("m", (np.arange(3.0),))

    assert stored is store.load("store:m", loader=np.load)
    assert not stored[0].flags.writeable


def test_a_file_is_read_once_per_version(tmp_path) -> None:
    """Loading a file again gives the same object until the file changes on disk."""
    path = tmp_path / "a.npy"
    np.save(path, np.arange(4.0))
    reads = []

    def loader(where: str) -> np.ndarray:
        reads.append(where)
        return np.load(where)

    store = ModelStore()
    first = store.load(str(path), loader)
    again = store.load(str(path), loader)
    np.save(path, np.arange(5.0))
    os.utime(path, ns=(1, 1))  # a new version even within the file system's time resolution
    changed = store.load(str(path), loader)

    assert first is again
    assert [0, 1, 2, 3, 4] == changed.tolist()
    assert 2 == len(reads)
    assert not changed.flags.writeable


def test_unknown_sources_name_what_is_known(tmp_path) -> None:
    store = ModelStore()
    store.put("one", freeze(np.zeros(2)))

    with pytest.raises(ModelNotFound) as unnamed:
        store.load("store:two", np.load)
    with pytest.raises(ModelNotFound) as missing:
        store.load(str(tmp_path / "none.npz"), np.load)

    assert "model 'store:two': no model is stored under 'two' (stored: one)" == str(unnamed.value)
    assert str(missing.value).startswith(f"model '{tmp_path / 'none.npz'}': no such file")


def test_a_model_that_cannot_be_frozen_is_refused() -> None:
    with pytest.raises(TypeError) as caught:
        ModelStore().put("m", object())

    assert str(caught.value).startswith("cannot freeze value: ")
