"""FFF with leaves against a dense feedforward of the same training width, on scikit-learn digits.

Does hardening make hard inference (one leaf per input) as accurate as the soft tree it was
trained as, and how far is that from a dense network of the same width? The 8x8 digits
(1,797 images, 64 features, 10 classes) are standardised on the training part and split
stratified 64/16/20 into train/validation/test, differently for each seed; the seed also sets
the initial weights and the batch order. The FFF (depth 3, 8 leaves of 16 ReLU neurons, so
training width 128 while a token evaluates 3 node decisions and 16 neurons) trains with
hardening; the dense 64 -> 128 -> 10 ReLU network trains with the same loop and Adam. Both keep
their best validation epoch (for the FFF: by hard accuracy once hardening has started).

Targets, on the mean over the seeds: hard test accuracy within 1 point of soft, and within
3 points of dense.

    python benchmarks/fff_digits.py            # 3 seeds, up to 80 epochs (seconds once numba has cached)
    python benchmarks/fff_digits.py --quick    # 1 seed, up to 25 epochs; targets not judged
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import structlog
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from neural_actors.fff_model import FFFLeafWeights
from neural_actors.fff_trainer import DenseWeights, train_dense, train_fff

DEPTH, LEAF_WIDTH = 3, 16
WIDTH = 2**DEPTH * LEAF_WIDTH
TRAINING = {"batch_size": 32, "lr": 3e-3, "patience": 20}
HARDENING = (0.0, 10.0, 10.0)  # (start, ramp, final) in epochs, as hardening_weight takes
HARD_VS_SOFT, DENSE_VS_HARD = 1.0, 3.0  # target gaps, accuracy points


def split(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Stratified train/validation/test inputs (standardised on train) and labels."""
    x, y = load_digits(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    inputs = [scaler.transform(a).astype(np.float32) for a in (x_train, x_val, x_test)]
    return inputs, [y_train, y_val, y_test]


def points(logits: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in percentage points."""
    return 100.0 * float((logits.argmax(axis=1) == labels).mean())


def run(seed: int, epochs: int) -> dict[str, float]:
    """Train both models for one seed; test accuracies and epochs used."""
    (x_train, x_val, x_test), (y_train, y_val, y_test) = split(seed)
    data = (x_train, y_train, x_val, y_val)
    common = TRAINING | {"epochs": epochs, "seed": seed, "progress": False}
    fff_init = FFFLeafWeights.init(64, 10, DEPTH, LEAF_WIDTH, seed)
    fff = train_fff(fff_init, *data, hardening=HARDENING, **common)
    dense = train_dense(DenseWeights.init(64, 10, WIDTH, seed), *data, **common)
    soft = points(fff.weights.soft(x_test)[0], y_test)
    hard = points(fff.weights.hard(x_test), y_test)
    baseline = points(dense.weights.predict(x_test), y_test)
    return {"soft": soft, "hard": hard, "dense": baseline, "hard-soft": hard - soft,
            "dense-hard": baseline - hard, "fff epochs": len(fff.history), "dense epochs": len(dense.history)}


def verdict(met: bool, quick: bool) -> str:
    """The targets are set for the 3-seed mean; one quick seed is only indicative."""
    if quick:
        return f"({'met' if met else 'missed'} on this seed; judged on the full run only)"
    return "met" if met else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, at most 25 epochs")
    args = parser.parse_args()
    seeds, epochs = ((0,), 25) if args.quick else ((0, 1, 2), 80)
    # The per-epoch training events would drown the table; keep warnings only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    print(f"digits: FFF depth {DEPTH} x leaf width {LEAF_WIDTH} (training width {WIDTH}) "
          f"vs dense 64 -> {WIDTH} -> 10; hardening {HARDENING}; {TRAINING}; up to {epochs} epochs")
    columns = ["soft", "hard", "dense", "hard-soft", "dense-hard", "fff epochs", "dense epochs"]
    print(f"{'seed':>6} " + " ".join(f"{c:>12}" for c in columns))
    cell = {c: ">12.0f" if c.endswith("epochs") else ">12.2f" for c in columns}
    start = time.perf_counter()
    rows = []
    for seed in seeds:
        rows.append(run(seed, epochs))
        print(f"{seed:>6} " + " ".join(f"{rows[-1][c]:{cell[c]}}" for c in columns), flush=True)
    mean = {c: float(np.mean([r[c] for r in rows])) for c in columns}
    print(f"{'mean':>6} " + " ".join(f"{mean[c]:{cell[c]}}" for c in columns))
    print(f"({time.perf_counter() - start:.0f} s; test accuracy in points)")

    hard_ok = mean["hard-soft"] >= -HARD_VS_SOFT
    dense_ok = mean["dense-hard"] <= DENSE_VS_HARD
    print(f"target hard within {HARD_VS_SOFT:g} point of soft (mean hard-soft >= -{HARD_VS_SOFT:g}): "
          f"{mean['hard-soft']:+.2f}  {verdict(hard_ok, args.quick)}")
    print(f"target hard within {DENSE_VS_HARD:g} points of dense (mean dense-hard <= {DENSE_VS_HARD:g}): "
          f"{mean['dense-hard']:+.2f}  {verdict(dense_ok, args.quick)}")


if __name__ == "__main__":
    main()
