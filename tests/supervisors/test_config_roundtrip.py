"""Random valid trees built in Python round-trip through dump and load unchanged."""

from __future__ import annotations

import string

from hypothesis import example, given, settings
from hypothesis import strategies as st
from neural_actors.runtime import FrozenDict
from neural_actors.supervisors import (
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    Supervisor,
    SupervisorFlags,
    dump_tree,
    load_config,
    loads_config,
)

from .fixtures.actors import Anything, Echo

names = st.text(string.ascii_letters + string.digits + "_-. ${}:#'\"", min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64), names,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(names, inner, max_size=3).map(FrozenDict),
    ),
    max_leaves=6,
)
seconds = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False), st.sampled_from([0.25, 0.05, 120.0]))
positive = st.one_of(st.floats(0.001, 100.0), st.sampled_from([0.1, 0.25, 5]))


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    low = draw(positive)
    return Backoff(min=low, max=low + draw(positive), random_factor=draw(st.floats(0, 1)), stash=draw(st.integers(0, 9)))


def child_keys(significant_ok: bool) -> st.SearchStrategy[dict[str, object]]:
    restart = st.sampled_from(["permanent", "transient", "temporary"])
    return st.fixed_dictionaries(
        {
            "restart": restart,
            "shutdown": st.one_of(st.none(), st.sampled_from(["brutal_kill", "infinity"]), seconds),
            "backoff": st.one_of(st.none(), backoffs()),
            "name": st.one_of(st.none(), names),
            "significant": st.booleans() if significant_ok else st.just(False),
        }
    ).map(lambda keys: {**keys, "significant": keys["significant"] and keys["restart"] != "permanent"})


@st.composite
def workers(draw: st.DrawFn, child_id: str, significant_ok: bool) -> ChildSpec:
    keys = draw(child_keys(significant_ok))
    if draw(st.booleans()):
        start = (Anything, draw(st.lists(values, max_size=3).map(tuple)))
        kwargs = draw(st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), values, max_size=2))
        if kwargs:
            start = (*start, kwargs)
    else:
        start = (Echo, (draw(names),))
    return ChildSpec(id=child_id, start=start, **keys)


@st.composite
def supervisors(draw: st.DrawFn, child_id: str, depth: int, significant_ok: bool) -> ChildSpec:
    keys = draw(child_keys(significant_ok))
    if draw(st.integers(0, 4)) == 0:
        template = draw(workers("template", False))
        template = ChildSpec(id=template.id, start=template.start, restart=template.restart, shutdown=template.shutdown)
        kwargs = draw(st.fixed_dictionaries({}, optional={"max_children": st.integers(0, 99),
                                                         "intensity": st.integers(0, 9), "period": positive}))
        start = (DynamicSupervisor, (template,), kwargs) if kwargs else (DynamicSupervisor, (template,))
        return ChildSpec(id=child_id, start=start, type="supervisor", **keys)
    flags = SupervisorFlags(
        strategy=draw(st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"])),
        intensity=draw(st.integers(0, 20)),
        period=draw(positive),
        auto_shutdown=draw(st.sampled_from(["never", "any_significant", "all_significant"])),
    )
    ids = draw(st.lists(names, max_size=4 if depth else 0, unique=True))
    nested = flags.auto_shutdown != "never"
    kids = tuple(
        draw(supervisors(i, depth - 1, nested) if depth and draw(st.integers(0, 3)) == 0 else workers(i, nested))
        for i in ids
    )
    return ChildSpec(id=child_id, start=(Supervisor, (flags, kids)), type="supervisor", **keys)


EMPTY = ChildSpec(id="empty", start=(Supervisor, (SupervisorFlags(), ())), type="supervisor")
LITERAL = ChildSpec(id="${id}", start=(Echo, ("$${x}",)), name="${HOME}")


@settings(max_examples=150, deadline=None)
@given(supervisors("root", 3, False))
@example(ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(), (EMPTY, LITERAL))), type="supervisor"))
def test_random_trees_round_trip_through_yaml(tree: ChildSpec) -> None:
    """Whatever the tree, load(dump(tree)) == tree: ids, arguments, flags, backoffs, templates."""
    assert tree == loads_config(dump_tree(tree)).tree


def test_a_loaded_file_dumps_to_the_same_tree(tmp_path) -> None:
    """Replicas are written out expanded; loading that gives the same specs."""
    path = tmp_path / "pool.yaml"
    path.write_text("tree:\n  id: pool\n  children:\n    - {id: w, replicas: 2, actor: 'tests.supervisors.fixtures.actors:Echo', args: [x]}\n")
    tree = load_config(path).tree

    assert tree == loads_config(dump_tree(tree)).tree
    assert ["w-0", "w-1"] == [child.id for child in tree.args[1]]
