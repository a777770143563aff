"""Loading supervision trees from YAML into the objects the Python API builds, and dumping them."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from neural_actors.runtime import FrozenDict, MailboxPolicy, Runtime
from neural_actors.supervisors import (
    Backoff,
    ChildSpec,
    ConfigError,
    DynamicSupervisor,
    RuntimeSection,
    SectionRegistry,
    Supervisor,
    SupervisorFlags,
    dump_config,
    dump_tree,
    load_config,
    load_tree,
    loads_config,
    run_job,
)
from neural_actors.supervisors.config_format import Bytes, Seconds

from neural_actors import demo

from .fixtures.actors import Echo

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
ECHO = "tests.supervisors.fixtures.actors:Echo"
ANYTHING = "tests.supervisors.fixtures.actors:Anything"


def tree_of(text: str, **options: object) -> ChildSpec:
    return loads_config(text, **options).tree


def children(spec: ChildSpec) -> tuple[ChildSpec, ...]:
    return spec.args[1]


def test_demo_config_is_the_same_tree_the_demo_builds_in_python() -> None:
    """configs/demo.yaml loads into exactly the ChildSpec objects ``demo.tree()`` makes."""
    config = load_config(ROOT / "configs" / "demo.yaml")

    assert demo.tree() == config.tree
    assert RuntimeSection(clock="virtual", seed=0, log_level="critical") == config.runtime


def test_a_supervisor_node_becomes_a_supervisor_child_spec_with_its_flags() -> None:
    """Strategy, intensity, period (a duration) and auto_shutdown make the node's SupervisorFlags."""
    spec = tree_of(
        f"""
tree:
  id: root
  strategy: rest_for_one
  intensity: 4
  period: 250ms
  children:
    - {{id: a, actor: "{ECHO}", args: [hi], kwargs: {{times: 2}}, restart: transient, shutdown: brutal_kill}}
"""
    )

    flags = SupervisorFlags(strategy="rest_for_one", intensity=4, period=0.25)
    child = ChildSpec(id="a", start=(Echo, ("hi",), {"times": 2}), restart="transient", shutdown="brutal_kill")
    assert ChildSpec(id="root", start=(Supervisor, (flags, (child,))), type="supervisor") == spec


def test_replicas_expand_to_numbered_ids_and_names() -> None:
    """``replicas: 3`` gives ids (and names) suffixed -0, -1, -2, in order."""
    spec = tree_of(f'tree: {{id: root, children: [{{id: w, name: worker, replicas: 3, actor: "{ECHO}", args: [x]}}]}}')

    assert [("w-0", "worker-0"), ("w-1", "worker-1"), ("w-2", "worker-2")] == [
        (c.id, c.name) for c in children(spec)
    ]


def test_a_dynamic_supervisor_takes_its_template_and_limits() -> None:
    """``dynamic: true`` starts a DynamicSupervisor with the template and only the keys given."""
    spec = tree_of(
        f"""
tree:
  id: root
  children:
    - id: sessions
      dynamic: true
      max_children: 10
      template: {{id: session, actor: "{ECHO}", restart: temporary}}
"""
    )

    template = ChildSpec(id="session", start=(Echo, ()), restart="temporary")
    expected = ChildSpec(id="sessions", start=(DynamicSupervisor, (template,), {"max_children": 10}), type="supervisor")
    assert (expected,) == children(spec)


def test_backoff_reads_durations_into_a_backoff() -> None:
    """A worker's ``backoff:`` is a ``Backoff`` with its durations in seconds."""
    spec = tree_of(
        f'tree: {{id: root, children: [{{id: a, actor: "{ECHO}", args: [x], backoff: {{min: 10ms, max: 2m, stash: 5}}}}]}}'
    )

    assert Backoff(min=0.01, max=120, stash=5) == children(spec)[0].backoff


def test_arguments_are_made_immutable() -> None:
    """Lists in args become tuples and mappings FrozenDicts, as messages require."""
    spec = tree_of(f'tree: {{id: root, children: [{{id: a, actor: "{ANYTHING}", args: [[1, 2], {{k: [3]}}]}}]}}')

    assert ((1, 2), FrozenDict({"k": (3,)})) == children(spec)[0].args


def test_environment_variables_are_typed_after_substitution() -> None:
    """``${VAR}`` in a plain scalar takes its value's type; quoted it stays a string; ``$${`` is literal."""
    config = loads_config(
        f"""
runtime:
  seed: ${{SEED}}
  clock: ${{CLOCK:-virtual}}
tree:
  id: root
  intensity: ${{INTENSITY:-3}}
  children:
    - id: a
      actor: {ANYTHING}
      args:
        - "${{SEED}}"
        - ${{SEED}}
        - "$${{SEED}}"
""",
        env={"SEED": "12"},
    )

    assert ("virtual", 3, ("12", 12, "${SEED}")) == (
        config.runtime.clock, config.tree.args[0].intensity, children(config.tree)[0].args
    )


def test_yaml_1_1_words_stay_strings() -> None:
    """The core schema: ``no``, ``on`` and ``1:30`` are strings, not booleans or numbers."""
    spec = tree_of(f'tree: {{id: root, children: [{{id: a, actor: "{ANYTHING}", args: [no, on, 1:30, 0x10, 0o10]}}]}}')

    assert ("no", "on", "1:30", 16, 8) == children(spec)[0].args


def test_an_include_is_read_relative_to_the_including_file_and_overridden_by_its_siblings(tmp_path: Path) -> None:
    """``include:`` lays another file under the mapping; the mapping's own keys win."""
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "worker.yaml").write_text(f"id: base\nactor: {ECHO}\nargs: [hi]\nrestart: transient\n")
    (tmp_path / "parts" / "pool.yaml").write_text("id: pool\nchildren:\n  - include: worker.yaml\n    id: w\n")
    (tmp_path / "main.yaml").write_text("tree:\n  id: root\n  children:\n    - include: parts/pool.yaml\n")

    spec = load_tree(tmp_path / "main.yaml")

    worker = children(children(spec)[0])[0]
    assert ("w", "transient") == (worker.id, worker.restart)


def test_a_registered_section_is_structured_into_its_class() -> None:
    """Later layers register sections; their values (sizes, durations) are read by the same rules."""

    @attrs.frozen
    class Cache:
        size: Bytes
        ttl: Seconds = 60.0

    sections = SectionRegistry()
    sections.register("cache", Cache)

    config = loads_config("cache: {size: 1.5MiB, ttl: 2m}\ntree: {id: root}", sections=sections)

    assert FrozenDict({"cache": Cache(size=1572864, ttl=120)}) == config.sections


def test_a_section_cannot_be_registered_twice() -> None:
    """Registering a name again, or a built-in one, is refused."""
    sections = SectionRegistry()
    sections.register("cache", RuntimeSection)

    with pytest.raises(ValueError) as again:
        sections.register("cache", RuntimeSection)
    with pytest.raises(ValueError) as builtin:
        sections.register("tree", RuntimeSection)

    assert ("config section 'cache' is already defined", "config section 'tree' is already defined") == (
        str(again.value),
        str(builtin.value),
    )


def test_a_provided_section_imports_its_layer_or_says_what_to_install() -> None:
    """A section an optional layer reads is registered by importing that layer when a config
    has it; when the layer cannot be imported, the problem says what to install."""
    present = SectionRegistry(providers={"cache": ("tests.supervisors.fixtures.cache_section:Cache", "x")})
    missing = SectionRegistry(providers={"cache": ("no_such_layer.config:Cache", "neural-actors[cache]")})

    config = loads_config("cache: {size: 1KiB}\ntree: {id: root}", sections=present)
    with pytest.raises(ConfigError) as error:
        loads_config("cache: {size: 1KiB}\ntree: {id: root}", sections=missing)

    assert ["cache"] == list(config.sections)
    assert [
        "needs no_such_layer.config, which could not be imported (No module named 'no_such_layer'); "
        "install it with: pip install 'neural-actors[cache]'"
    ] == [problem.message for problem in error.value.problems]


def test_mailbox_becomes_the_childs_mailbox_policy() -> None:
    """``mailbox:`` is the child's ``MailboxPolicy``."""
    spec = tree_of(f'tree: {{id: root, children: [{{id: a, actor: "{ECHO}", args: [x], mailbox: {{capacity: 8, overflow: drop_oldest}}}}]}}')

    assert MailboxPolicy(8, "drop_oldest") == children(spec)[0].mailbox


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_dumps_and_loads_back_equal(path: Path) -> None:
    """load(dump(tree)) == tree for every file in configs/, runtime section included."""
    config = load_config(path)

    again = loads_config(dump_config(config))

    assert (config.runtime, config.tree) == (again.runtime, again.tree)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
async def test_every_example_config_runs_on_the_virtual_clock(path: Path) -> None:
    """Each example starts, runs 100 virtual milliseconds (or to its end), and stops cleanly."""
    config = load_config(path)

    async with Runtime(**{**config.runtime.options(), "clock": "virtual"}) as rt:
        outcome = await run_job(rt, config.tree, duration=0.1)

    assert "duration" == outcome.ended


def test_dump_writes_durations_with_units_and_only_what_differs_from_defaults() -> None:
    """The YAML a tree dumps to is the YAML a person would write."""
    child = ChildSpec(id="a", start=(Echo, ("${HOME}",)), shutdown=0.25, backoff=Backoff(min=0.5))
    tree = ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(period=120), (child,))), type="supervisor")

    assert (
        "tree:\n"
        "  id: root\n"
        "  period: 2m\n"
        "  children:\n"
        "  - id: a\n"
        "    actor: tests.supervisors.fixtures.actors:Echo\n"
        "    args: ['$${HOME}']\n"
        "    shutdown: 250ms\n"
        "    backoff: {min: 500ms}\n"
    ) == dump_tree(tree)


def test_dump_refuses_what_yaml_cannot_name() -> None:
    """Ids must be strings, arguments plain data; the error names where."""
    bad_id = ChildSpec(id=("tuple", 1), start=(Echo, ("x",)))
    bad_arg = ChildSpec(id="a", start=(Echo, (object,)))
    flags = SupervisorFlags()

    with pytest.raises(ValueError) as ids:
        dump_tree(ChildSpec(id="root", start=(Supervisor, (flags, (bad_id,))), type="supervisor"))
    with pytest.raises(ValueError) as args:
        dump_tree(ChildSpec(id="root", start=(Supervisor, (flags, (bad_arg,))), type="supervisor"))

    assert "tree.children[0].id: ids must be strings to be written as YAML (got ('tuple', 1))" == str(ids.value)
    assert "tree.children[0].args[0]: <class 'object'> has no YAML form; arguments must be plain data" == str(args.value)
