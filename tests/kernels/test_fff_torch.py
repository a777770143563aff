"""PyTorch FFF weights, converted for the numba kernels, give the references' answers."""

import importlib.util
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neural_actors.kernels import fff_torch
from neural_actors.kernels.aligned import CACHE_LINE
from neural_actors.kernels.fff import ultrafast_infer
from neural_actors.kernels.fff_leaf import fff_leaf_infer
from neural_actors.kernels.fff_torch import (
    leaf_weights_from_fastfeedforward,
    ultrafast_weights_from_state_dict,
)

PREFIX = "encoder.layers.0.ffn."


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Largest absolute difference over the largest expected magnitude."""
    return float(np.max(np.abs(actual - expected)) / max(float(np.max(np.abs(expected))), 1e-30))


def fastfeedforward_module(depth: int = 3, seed: int = 0) -> "torch.nn.Module":
    """A small ``fastfeedforward.FFF`` in eval (hard) mode: input 16, leaf width 4, output 8."""
    fastfeedforward = pytest.importorskip("fastfeedforward")
    torch.manual_seed(seed)
    return fastfeedforward.FFF(input_width=16, leaf_width=4, output_width=8, depth=depth).eval()


def leaf_infer(
    x: np.ndarray, weights: dict[str, np.ndarray], *, leaf_bias: bool = True
) -> np.ndarray:
    """Our kernel on converted weights, optionally without the leaf output bias."""
    leaf_b2 = weights["leaf_b2"] if leaf_bias else np.zeros_like(weights["leaf_b2"])
    return fff_leaf_infer(x, weights["node_w"], weights["node_b"], weights["leaf_w1"],
                          weights["leaf_b1"], weights["leaf_w2"], leaf_b2)


@pytest.mark.parametrize("depth", [1, 3])
def test_leaf_matches_eval_forward_without_leaf_bias(depth: int) -> None:
    """With ``leaf_b2`` zeroed our kernel equals ``eval_forward``, which drops that bias."""
    module = fastfeedforward_module(depth)
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = module(x).numpy()

    actual = leaf_infer(x.numpy(), leaf_weights_from_fastfeedforward(module), leaf_bias=False)

    assert relative_error(actual, expected) <= 1e-5


@pytest.mark.parametrize("depth", [0, 3])
def test_leaf_bias_matches_training_path_with_hard_decisions(depth: int) -> None:
    """With the bias our kernel equals the reference's hard training path, which adds ``b2s``.

    Depth 0 is checked here only: the reference's ``eval_forward`` fails on it.
    """
    module = fastfeedforward_module(depth)
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(2))
    weights = leaf_weights_from_fastfeedforward(module)
    with torch.no_grad():
        expected = module.training_forward(x, use_hard_decisions=True).numpy()

    actual = leaf_infer(x.numpy(), weights)

    assert relative_error(actual, expected) <= 1e-5


def test_leaf_bias_is_the_only_difference_from_eval_forward() -> None:
    """Our output minus ``eval_forward`` is the bias of the leaf each token reached."""
    module = fastfeedforward_module()
    x = torch.randn(40, 16, generator=torch.Generator().manual_seed(3))
    weights = leaf_weights_from_fastfeedforward(module)
    with torch.no_grad():
        eval_out = module(x).numpy()

    actual = leaf_infer(x.numpy(), weights)
    bias_added = actual - eval_out

    assert not np.allclose(actual, eval_out)
    distances = np.abs(bias_added[:, None, :] - weights["leaf_b2"][None]).max(axis=-1)
    assert distances.min(axis=1).max() <= 1e-5 * np.abs(actual).max()


def test_leaf_ties_go_right_like_the_reference() -> None:
    """A node logit of exactly 0 goes right in the reference; the mirrored weights keep that."""
    module = fastfeedforward_module()
    with torch.no_grad():
        module.node_biases.zero_()
        module.node_biases[0] = -0.0
        x = torch.zeros(3, 16)
        expected = module(x).numpy()
        last_leaf = torch.relu(module.b1s[-1]) @ module.w2s[-1]

    actual = leaf_infer(x.numpy(), leaf_weights_from_fastfeedforward(module), leaf_bias=False)

    np.testing.assert_array_equal(expected, np.broadcast_to(last_leaf.numpy(), (3, 8)))
    assert relative_error(actual, expected) <= 1e-5


def test_leaf_weights_layout() -> None:
    """Float32 C-contiguous arrays in the kernel's shapes, copies of the module's parameters."""
    module = fastfeedforward_module(depth=2)
    weights = leaf_weights_from_fastfeedforward(module)

    shapes = {name: array.shape for name, array in weights.items()}
    assert shapes == {"node_w": (3, 16), "node_b": (3,), "leaf_w1": (4, 16, 4), "leaf_b1": (4, 4),
                      "leaf_w2": (4, 4, 8), "leaf_b2": (4, 8)}
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in weights.values())
    assert all(a.ctypes.data % CACHE_LINE == 0 for a in weights.values())
    np.testing.assert_array_equal(weights["node_w"][1], -module.node_weights[2].detach().numpy())
    np.testing.assert_array_equal(weights["leaf_b2"][0], module.b2s[3].detach().numpy())


def test_leaf_rejects_other_modules() -> None:
    """Missing parameters, a non-ReLU activation or bad shapes raise ValueError naming them."""
    module = fastfeedforward_module()
    with pytest.raises(ValueError, match="node_weights"):
        leaf_weights_from_fastfeedforward(torch.nn.Linear(4, 4))
    module.activation = torch.nn.GELU()
    with pytest.raises(ValueError, match="activation"):
        leaf_weights_from_fastfeedforward(module)
    module = fastfeedforward_module()
    module.b2s = torch.nn.Parameter(torch.zeros(8, 7))
    with pytest.raises(ValueError, match="b2s"):
        leaf_weights_from_fastfeedforward(module)


def ultrafast_state_dict(trees: int, depth: int, d_in: int, d_out: int, seed: int) -> dict:
    """Random parameters in UltraFastBERT's ``FFF`` layout, under ``PREFIX``."""
    generator = torch.Generator().manual_seed(seed)
    rows = trees * (2 ** (depth + 1) - 1)
    return {
        PREFIX + "linear_in.weight": torch.randn(rows, d_in, generator=generator),
        PREFIX + "linear_in.bias": torch.randn(rows, generator=generator),
        PREFIX + "linear_out.weight": torch.randn(d_out, rows, generator=generator),
    }


def ultrafast_hard_forward(
    state: dict, x: "torch.Tensor", trees: int, depth: int
) -> "torch.Tensor":
    """UltraFastBERT's hard inference in torch: per tree, walk the path and gather its weights."""
    nodes = 2 ** (depth + 1) - 1
    w_in = state[PREFIX + "linear_in.weight"].view(trees, nodes, -1)
    b_in = state[PREFIX + "linear_in.bias"].view(trees, nodes)
    w_out = state[PREFIX + "linear_out.weight"].t().reshape(trees, nodes, -1)
    out = torch.zeros(x.shape[0], w_out.shape[-1], dtype=torch.float64)
    for k in range(trees):
        current = torch.zeros(x.shape[0], dtype=torch.long)
        for _ in range(depth + 1):
            pre = (w_in[k, current].double() * x.double()).sum(-1) + b_in[k, current].double()
            out += torch.nn.functional.gelu(pre)[:, None] * w_out[k, current].double()
            current = 2 * current + 1 + (pre > 0).long()
    return out


@pytest.mark.parametrize(("trees", "depth"), [(1, 0), (2, 1), (3, 3)])
def test_ultrafast_matches_torch_hard_inference(trees: int, depth: int) -> None:
    """Converted UltraFastBERT weights on our kernel equal a torch walk of the same tree."""
    state = ultrafast_state_dict(trees, depth, d_in=12, d_out=6, seed=trees + depth)
    x = torch.randn(30, 12, generator=torch.Generator().manual_seed(7))

    w_in, b_in, w_out = ultrafast_weights_from_state_dict(state, depth=depth, prefix=PREFIX)
    actual = ultrafast_infer(x.numpy(), w_in, b_in, w_out)

    nodes = 2 ** (depth + 1) - 1
    shapes = (w_in.shape, b_in.shape, w_out.shape)
    assert shapes == ((trees, nodes, 12), (trees, nodes), (trees, nodes, 6))
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in (w_in, b_in, w_out))
    assert relative_error(actual, ultrafast_hard_forward(state, x, trees, depth).numpy()) <= 1e-5


def test_ultrafast_accepts_numpy_and_prefix_without_dot() -> None:
    """Numpy float64 values and a prefix without its trailing dot give the same arrays."""
    state = ultrafast_state_dict(2, 2, d_in=5, d_out=3, seed=0)
    from_torch = ultrafast_weights_from_state_dict(state, depth=2, prefix=PREFIX)
    as_numpy = {name: value.double().numpy() for name, value in state.items()}

    from_numpy = ultrafast_weights_from_state_dict(as_numpy, depth=2, prefix=PREFIX.rstrip("."))

    for left, right in zip(from_torch, from_numpy, strict=True):
        np.testing.assert_array_equal(left, right)
        assert left.ctypes.data % CACHE_LINE == 0 and right.ctypes.data % CACHE_LINE == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("linear_in.weight", None),
        ("linear_in.bias", None),
        ("linear_out.weight", None),
        ("linear_in.weight", torch.zeros(8, 5)),
        ("linear_in.bias", torch.zeros(13)),
        ("linear_out.weight", torch.zeros(3, 13)),
        ("linear_in.weight", [[0.0] * 5] * 14),
        ("linear_in.bias", torch.zeros(14, dtype=torch.long)),
    ],
)
def test_ultrafast_bad_keys_and_shapes(key: str, value: object) -> None:
    """A missing key, a wrong shape or a non-float value raises ValueError naming the key."""
    state = ultrafast_state_dict(2, 2, d_in=5, d_out=3, seed=0)
    if value is None:
        del state[PREFIX + key]
    else:
        state[PREFIX + key] = value

    with pytest.raises(ValueError, match=PREFIX + key):
        ultrafast_weights_from_state_dict(state, depth=2, prefix=PREFIX)


def test_ultrafast_rejects_bad_depth() -> None:
    """A negative depth is refused before any key is read."""
    state = ultrafast_state_dict(1, 1, d_in=5, d_out=3, seed=0)
    with pytest.raises(ValueError, match="depth"):
        ultrafast_weights_from_state_dict(state, depth=-1, prefix=PREFIX)


def test_imports_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without torch the module imports, numpy weights convert, torch paths say what to install."""
    monkeypatch.setitem(sys.modules, "torch", None)
    # a fresh copy of the module, inside the package so that its relative imports resolve
    spec = importlib.util.spec_from_file_location("neural_actors.kernels.fff_torch_without_torch", fff_torch.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    state = {k: v.numpy() for k, v in ultrafast_state_dict(1, 1, 4, 2, seed=0).items()}

    w_in, _, _ = module.ultrafast_weights_from_state_dict(state, depth=1, prefix=PREFIX)
    assert w_in.shape == (1, 3, 4)
    with pytest.raises(ImportError, match=r"neural-actors\[torch\]"):
        module.leaf_weights_from_fastfeedforward(object())
    state[PREFIX + "linear_in.bias"] = [0.0] * 3
    with pytest.raises(ImportError, match=r"neural-actors\[torch\]"):
        module.ultrafast_weights_from_state_dict(state, depth=1, prefix=PREFIX)
