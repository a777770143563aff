"""Every broken config is refused before anything starts, with every problem at its file:line:col.

Each file under ``fixtures/broken/`` holds one kind of mistake (or several of a kind); the test
asserts the exact lines ``ConfigError`` lists, in file order.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from neural_actors.supervisors import Backoff, ChildSpec, ConfigError, InvalidChildSpec, SectionRegistry, load_config
from neural_actors.supervisors.config_format import Bytes

from .fixtures.actors import Quitter

ROOT = Path(__file__).resolve().parents[2]
D = "tests/supervisors/fixtures/broken/"

EXPECTED = {
    'args_do_not_bind.yaml': [
        "{D}args_do_not_bind.yaml:5:14: tree.children[0].actor: Echo.init(self, greeting, times=1, **options) does not take these arguments: missing a required argument: 'greeting'",
        '{D}args_do_not_bind.yaml:8:13: tree.children[1].args: Crasher.init(self) does not take these arguments: too many positional arguments',
        "{D}args_do_not_bind.yaml:12:16: tree.children[2].kwargs.reslt: Quitter.init(self, after, result='done') does not take these arguments: got an unexpected keyword argument 'reslt'",
    ],
    'bad_durations.yaml': [
        '{D}bad_durations.yaml:3:11: tree.period: expected a duration (a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h); got "5 parsecs"',
        '{D}bad_durations.yaml:8:17: tree.children[0].shutdown: expected brutal_kill, infinity or a duration, as 250ms, 5s; got "forevr"',
        '{D}bad_durations.yaml:9:22: tree.children[0].backoff.min: expected a duration (a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h); got "-1s"',
        '{D}bad_durations.yaml:9:32: tree.children[0].backoff.max: expected a duration (a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h); got "10 fortnights"',
        '{D}bad_durations.yaml:13:17: tree.children[1].shutdown: expected brutal_kill, infinity or a duration, as 250ms, 5s; got "5 s s"',
    ],
    'bad_flags.yaml': [
        '{D}bad_flags.yaml:3:14: tree.intensity: must be an int >= 0; got -1',
    ],
    'duplicate_ids.yaml': [
        '{D}duplicate_ids.yaml:8:11: tree.children[1].id: "worker-1" is already the id of tree.children[0]',
        '{D}duplicate_ids.yaml:13:11: tree.children[3].id: "cache" is already the id of tree.children[2]',
    ],
    'duplicate_key.yaml': [
        '{D}duplicate_key.yaml:4:3: tree.strategy: duplicate key (first written at line 3)',
    ],
    'dynamic_misused.yaml': [
        '{D}dynamic_misused.yaml:3:13: tree.template: only a dynamic supervisor has this key; add dynamic: true or remove it',
        '{D}dynamic_misused.yaml:7:17: tree.children[0].strategy: a dynamic supervisor is always one_for_one; remove strategy:',
        '{D}dynamic_misused.yaml:8:21: tree.children[0].max_children: expected an int >= 0; got -1',
        '{D}dynamic_misused.yaml:9:17: tree.children[0].children: a dynamic supervisor starts its children from template:; remove children:',
        "{D}dynamic_misused.yaml:13:15: tree.children[0].template.name: a dynamic supervisor's children cannot have a name: they would all take it",
        "{D}dynamic_misused.yaml:14:22: tree.children[0].template.significant: a dynamic supervisor's children cannot be significant",
        '{D}dynamic_misused.yaml:16:19: tree.children[0].template.replicas: only a child of a supervisor can have replicas; got 2',
    ],
    'dynamic_without_template.yaml': [
        '{D}dynamic_without_template.yaml:4:7: tree.children[0]: missing required key "template" (dynamic: true starts its children from it)',
    ],
    'empty.yaml': [
        '{D}empty.yaml:1:1: expected a mapping with tree: (and runtime:); got null',
    ],
    'enum_typos.yaml': [
        '{D}enum_typos.yaml:2:10: runtime.clock: expected one of real, virtual; got "virtul" (did you mean "virtual"?)',
        '{D}enum_typos.yaml:5:13: tree.strategy: expected one of one_for_one, one_for_all, rest_for_one; got "one_for_al" (did you mean "one_for_all"?)',
        '{D}enum_typos.yaml:6:18: tree.auto_shutdown: expected one of never, any_significant, all_significant; got "any"',
        '{D}enum_typos.yaml:11:16: tree.children[0].restart: expected one of permanent, transient, temporary; got "permanant" (did you mean "permanent"?)',
        '{D}enum_typos.yaml:12:13: tree.children[0].type: expected one of worker, supervisor; got "wrker" (did you mean "worker"?)',
        '{D}enum_typos.yaml:13:41: tree.children[0].mailbox.overflow: expected one of backpressure, drop_newest, drop_oldest, fail; got "drop_olde" (did you mean "drop_oldest"?)',
    ],
    'import_error.yaml': [
        '{D}import_error.yaml:5:14: tree.children[0].actor: importing tests.supervisors.fixtures.broken_module failed: ZeroDivisionError: division by zero',
    ],
    'include_cycle.yaml': [
        '{D}parts/cycle_child.yaml:3:14: tree.children[0].children[0].include: include cycle: {D}include_cycle.yaml -> {D}parts/cycle_child.yaml -> {D}include_cycle.yaml',
    ],
    'missing_class.yaml': [
        '{D}missing_class.yaml:5:14: tree.children[0].actor: module tests.supervisors.fixtures.actors has no \'Ecko\' (did you mean "Echo"?)',
        '{D}missing_class.yaml:7:14: tree.children[1].actor: expected package.module:Class; got "echo_without_a_colon"',
    ],
    'missing_include.yaml': [
        '{D}missing_include.yaml:4:16: tree.children[0].include: no such file: {D}parts/missing.yaml',
    ],
    'missing_module.yaml': [
        "{D}missing_module.yaml:5:14: tree.children[0].actor: no module named 'no_such_package' (is its package installed, or on sys.path?)",
    ],
    'missing_tree.yaml': [
        '{D}missing_tree.yaml:1:1: missing required key "tree"',
    ],
    'neither_worker_nor_supervisor.yaml': [
        '{D}neither_worker_nor_supervisor.yaml:4:7: tree.children[0]: expected a worker (with actor:) or a supervisor (with children: or dynamic: true)',
        '{D}neither_worker_nor_supervisor.yaml:6:7: tree.children[1]: missing required key "actor"',
        '{D}neither_worker_nor_supervisor.yaml:7:7: tree.children[1].actr: unknown key (did you mean "actor"?)',
    ],
    'not_a_mapping.yaml': [
        '{D}not_a_mapping.yaml:1:1: expected a mapping with tree: (and runtime:); got a list',
    ],
    'not_an_actor.yaml': [
        "{D}not_an_actor.yaml:5:14: tree.children[0].actor: tests.supervisors.fixtures.actors:NotAnActor is not an Actor subclass (got <class 'tests.supervisors.fixtures.actors.NotAnActor'>)",
    ],
    'replicas_zero.yaml': [
        '{D}replicas_zero.yaml:3:13: tree.replicas: only a child of a supervisor can have replicas; got 2',
        '{D}replicas_zero.yaml:6:17: tree.children[0].replicas: expected an int >= 1; got 0',
    ],
    'root_is_worker.yaml': [
        '{D}root_is_worker.yaml:2:3: tree: the root must be a supervisor (with children: or dynamic: true), not a worker',
    ],
    'significant_never.yaml': [
        "{D}significant_never.yaml:8:20: tree.children[0].significant: a significant child needs its supervisor's auto_shutdown to be any_significant or all_significant (it is never)",
    ],
    'syntax_error.yaml': [
        "{D}syntax_error.yaml:5:1: YAML syntax error: while parsing a flow sequence expected ',' or ']', but got '<stream end>'",
    ],
    'tab_indent.yaml': [
        "{D}tab_indent.yaml:4:1: YAML syntax error: while scanning for the next token found character '\\t' that cannot start any token (tabs cannot indent YAML; indent with spaces)",
    ],
    'unknown_keys.yaml': [
        '{D}unknown_keys.yaml:2:3: runtime.sead: unknown key (did you mean "seed"?)',
        '{D}unknown_keys.yaml:6:3: tree.childs: unknown key (did you mean "children"?)',
        '{D}unknown_keys.yaml:11:7: tree.children[0].restrat: unknown key (did you mean "restart"?)',
        '{D}unknown_keys.yaml:12:7: tree.children[0].shutdwon: unknown key (did you mean "shutdown"?)',
        '{D}unknown_keys.yaml:13:7: tree.children[0].colour: unknown key; expected one of id, restart, shutdown, significant, name, backoff, replicas, actor, args, kwargs, type, mailbox',
    ],
    'unknown_section.yaml': [
        '{D}unknown_section.yaml:1:1: tre: unknown section (did you mean "tree"?)',
        '{D}unknown_section.yaml:1:1: missing required key "tree"',
        '{D}unknown_section.yaml:3:1: rutime: unknown section (did you mean "runtime"?)',
        '{D}unknown_section.yaml:4:1: plugins: unknown section; expected one of runtime, tree, mesh, faults, load, service, nodes',
    ],
    'unset_variables.yaml': [
        '{D}unset_variables.yaml:2:9: runtime.seed: ${NEURAL_ACTORS_TEST_UNSET} is not set and has no default; set it or write ${NEURAL_ACTORS_TEST_UNSET:-value}',
        '{D}unset_variables.yaml:5:11: tree.period: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)',
        '{D}unset_variables.yaml:6:14: tree.intensity: expected ${NAME} or ${NAME:-default} (write $${ for a literal ${)',
    ],
    'unsupported_tag.yaml': [
        '{D}unsupported_tag.yaml:6:14: tree.children[0].args[0]: unsupported tag tag:yaml.org,2002:python/object/apply:os.system; configs hold plain values only',
    ],
    'wrong_types.yaml': [
        '{D}wrong_types.yaml:2:9: runtime.seed: expected an int; got "42"',
        '{D}wrong_types.yaml:3:10: runtime.trace: expected true or false; got "yes"',
        '{D}wrong_types.yaml:6:14: tree.intensity: expected an int; got "three"',
        '{D}wrong_types.yaml:7:11: tree.period: expected a duration (a number of seconds or a number with a unit, as 250ms, 5s, 2m, 1h); got a list',
        '{D}wrong_types.yaml:9:11: tree.children[0].id: expected a string; got 7',
        '{D}wrong_types.yaml:11:13: tree.children[0].args: expected a list of arguments; got "hi"',
        '{D}wrong_types.yaml:12:15: tree.children[0].kwargs: expected a mapping of keyword arguments; got a list',
        '{D}wrong_types.yaml:13:20: tree.children[0].significant: expected true or false; got 1',
        '{D}wrong_types.yaml:14:7: tree.children[1]: expected a mapping (a worker with actor:, or a supervisor with children: or dynamic: true); got "just a string"',
    ],
}


@pytest.fixture(autouse=True)
def _from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """File names in messages are relative to the working directory, as a user types them."""
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))


def problems(name: str, **options: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(D + name, env={"NEURAL_ACTORS_TEST_ROOT": ""}, **options)
    return [str(problem) for problem in info.value.problems]


def test_there_are_at_least_25_broken_files() -> None:
    """The suite covers many kinds of mistakes, and every file under fixtures/broken is checked."""
    files = {p.name for p in (ROOT / D).glob("*.yaml")}

    assert len(EXPECTED) >= 25
    assert files == {*EXPECTED, "significant_permanent.yaml", "backoff_max_below_min.yaml", "bad_size.yaml"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_file_lists_every_problem_with_file_line_column_and_path(name: str) -> None:
    """The exact problems of each broken file, in the order of the file's text."""
    expected = [line.replace("{D}", D) for line in EXPECTED[name]]

    assert expected == problems(name)


def test_config_error_says_how_many_problems_and_lists_them() -> None:
    """``str(ConfigError)`` is what the command line prints: a count, then one line each."""
    with pytest.raises(ConfigError) as info:
        load_config(D + "duplicate_ids.yaml")

    assert str(info.value) == "\n".join(
        ["2 problems in the config:", *(line.replace("{D}", D) for line in EXPECTED["duplicate_ids.yaml"])]
    )


def test_combination_refused_by_child_spec_is_reported_at_its_key() -> None:
    """Rules the supervisors' own classes enforce come with their words, at the key's position."""
    with pytest.raises(InvalidChildSpec) as refused:
        ChildSpec(id="job", start=(Quitter, (1,)), significant=True)
    reason = f"{refused.value.reason}; got true"

    assert [f"{D}significant_permanent.yaml:8:20: tree.children[0].significant: {reason}"] == problems(
        "significant_permanent.yaml"
    )


def test_backoff_refused_by_its_class_is_reported_at_the_field() -> None:
    """A ``Backoff`` whose max is below its min is refused by ``Backoff`` itself, at ``max:``."""
    with pytest.raises(InvalidChildSpec) as refused:
        Backoff(min=2, max=1)
    reason = f"{refused.value.reason}; got 1"

    assert [f"{D}backoff_max_below_min.yaml:7:31: tree.children[0].backoff.max: {reason}"] == problems(
        "backoff_max_below_min.yaml"
    )


@attrs.frozen
class Cache:
    """A section a later layer could register: sizes are read as ``64KiB``, ``1.5MiB``."""

    size: Bytes
    limit: Bytes = 0


def test_sizes_in_a_registered_section_are_checked() -> None:
    """A registered section is read with the same rules: a bad size names unit, value and place."""
    sections = SectionRegistry()
    sections.register("cache", Cache)

    assert [
        f"{D}bad_size.yaml:2:9: cache.size: unknown unit 'XB'; expected one of B, KiB, MiB, GiB, kB, MB, GB; got \"1.5XB\"",
        f"{D}bad_size.yaml:3:10: cache.limit: 0.5B is not a whole number of bytes; got \"0.5B\"",
    ] == problems("bad_size.yaml", sections=sections)
