"""train_fff and train_dense on tiny separable data: learning, early stopping, hardening, logs."""

import sys
import types
from typing import ClassVar

import numpy as np
import pytest
import structlog.testing

from neural_actors.fff_model import FFFLeafWeights
from neural_actors.fff_trainer import DenseWeights, EpochRecord, TrainResult, train_dense, train_fff

FAST = {"epochs": 30, "batch_size": 16, "lr": 1e-2, "seed": 0, "progress": False}


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four well-separated Gaussian classes in 4-D."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    x = 3.0 * np.eye(4, dtype=np.float32)[labels] + 0.7 * rng.standard_normal((n, 4))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (*blobs(160, 0), *blobs(80, 1))


@pytest.fixture
def weights() -> FFFLeafWeights:
    return FFFLeafWeights.init(d_in=4, d_out=4, depth=2, leaf_width=4, seed=0)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def test_training_learns_and_leaves_the_input_alone(data: tuple, weights: FFFLeafWeights) -> None:
    x_val, y_val = data[2:]
    before = {name: array.copy() for name, array in weights.arrays().items()}
    result = train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **FAST)
    assert accuracy(weights.hard(x_val), y_val) < 0.5
    assert result.hard_accuracy >= 0.95 and result.soft_accuracy >= 0.95
    assert result.hard_accuracy == accuracy(result.weights.hard(x_val), y_val)
    assert result.soft_accuracy == accuracy(result.weights.soft(x_val)[0], y_val)
    assert all(np.array_equal(before[name], array) for name, array in weights.arrays().items())
    assert result.history[-1].cross_entropy < result.history[0].cross_entropy


def test_same_seed_same_run(data: tuple, weights: FFFLeafWeights) -> None:
    """Batches come from the seeded generator and the kernels are deterministic."""
    runs = [train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **FAST | {"epochs": 5})
            for _ in range(2)]
    assert runs[0].history == runs[1].history
    assert np.array_equal(runs[0].weights.leaf_w1, runs[1].weights.leaf_w1)


def test_early_stopping_restores_the_best_epoch(data: tuple, weights: FFFLeafWeights) -> None:
    """Unlearnable validation labels: no improvement for ``patience`` epochs ends the run."""
    x_train, y_train, x_val, _ = data
    noise = np.random.default_rng(5).integers(0, 4, len(x_val))
    result = train_fff(weights, x_train, y_train, x_val, noise, hardening=(0, 0, 1.0), patience=3,
                       **FAST | {"epochs": 50})
    assert result.stopped_early
    assert len(result.history) == result.best_epoch + 4 < 50
    best = result.history[result.best_epoch]
    assert best.improved and not any(r.improved for r in result.history[result.best_epoch + 1:])
    assert best.val_hard_accuracy == max(r.val_hard_accuracy for r in result.history)
    assert accuracy(result.weights.hard(x_val), noise) == best.val_hard_accuracy == result.hard_accuracy


def test_hardened_epochs_outrank_soft_ones(data: tuple, weights: FFFLeafWeights) -> None:
    """Once the hardening weight is above 0, the hard accuracy is judged, and the first such epoch
    improves on every soft-only epoch, even one with a higher hard accuracy."""
    result = train_fff(weights, *data, hardening=(4, 2, 3.0), patience=30, **FAST | {"epochs": 8})
    history = result.history
    assert [r.hardening_weight for r in history] == [0, 0, 0, 0, 0, 1.5, 3.0, 3.0]
    assert history[5].improved and result.best_epoch >= 5
    assert history[4].val_hard_accuracy > history[5].val_hard_accuracy  # this data shows the rule


def test_hardening_makes_hard_match_soft(data: tuple, weights: FFFLeafWeights) -> None:
    """Without hardening hard inference lags the soft tree; with it, they agree."""
    x_train = data[0]
    soft_only = train_fff(weights, *data, hardening=(0, 0, 0.0), patience=30, **FAST)
    hardened = train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **FAST)
    assert soft_only.soft_accuracy - soft_only.hard_accuracy > 0.05
    assert abs(hardened.soft_accuracy - hardened.hard_accuracy) <= 0.0125  # one of 80 tokens
    y_soft, _ = hardened.weights.soft(x_train)
    assert accuracy(y_soft, hardened.weights.hard(x_train).argmax(axis=1)) >= 0.98
    assert hardened.history[-1].entropy < 0.5 * soft_only.history[-1].entropy


def test_epochs_are_logged(data: tuple, weights: FFFLeafWeights) -> None:
    with structlog.testing.capture_logs() as events:
        result = train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **FAST | {"epochs": 3})
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]
    assert {"loss", "val_soft_accuracy", "val_hard_accuracy", "hardening_weight"} <= epochs[0].keys()
    assert all(e["log_level"] == "info" for e in epochs)
    assert epochs[-1]["loss"] == result.history[-1].loss
    (done,) = [e for e in events if e["event"] == "trained"]
    assert done["best_epoch"] == result.best_epoch and done["epochs_run"] == 3


class FakeBar:
    """Records what the trainer asks of a tqdm bar."""

    bars: ClassVar[list["FakeBar"]] = []

    def __init__(self, **options: object) -> None:
        self.options = options
        self.updates = 0
        self.postfixes: list[dict] = []
        self.closed = False
        FakeBar.bars.append(self)

    def update(self) -> None:
        self.updates += 1

    def set_postfix(self, **values: str) -> None:
        self.postfixes.append(values)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch: pytest.MonkeyPatch) -> list[FakeBar]:
    """``tqdm.auto.tqdm`` replaced by ``FakeBar`` (whether or not tqdm is installed)."""
    package, auto = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    package.auto = auto
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    monkeypatch.setattr(FakeBar, "bars", [])
    return FakeBar.bars


@pytest.mark.parametrize("train", ["fff", "dense"])
def test_progress_shows_a_bar_over_epochs_when_tqdm_is_installed(
    data: tuple, weights: FFFLeafWeights, fake_tqdm: list[FakeBar], train: str
) -> None:
    """One bar of ``epochs`` steps, advanced and labelled once per epoch, closed at the end."""
    settings = FAST | {"epochs": 3, "progress": True}
    if train == "fff":
        result = train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **settings)
    else:
        result = train_dense(DenseWeights.init(d_in=4, d_out=4, width=8, seed=0), *data, patience=30, **settings)

    (bar,) = fake_tqdm
    assert {"total": 3, "desc": "epochs", "unit": "epoch", "leave": False} == bar.options
    assert 3 == bar.updates and bar.closed
    last = result.history[-1]
    assert {"loss": f"{last.loss:.3f}", "soft": f"{last.val_soft_accuracy:.3f}",
            "hard": f"{last.val_hard_accuracy:.3f}"} == bar.postfixes[-1]


def test_the_bar_is_closed_when_training_stops_early(
    data: tuple, weights: FFFLeafWeights, fake_tqdm: list[FakeBar]
) -> None:
    x_train, y_train, x_val, _ = data
    noise = np.random.default_rng(5).integers(0, 4, len(x_val))
    settings = FAST | {"epochs": 50, "progress": True}
    result = train_fff(weights, x_train, y_train, x_val, noise, hardening=(0, 0, 1.0), patience=3, **settings)

    (bar,) = fake_tqdm
    assert result.stopped_early and len(result.history) == bar.updates and bar.closed


def test_no_bar_without_progress(data: tuple, weights: FFFLeafWeights, fake_tqdm: list[FakeBar]) -> None:
    train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **FAST | {"epochs": 2})

    assert [] == fake_tqdm


def test_progress_without_tqdm_still_trains(
    data: tuple, weights: FFFLeafWeights, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """``progress=True`` with tqdm not importable (as if not installed): training runs, the
    epochs are still logged, and nothing is written to the terminal."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    settings = FAST | {"epochs": 2, "progress": True}
    with structlog.testing.capture_logs() as events:
        result = train_fff(weights, *data, hardening=(0, 5, 3.0), patience=30, **settings)

    assert 2 == len(result.history)
    assert [0, 1] == [e["epoch"] for e in events if e["event"] == "epoch"]
    assert ("", "") == tuple(capsys.readouterr())


def test_dense_baseline_uses_the_same_loop(data: tuple) -> None:
    x_val, y_val = data[2:]
    dense = DenseWeights.init(d_in=4, d_out=4, width=16, seed=0)
    result = train_dense(dense, *data, patience=30, **FAST)
    assert isinstance(result, TrainResult) and isinstance(result.history[0], EpochRecord)
    assert result.soft_accuracy == result.hard_accuracy == accuracy(result.weights.predict(x_val), y_val)
    assert result.soft_accuracy >= 0.95
    assert all(r.entropy == 0.0 and r.hardening_weight == 0.0 for r in result.history)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y_train": np.full(160, 4)}, r"y_train labels must lie in \[0, 4\)"),
        ({"x_val": np.zeros((80, 3), np.float32)}, r"x_val must have shape \(n, 4\) \(got \(80, 3\)\)"),
        ({"y_val": np.zeros(80, np.float32)}, "y_val must be 80 integer labels"),
        ({"patience": 0}, "patience must be an integer >= 1"),
        ({"hardening": (0, -1, 1.0)}, "ramp must be a finite number >= 0"),
    ],
)
def test_bad_arguments_are_named(data: tuple, weights: FFFLeafWeights, change: dict, message: str) -> None:
    arguments = dict(zip(("x_train", "y_train", "x_val", "y_val"), data, strict=True))
    arguments |= {"hardening": (0, 5, 3.0), "patience": 3, **FAST} | change
    with pytest.raises(ValueError, match=message):
        train_fff(weights, **arguments)
