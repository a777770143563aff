"""The event trace: canonical rendering, so a seeded run hashes the same in every process."""

import os
import subprocess
import sys
import textwrap

import numpy as np
from neural_actors.runtime import FrozenDict, Pid, freeze, message
from neural_actors.runtime.trace import Trace


@message
class Note:
    words: object
    count: int = 0


class Loud:
    def __repr__(self) -> str:
        raise RuntimeError("no repr today")


def render(*fields: object) -> str:
    """The text ``record`` keeps for one event of kind ``e`` at time zero."""
    trace = Trace(lambda: 0.0)
    trace.record("e", *fields)
    return trace.events[0].removeprefix("0.000000000 e ")


def test_rendering_is_identical_under_any_hash_seed() -> None:
    """Sets of strings render in one order whatever ``PYTHONHASHSEED`` is, so digests agree."""
    script = textwrap.dedent("""
        from neural_actors.runtime import FrozenDict, message
        from neural_actors.runtime.trace import Trace

        @message
        class Note:
            words: object

        words = frozenset(f"w{i}" for i in range(20))
        trace = Trace(lambda: 0.0)
        trace.record("send", Note((words, FrozenDict({w: {w} for w in words}))), {"a", "b", "c"})
        print(trace.events[0])
        print(trace.digest())
    """)
    outputs = set()
    for seed in ("0", "1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.add(done.stdout)

    assert 1 == len(outputs)


def test_sets_and_frozen_dicts_render_sorted_through_messages_and_tuples() -> None:
    """Members and items are sorted by their rendering, at every level."""
    note = Note((frozenset({"b", "a"}), FrozenDict({"y": 1, "x": frozenset({3, 2})})), count=2)

    assert "Note(words=(frozenset({'a', 'b'}), FrozenDict({'x': frozenset({2, 3}), 'y': 1})), count=2)" == render(note)
    assert "{'a', 'b'} {'k': [1, (2,)]} set() frozenset()" == render({"b", "a"}, {"k": [1, (2,)]}, set(), frozenset())


def test_equal_values_render_equal_whatever_their_insertion_order() -> None:
    """Two equal mappings built in different orders give the same text."""
    assert render(FrozenDict({"a": 1, "b": 2})) == render(FrozenDict({"b": 2, "a": 1}))


def test_arrays_render_as_dtype_shape_and_content_hash() -> None:
    """An array renders without its elements: equal content, equal text; other content, other text."""
    array = np.arange(6.0).reshape(2, 3)
    text = render(freeze(array))

    assert text.startswith("ndarray(float64, (2, 3), blake2b:")
    assert text == render(np.ascontiguousarray(array.T).T)
    assert text != render(array + 1)


def test_a_raising_repr_renders_as_the_type_name() -> None:
    """``record`` never raises for a value it cannot render."""
    assert "<Loud> (1, <Loud>)" == render(Loud(), (1, Loud()))


def test_memory_addresses_never_reach_the_trace() -> None:
    """Reprs that show an address would differ between runs, so the address is dropped."""

    class Plain:
        pass

    def handler() -> None:
        pass

    text = render(Plain(), handler)

    assert "0x" not in text
    assert "<Plain>" in text


def test_pids_and_exceptions_render_readably() -> None:
    """Pids keep their repr; exceptions render as type and canonical arguments."""
    assert "<0.1.2> ValueError('bad', frozenset({'a', 'b'}))" == render(Pid(0, 1, 2), ValueError("bad", frozenset("ba")))


def test_digest_changes_with_each_event() -> None:
    """The digest covers every event in order."""
    first, second = Trace(lambda: 0.0), Trace(lambda: 0.0)
    first.record("a", 1)
    first.record("b", 2)
    second.record("b", 2)
    second.record("a", 1)

    assert first.digest() != second.digest()
