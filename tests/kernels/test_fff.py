"""UltraFastBERT FFF hard inference against the numpy reference: random shapes, edge cases, bad
input; and what both variants share: threads, read-only arrays, the names this module re-exports."""

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
from neural_actors.kernels import fff
from neural_actors.kernels.fff import (
    LEAF_LEVEL_MIN_BATCH,
    LEVEL_BLOCK,
    LEVEL_MIN_BATCH,
    SPLIT_MIN_BATCH,
    STREAM_MIN_BYTES,
    fff_leaf_infer,
    ultrafast_infer,
)
from neural_actors.kernels.fff_reference import fff_leaf_infer_reference, ultrafast_infer_reference

from .fff_inputs import STREAMED_BATCH, THRESHOLD_BATCHES, random_leaves, random_tree, small_ints


@pytest.mark.parametrize("batch", [0, 1, 7, 2 * LEVEL_BLOCK + 1, SPLIT_MIN_BATCH + 7])
@pytest.mark.parametrize("depth", [0, 1, 3, 8])
@pytest.mark.parametrize("trees", [1, 3])
def test_matches_reference(batch: int, depth: int, trees: int) -> None:
    """Serial and parallel paths equal the reference for many shapes, batch 0 included."""
    args = random_tree(np.random.default_rng(depth * 10 + trees), batch, depth, trees, d_in=12, d_out=5)

    expected = ultrafast_infer_reference(*args)
    actual = ultrafast_infer(*args)

    assert (batch, 5) == actual.shape and np.float32 == actual.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-4)


#: Batch sizes on both sides of the path thresholds (both variants), around the block size
#: (several blocks), and on both sides of the batch from which the level path sorts tokens by
#: subtree.


@pytest.mark.parametrize("batch", THRESHOLD_BATCHES)
@pytest.mark.parametrize("depth", range(13))
def test_every_path_matches_reference_around_thresholds(batch: int, depth: int) -> None:
    """Walk and level paths equal the reference, depth 0 to 12, small widths."""
    args = random_tree(np.random.default_rng(1000 * depth + batch), batch, depth, trees=2, d_in=5, d_out=3)

    np.testing.assert_allclose(ultrafast_infer(*args), ultrafast_infer_reference(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2, 9, 70, SPLIT_MIN_BATCH + 1])
@pytest.mark.parametrize("depth", [0, 1, 5, 11])
def test_walk_and_level_kernels_agree(batch: int, depth: int) -> None:
    """Both kernels on the same batch, below and above the thresholds that normally pick one."""
    x, w_in, b_in, w_out = random_tree(np.random.default_rng(depth + batch), batch, depth, trees=3, d_in=20, d_out=7)
    walked = fff._ULTRAFAST_WALK.run(x, w_in, b_in, w_out)
    levelled = fff._ULTRAFAST_LEVEL.run(x, w_in, b_in, w_out, np.full((batch, 7), np.nan, np.float32))

    np.testing.assert_allclose(levelled, walked, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(levelled, ultrafast_infer_reference(x, w_in, b_in, w_out), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", THRESHOLD_BATCHES)
@pytest.mark.parametrize("depth", [1, 4, 9])
def test_ties_at_exactly_zero_go_left_on_every_path(batch: int, depth: int) -> None:
    """Integer weights and inputs make many pre-activations exactly 0; the paths must match.

    ``w_out`` encodes the node index, so a token that took another branch anywhere would
    change its output by at least 1.
    """
    rng = np.random.default_rng(depth * 7 + batch)
    nodes = 2 ** (depth + 1) - 1
    x = small_ints(rng, (batch, 3))
    w_in = small_ints(rng, (2, nodes, 3))
    b_in = small_ints(rng, (2, nodes))
    b_in[:, 0] = 0.0
    x[0] = 0.0  # so at least the first token meets a tie at each root
    w_out = np.broadcast_to(np.arange(nodes, dtype=np.float32)[None, :, None] * 16.0, (2, nodes, 2)).copy()
    w_out[:, :, 1] = small_ints(rng, (2, nodes), -3, 3)
    expected = ultrafast_infer_reference(x, w_in, b_in, w_out)

    np.testing.assert_allclose(ultrafast_infer(x, w_in, b_in, w_out), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batch", [LEVEL_MIN_BATCH, 2 * LEVEL_BLOCK + 1, SPLIT_MIN_BATCH + 1])
def test_all_tokens_on_one_path(batch: int) -> None:
    """Identical tokens share every node: one group per level, tiles of four and a remainder."""
    x, w_in, b_in, w_out = random_tree(np.random.default_rng(5), 1, 10, trees=2, d_in=9, d_out=4)
    x = np.repeat(x, batch, axis=0)

    actual = ultrafast_infer(x, w_in, b_in, w_out)

    np.testing.assert_allclose(actual, ultrafast_infer_reference(x, w_in, b_in, w_out), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(actual, np.repeat(actual[:1], batch, axis=0))


@pytest.mark.parametrize("batch", [LEVEL_MIN_BATCH + 3, 2 * LEVEL_BLOCK + 1, SPLIT_MIN_BATCH + 5])
@pytest.mark.parametrize("trees", [1, 3])
def test_copies_of_a_token_share_some_nodes_and_not_others(batch: int, trees: int) -> None:
    """Tokens repeated 1 to 7 times, shuffled: sorted by node, four neighbours sit at one node
    at some levels and not at others, and a row read once for four must be the one all four
    are at. Copies agree to rounding (a shared row's dot products may round differently)."""
    rng = np.random.default_rng(batch + trees)
    distinct, w_in, b_in, w_out = random_tree(rng, batch, 7, trees=trees, d_in=6, d_out=5)
    copies = np.repeat(np.arange(batch), rng.integers(1, 8, batch))[:batch]
    rng.shuffle(copies)
    x = distinct[copies]

    actual = ultrafast_infer(x, w_in, b_in, w_out)

    np.testing.assert_allclose(actual, ultrafast_infer_reference(x, w_in, b_in, w_out), rtol=1e-5, atol=1e-5)
    for token in np.unique(copies):
        rows = actual[copies == token]
        np.testing.assert_allclose(rows, np.repeat(rows[:1], len(rows), axis=0), rtol=1e-5, atol=1e-5)


def test_all_tokens_at_exactly_zero_take_the_leftmost_path() -> None:
    """Zero weights and biases: every pre-activation is 0, so every token goes left to the end."""
    depth, batch = 6, LEVEL_BLOCK + 3
    nodes = 2 ** (depth + 1) - 1
    x = np.random.default_rng(6).standard_normal((batch, 4), dtype=np.float32)
    w_out = np.zeros((1, nodes, 1), np.float32)
    leftmost = [2**level - 1 for level in range(depth + 1)]
    w_out[0, leftmost, 0] = 1.0
    b_in = np.zeros((1, nodes), np.float32)
    b_in[0, leftmost[-1]] = 1.0  # the last node on the leftmost path fires: gelu(1)

    actual = ultrafast_infer(x, np.zeros((1, nodes, 4), np.float32), b_in, w_out)

    np.testing.assert_allclose(actual, np.full((batch, 1), 0.8413447, np.float32), rtol=1e-6)


@pytest.mark.parametrize("batch", [1, LEVEL_MIN_BATCH + 1, 2 * LEVEL_BLOCK + 5])
def test_nan_weights_are_reported_on_every_path(batch: int) -> None:
    """The finite check of the walk and of the level kernels sees a NaN on a path."""
    x, w_in, b_in, w_out = random_tree(np.random.default_rng(7), batch, 3, trees=1, d_in=4, d_out=2)
    w_out[0, 0, 1] = np.nan  # the root: on every path

    with pytest.raises(ValueError, match="the weights hold NaN or infinite values on the paths taken"):
        ultrafast_infer(x, w_in, b_in, w_out)


def test_zero_pre_activation_goes_left() -> None:
    """A pre-activation of exactly 0 takes the left child ``2i + 1``, as UltraFastBERT does."""
    w_in = np.zeros((1, 3, 2), dtype=np.float32)
    b_in = np.array([[0.0, 1.0, 2.0]], dtype=np.float32)  # root exactly 0; children positive
    w_out = np.array([[[100.0], [1.0], [-1.0]]], dtype=np.float32)
    x = np.ones((1, 2), dtype=np.float32)
    left_only = 1.0 * 0.5 * (1.0 + 0.6826895)  # gelu(1) * w_out[left]

    np.testing.assert_allclose([[left_only]], ultrafast_infer(x, w_in, b_in, w_out), rtol=1e-6)
    np.testing.assert_allclose(ultrafast_infer_reference(x, w_in, b_in, w_out), ultrafast_infer(x, w_in, b_in, w_out))


@pytest.mark.parametrize("batch", THRESHOLD_BATCHES)
def test_inputs_are_not_modified(batch: int) -> None:
    """Every path returns a new array and leaves every argument as it was."""
    args = random_tree(np.random.default_rng(1), batch, 3, 2, 6, 4)
    copies = [a.copy() for a in args]

    ultrafast_infer(*args)

    for before, after in zip(copies, args):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: (a[0].astype(np.float64), *a[1:]), r"x must be a float32 ndarray \(got float64\)"),
        (lambda a: (a[0], a[1][:, :6].copy(), *a[2:]), r"w_in.shape\[1\] must be 2\*\*\(depth\+1\) - 1 nodes \(got 6\)"),
        (lambda a: (a[0][:, :3].copy(), *a[1:]), r"x.shape\[1\] must equal w_in.shape\[2\] = 6 \(got 3\)"),
        (lambda a: (a[0], a[1], a[2][:, :3].copy(), a[3]), r"b_in must have shape \(2, 7\) \(got \(2, 3\)\)"),
        (lambda a: (a[0], a[1], a[2], np.full_like(a[3], np.nan)), "the weights hold NaN or infinite values on the paths taken"),
        (lambda a: (np.full_like(a[0], np.inf), *a[1:]), "x holds NaN or infinite values"),
        (lambda a: (np.repeat(a[0], 2, axis=1)[:, ::2], *a[1:]), "x must be C-contiguous"),
        (lambda a: (a[0][0], *a[1:]), r"x must have 2 dimensions \(got shape \(6,\)\)"),
        (lambda a: (a[0].tolist(), *a[1:]), r"x must be a float32 ndarray \(got list\)"),
        (lambda a: (*a[:3], a[3].astype(np.float64)), r"w_out must be a float32 ndarray \(got float64\)"),
    ],
)
@pytest.mark.parametrize("batch", [1, 6])
def test_bad_input_names_the_argument(change, message: str, batch: int) -> None:
    """Wrong dtype, shape, node count, layout or NaN weights raise a clear ``ValueError``, on
    the walk (whose typed entry refuses them) and on the level path."""
    args = random_tree(np.random.default_rng(2), batch, 2, 2, 6, 4)

    with pytest.raises(ValueError, match=message):
        ultrafast_infer(*change(args))


@pytest.mark.parametrize("batch", [1, 2 * LEVEL_BLOCK + 3])
def test_read_only_arrays_are_accepted(batch: int) -> None:
    """Read-only arrays (e.g. weights loaded with ``mmap_mode="r"``) run on every path."""
    rng = np.random.default_rng(batch)
    ufb = random_tree(rng, batch, 4, trees=1, d_in=6, d_out=3)
    leaves = random_leaves(rng, batch, 3, 4)
    for array in (*ufb, *leaves):
        array.flags.writeable = False

    np.testing.assert_allclose(ultrafast_infer(*ufb), ultrafast_infer_reference(*ufb), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fff_leaf_infer(*leaves), fff_leaf_infer_reference(*leaves), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batch", [LEVEL_MIN_BATCH, 2 * LEVEL_BLOCK + 3, SPLIT_MIN_BATCH + 3])
def test_one_thread_runs_the_level_path_serially(batch: int) -> None:
    """With one numba thread (``numba.set_num_threads``, thread-local) both variants run their
    level kernels serially, with the same results."""
    rng = np.random.default_rng(batch)
    ufb = random_tree(rng, batch, 7, trees=2, d_in=6, d_out=3)
    leaves = random_leaves(rng, batch, 5, 8)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        serial = ultrafast_infer(*ufb), fff_leaf_infer(*leaves)
    finally:
        numba.set_num_threads(threads)

    np.testing.assert_allclose(serial[0], ultrafast_infer_reference(*ufb), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(serial[1], fff_leaf_infer_reference(*leaves), rtol=1e-5, atol=1e-4)


def test_calls_from_several_threads_at_once_agree_with_the_reference() -> None:
    """The kernels release the GIL; concurrent calls (walk and level paths, both variants) each
    get their own, correct result."""
    rng = np.random.default_rng(11)
    jobs = []
    for i in range(16):
        batch = (1, LEVEL_MIN_BATCH, 2 * LEVEL_BLOCK + 1, SPLIT_MIN_BATCH + 1)[i % 4]
        jobs.append((ultrafast_infer, ultrafast_infer_reference, random_tree(rng, batch, 5, trees=2, d_in=8, d_out=3)))
        jobs.append((fff_leaf_infer, fff_leaf_infer_reference, random_leaves(rng, batch, 3, 4)))

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: job[0](*job[2]), jobs))

    for (_, reference, args), result in zip(jobs, results):
        np.testing.assert_allclose(result, reference(*args), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("batch", [1, 2 * LEVEL_BLOCK + 1])
def test_out_receives_the_result(batch: int) -> None:
    """With ``out``, both paths write the result there and return it."""
    args = random_tree(np.random.default_rng(12), batch, 4, trees=2, d_in=6, d_out=3)
    out = np.full((batch, 3), np.nan, np.float32)

    assert ultrafast_infer(*args, out=out) is out
    np.testing.assert_allclose(out, ultrafast_infer_reference(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_a_streamed_output_is_written_whole_at_any_alignment(offset: int) -> None:
    """An output big enough to be written with streaming stores, into a new array and into an
    ``out`` shifted by 0-2 floats off a 16-byte boundary: every row, every element."""
    args = random_tree(np.random.default_rng(offset), STREAMED_BATCH, 3, trees=2, d_in=5, d_out=768)
    out = np.full(STREAMED_BATCH * 768 + offset, np.nan, np.float32)[offset:].reshape(STREAMED_BATCH, 768)
    expected = ultrafast_infer_reference(*args)

    np.testing.assert_allclose(ultrafast_infer(*args), expected, rtol=1e-5, atol=1e-5)
    assert ultrafast_infer(*args, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_nan_weights_are_reported_when_the_output_is_streamed() -> None:
    x, w_in, b_in, w_out = random_tree(np.random.default_rng(8), STREAMED_BATCH, 3, trees=1, d_in=4, d_out=768)
    w_out[0, 0, 767] = np.nan  # the root, the last element of each row

    with pytest.raises(ValueError, match="the weights hold NaN or infinite values on the paths taken"):
        ultrafast_infer(x, w_in, b_in, w_out)


@pytest.mark.parametrize(
    ("make_out", "message"),
    [
        (lambda args, b: np.empty((b, 3), np.float64), r"out must be a float32 ndarray \(got float64\)"),
        (lambda args, b: np.empty((b - 1, 3), np.float32), r"out must have shape \({b}, 3\) \(got \({c}, 3\)\)"),
        (lambda args, b: np.empty((b, 4), np.float32), r"out must have shape \({b}, 3\) \(got \({b}, 4\)\)"),
        (lambda args, b: np.empty((3, b), np.float32).T, "out must be C-contiguous"),
        (lambda args, b: np.frombuffer(bytes(12 * b), np.float32).reshape(b, 3), "out must be writable"),
        (lambda args, b: args[0].reshape(-1)[:3 * b].reshape(b, 3), "out must not share memory with x or the weights"),
        (lambda args, b: args[3].reshape(-1)[-3 * b:].reshape(b, 3), "out must not share memory with x or the weights"),
    ],
)
@pytest.mark.parametrize("batch", [5, 2 * LEVEL_BLOCK + 1])
def test_bad_out_names_it(make_out, message: str, batch: int) -> None:
    """A wrong ``out`` is refused before anything is written, by the walk and the level entry
    (which check it in compiled code; the Python checks then say what is wrong)."""
    args = random_tree(np.random.default_rng(13), batch, 7, trees=1, d_in=6, d_out=3)
    copies = [a.copy() for a in args]

    with pytest.raises(ValueError, match=message.format(b=batch, c=batch - 1)):
        ultrafast_infer(*args, out=make_out(args, batch))
    for before, after in zip(copies, args):
        np.testing.assert_array_equal(before, after)


def no_trees(rng: np.random.Generator, batch: int, depth: int = 3, d_in: int = 6, d_out: int = 4) -> tuple:
    """Inputs and ``K = 0`` trees (each of ``2**(depth+1) - 1`` nodes)."""
    nodes = 2 ** (depth + 1) - 1
    return (
        rng.standard_normal((batch, d_in), dtype=np.float32),
        np.empty((0, nodes, d_in), np.float32),
        np.empty((0, nodes), np.float32),
        np.empty((0, nodes, d_out), np.float32),
    )


@pytest.mark.parametrize(
    "batch", [1, LEVEL_MIN_BATCH - 1, LEVEL_MIN_BATCH, 2 * LEVEL_BLOCK + 1, SPLIT_MIN_BATCH + 3]
)
@pytest.mark.parametrize("given_out", [False, True])
def test_zero_trees_sum_to_zeros_on_every_path(batch: int, given_out: bool) -> None:
    """``K = 0`` is an empty sum: zeros, as the reference gives, on the walk and the level
    paths, into a new array or into ``out`` (filled with NaN first, so every row is written)."""
    args = no_trees(np.random.default_rng(batch), batch)
    out = np.full((batch, 4), np.nan, np.float32) if given_out else None

    actual = ultrafast_infer(*args, out=out)

    np.testing.assert_array_equal(np.zeros((batch, 4), np.float32), actual)
    np.testing.assert_array_equal(ultrafast_infer_reference(*args), actual)
    assert out is None or actual is out


@pytest.mark.parametrize("batch", [1, 3])
def test_the_walk_writes_into_out_itself(batch: int) -> None:
    """Under ``LEVEL_MIN_BATCH`` tokens a given ``out`` goes to a walk entry that writes into it
    and returns it, as the level entry does: no allocation and no copy."""
    args = random_tree(np.random.default_rng(batch), batch, 4, trees=2, d_in=6, d_out=3)
    out = np.full((batch, 3), np.nan, np.float32)

    assert fff._ULTRAFAST_WALK_INTO.run(*args, out) is out
    np.testing.assert_allclose(out, ultrafast_infer_reference(*args), rtol=1e-5, atol=1e-5)


def test_the_leaf_variant_and_the_thresholds_are_importable_from_here() -> None:
    """``fff`` re-exports what it offered before the leaf variant had a module of its own."""
    from neural_actors.kernels import fff_leaf, fff_output

    assert (fff_leaf.fff_leaf_infer, fff_leaf.LEAF_LEVEL_MIN_BATCH, fff_output.STREAM_MIN_BYTES) == (
        fff_leaf_infer, LEAF_LEVEL_MIN_BATCH, STREAM_MIN_BYTES
    )
    assert {"fff_leaf_infer", "LEAF_LEVEL_MIN_BATCH", "STREAM_MIN_BYTES"} <= set(fff.__all__)
