"""FFFLeafWeights: construction checks, init, hard/soft forwards, and the .npz round trip."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from neural_actors.kernels.aligned import CACHE_LINE

from neural_actors.fff_model import FORMAT_VERSION, PARAMETER_NAMES, FFFLeafWeights


@pytest.fixture
def weights() -> FFFLeafWeights:
    return FFFLeafWeights.init(d_in=5, d_out=3, depth=2, leaf_width=4, seed=7)


def test_init_shapes_dtype_and_scale(weights: FFFLeafWeights) -> None:
    """Heap-shaped float32 arrays, uniform within ±1/sqrt(fan_in), reproducible from the seed."""
    assert (weights.depth, weights.d_in, weights.d_out, weights.leaf_width) == (2, 5, 3, 4)
    assert weights.training_width == 16
    assert weights.node_w.shape == (3, 5) and weights.leaf_w2.shape == (4, 4, 3)
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in weights.arrays().values())
    assert np.abs(weights.leaf_w1).max() <= 1 / np.sqrt(5) and np.abs(weights.leaf_w2).max() <= 1 / np.sqrt(4)
    again = FFFLeafWeights.init(d_in=5, d_out=3, depth=2, leaf_width=4, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(weights.arrays().values(), again.arrays().values(), strict=True))


def test_constructor_names_the_mismatched_array(weights: FFFLeafWeights) -> None:
    arrays = weights.arrays() | {"leaf_b1": np.zeros((4, 5), np.float32)}
    with pytest.raises(ValueError, match=r"leaf_b1 must have shape \(4, 4\) for depth 2 \(got \(4, 5\)\)"):
        FFFLeafWeights(**arrays)
    with pytest.raises(ValueError, match="node_w holds NaN"):
        FFFLeafWeights(**(weights.arrays() | {"node_w": np.full((3, 5), np.nan)}))
    with pytest.raises(ValueError, match="depth must be an integer >= 0"):
        FFFLeafWeights.init(d_in=5, d_out=3, depth=-1, leaf_width=4, seed=0)


def test_hard_equals_soft_when_decisions_saturate(weights: FFFLeafWeights) -> None:
    """With huge node logits every soft decision is exactly 0 or 1: the soft tree is the hard walk."""
    x = np.random.default_rng(0).standard_normal((20, 5)).astype(np.float32)
    arrays = weights.arrays()
    sharp = FFFLeafWeights(**(arrays | {"node_w": arrays["node_w"] * 1e4, "node_b": arrays["node_b"] * 1e4}))
    y_soft, probs = sharp.soft(x)
    assert set(np.unique(probs)) <= {0.0, 1.0}
    np.testing.assert_allclose(y_soft, sharp.hard(x), rtol=1e-5, atol=1e-5)


def test_save_load_round_trip(weights: FFFLeafWeights, tmp_path: Path) -> None:
    """Equal arrays and outputs; the file is written at exactly the given path."""
    path = tmp_path / "model.weights"
    weights.save(path)
    loaded = FFFLeafWeights.load(path)
    for name in PARAMETER_NAMES:
        assert np.array_equal(getattr(loaded, name), getattr(weights, name)), name
        assert getattr(loaded, name).dtype == np.float32
        assert getattr(loaded, name).ctypes.data % CACHE_LINE == 0, name  # the kernels run faster so
    x = np.random.default_rng(1).standard_normal((9, 5)).astype(np.float32)
    assert np.array_equal(loaded.hard(x), weights.hard(x))
    assert np.array_equal(loaded.soft(x)[0], weights.soft(x)[0])


def _write(path: Path, weights: FFFLeafWeights, **overrides: object) -> Path:
    """An archive like ``save`` writes, with entries replaced (or removed, for ``None``)."""
    entries = {"format_version": np.int64(FORMAT_VERSION), "depth": np.int64(weights.depth),
               "d_in": np.int64(weights.d_in), "d_out": np.int64(weights.d_out),
               "leaf_width": np.int64(weights.leaf_width), **weights.arrays()}
    entries.update(overrides)
    np.savez(path, **{k: v for k, v in entries.items() if v is not None})
    return path


def test_load_wrong_shape_names_file_array_and_shapes(weights: FFFLeafWeights, tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.npz", weights, leaf_w2=np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError) as error:
        FFFLeafWeights.load(path)
    message = str(error.value)
    assert str(path) in message and "'leaf_w2'" in message
    assert "(4, 4, 2)" in message and "expected (4, 4, 3)" in message


def test_load_shapes_disagreeing_with_metadata(weights: FFFLeafWeights, tmp_path: Path) -> None:
    """Consistent arrays of another depth are refused too: the metadata is the contract."""
    path = _write(tmp_path / "depth.npz", weights, depth=np.int64(3))
    with pytest.raises(ValueError, match=r"'node_w' has shape \(3, 5\), expected \(7, 5\) for depth=3"):
        FFFLeafWeights.load(path)


@pytest.mark.parametrize("missing", ["node_b", "format_version", "leaf_width"])
def test_load_missing_key(weights: FFFLeafWeights, tmp_path: Path, missing: str) -> None:
    path = _write(tmp_path / "missing.npz", weights, **{missing: None})
    with pytest.raises(ValueError, match=f"missing entry '{missing}'") as error:
        FFFLeafWeights.load(path)
    assert str(path) in str(error.value)


def test_load_unknown_version(weights: FFFLeafWeights, tmp_path: Path) -> None:
    path = _write(tmp_path / "future.npz", weights, format_version=np.int64(FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=f"unknown format_version {FORMAT_VERSION + 1}") as error:
        FFFLeafWeights.load(path)
    assert str(path) in str(error.value)


def test_load_rejects_other_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(ValueError, match="not an FFF weights .npz archive") as error:
        FFFLeafWeights.load(text)
    assert str(text) in str(error.value)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        FFFLeafWeights.load(single)


def _npy(array_header: dict | None = None, array: np.ndarray | None = None) -> bytes:
    """An ``.npy`` entry: ``array`` whole, or only a header (no data) describing another array."""
    buffer = io.BytesIO()
    if array is not None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array_header_1_0(buffer, array_header)
    return buffer.getvalue()


def _archive(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(f"{name}.npy", data)
    return path


def _error(path: Path) -> str:
    """The message of the ``ValueError`` that loading ``path`` raises."""
    with pytest.raises(ValueError) as error:
        FFFLeafWeights.load(path)
    return str(error.value)


def test_load_refuses_an_absurd_depth_before_computing_with_it(weights: FFFLeafWeights, tmp_path: Path) -> None:
    """A 4 KB file claiming ``depth = 2**40`` is refused from its metadata alone (``2**depth``
    leaves would take minutes to compute and more memory than exists to hold)."""
    path = _write(tmp_path / "deep.npz", weights, depth=np.int64(2**40))

    assert f"{path}: metadata depth = {2**40} is out of range (expected 0 to 62)" == _error(path)


def test_load_refuses_an_array_bigger_than_the_file(tmp_path: Path) -> None:
    """Metadata and an entry's header agreeing on a 64 GiB array that the file does not hold:
    refused before anything is allocated."""
    depth, d_in = 24, 1024
    metadata = {"format_version": FORMAT_VERSION, "depth": depth, "d_in": d_in, "d_out": 1, "leaf_width": 1}
    entries = {name: _npy(array=np.int64(value)) for name, value in metadata.items()}
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**depth - 1, d_in)}
    path = _archive(tmp_path / "huge.npz", entries | {"node_w": _npy(header)})

    message = _error(path)

    assert message.startswith(f"{path}: entry 'node_w' claims {4 * (2**depth - 1) * d_in} bytes of data")


def test_load_refuses_a_header_whose_shape_disagrees_before_reading(weights: FFFLeafWeights, tmp_path: Path) -> None:
    """An entry's header is checked against the metadata before its data is read."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (2**34,)}
    with zipfile.ZipFile(_write(tmp_path / "good.npz", weights)) as good:
        entries = {name.removesuffix(".npy"): good.read(name) for name in good.namelist()}
    path = _archive(tmp_path / "liar.npz", entries | {"node_b": _npy(header)})

    assert (f"{path}: array 'node_b' has shape {(2**34,)}, expected (3,) for depth=2, d_in=5, d_out=3, "
            "leaf_width=4") == _error(path)


def test_load_refuses_a_directory(tmp_path: Path) -> None:
    assert f"{tmp_path}: a directory, not an FFF weights .npz archive" == _error(tmp_path)


def test_load_refuses_an_object_array(weights: FFFLeafWeights, tmp_path: Path) -> None:
    """Pickled objects are never unpickled: the entry's header says what it holds."""
    path = _write(tmp_path / "pickle.npz", weights, node_w=np.full((3, 5), None, dtype=object))

    assert f"{path}: array 'node_w' has dtype object, expected floating point" == _error(path)


def test_every_flipped_byte_is_a_value_error_naming_the_file(tmp_path: Path) -> None:
    """Flip each byte of a saved file in turn (every third, to stay fast): the load succeeds
    (the byte was a timestamp or a name nobody reads) or raises ``ValueError`` naming the file;
    never ``zipfile.BadZipFile``, ``EOFError``, ``NotImplementedError`` or ``OSError``."""
    good = tmp_path / "good.npz"
    FFFLeafWeights.init(d_in=2, d_out=1, depth=1, leaf_width=1, seed=0).save(good)
    data = good.read_bytes()
    path = tmp_path / "flipped.npz"
    outcomes = set()
    for offset in range(0, len(data), 3):
        path.write_bytes(data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1:])
        try:
            FFFLeafWeights.load(path)
            outcomes.add("loaded")
        except ValueError as error:
            assert str(error).startswith(f"{path}: "), (offset, str(error))
            outcomes.add("refused")

    assert {"loaded", "refused"} == outcomes


def test_load_reads_a_compressed_archive(weights: FFFLeafWeights, tmp_path: Path) -> None:
    """The same entries written by ``np.savez_compressed`` load alike."""
    with zipfile.ZipFile(_write(tmp_path / "plain.npz", weights)) as plain:
        entries = {name: plain.read(name) for name in plain.namelist()}
    path = tmp_path / "compressed.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)

    loaded = FFFLeafWeights.load(path)

    assert all(np.array_equal(getattr(loaded, n), getattr(weights, n)) for n in PARAMETER_NAMES)
