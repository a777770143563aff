"""The ``faults:`` and ``load:`` sections: read into the Python API's objects, every problem
reported at its file, line and column."""

from pathlib import Path

import pytest
from neural_actors.faults import (
    Crash,
    CrashAfter,
    Delay,
    Drop,
    FailInit,
    FaultPlan,
    Kill,
    Link,
    Messages,
    Partition,
    Schedule,
    Target,
)
from neural_actors.faults.load import Load
from neural_actors.supervisors import ConfigError, config_json_schema, loads_config

from .helpers import Ping

FIXTURES = Path(__file__).parent / "fixtures"


def sections(text: str) -> dict:
    return dict(loads_config(text + "\ntree: {id: root}\n").sections)


def test_a_plan_reads_into_the_faults_the_python_api_builds() -> None:
    """Fault keys and schedule keys side by side; durations with units; window as [start, end]."""
    plan = sections(
        """
faults:
  seed: 7
  plan:
    - {kind: crash, target: {glob: "w-*", pick: 1}, every: 250ms, probability: 0.5}
    - {kind: kill, target: {group: g, type: worker}, at: 1s, times: 3, every: 2s}
    - {kind: fail_init, target: {name: a}, inits: 2}
    - {kind: crash_after, target: {subtree: pool}, after: 10}
    - {kind: drop, messages: {receiver: {name: a}, types: [Ping], kinds: [call, reply]}, window: [1s, 3s]}
    - {kind: delay, seconds: 5ms, jitter: 1ms, messages: {link: {chip: 0, x: 1, y: 0, direction: +x}}}
    - {kind: partition, sides: [[0, 1], [2, 3]], duration: 500ms}
"""
    )["faults"].fault_plan()

    assert FaultPlan(
        (
            Crash(Target(glob="w-*", pick=1), Schedule(every=0.25, probability=0.5)),
            Kill(Target(group="g", type="worker"), Schedule(at=1, times=3, every=2)),
            FailInit(Target(name="a"), inits=2),
            CrashAfter(Target(subtree="pool"), after=10),
            Drop(Messages(receiver=Target(name="a"), types=("Ping",), kinds=("call", "reply")), Schedule(at=1, duration=2)),
            Delay(0.005, jitter=0.001, messages=Messages(link=Link(0, 1, 0, "+x"))),
            Partition(sides=((0, 1), (2, 3)), schedule=Schedule(duration=0.5)),
        ),
        seed=7,
    ) == plan


def test_a_load_reads_into_loads_with_their_requests() -> None:
    """A request is built from a message class and arguments, or taken from a factory."""
    (by_class, by_factory) = sections(
        """
load:
  generators:
    - {target: g, group: true, request: {message: "tests.faults.helpers:Ping", args: [1]}, clients: 3, rate: 20, timeout: 50ms}
    - {target: a, request: {factory: "tests.faults.helpers:Pong"}, timeout: null}
"""
    )["load"].loads()

    assert (Ping(1), 3, 20, 0.05, True) == (by_class.request(0), by_class.clients, by_class.rate, by_class.timeout, by_class.group)
    assert ("a", None) == (by_factory.target, by_factory.timeout)
    assert Load("a", None).rate == 10.0  # the defaults are Load's


def test_every_problem_is_reported_at_its_place() -> None:
    """Typos, a kind that does not take a key, a missing target, a bad value, a bad import."""
    with pytest.raises(ConfigError) as caught:
        loads_config((FIXTURES / "broken.yaml").read_text(), source="broken.yaml")

    assert [
        'broken.yaml:3:13: faults.plan[0].kind: expected one of crash, kill, fail_init, crash_after, drop, delay, '
        'duplicate, reorder, fail_core, fail_link, slow_core, partition; got "kil" (did you mean "kill"?)',
        "broken.yaml:5:7: faults.plan[1]: target: expected a target (a kill fault needs one) (got None)",
        "broken.yaml:6:7: faults.plan[2]: target: expected no target: here (a drop fault takes messages) (got {'name': 'a'})",
        'broken.yaml:9:16: faults.plan[3].seconds: expected a duration (a number of seconds or a number with a unit, '
        'as 250ms, 5s, 2m, 1h); got "5 parsecs"',
        'broken.yaml:11:25: faults.plan[4].target.pik: unknown key (did you mean "pick"?)',
        "broken.yaml:12:7: faults.plan[5]: window: expected [start, end] with end after start (got (3, 1))",
        "broken.yaml:15:7: faults.plan[6]: inits: expected an int >= 1 (got 0)",
        "broken.yaml:21:16: load.generators[0].request: request.message: expected an importable name "
        "(ModuleNotFoundError: No module named 'nowhere') (got 'nowhere:Thing')",
        'broken.yaml:22:7: load.generators[1]: missing required key "request"',
    ] == [str(problem) for problem in caught.value.problems]


def test_the_schema_describes_the_sections() -> None:
    """Editors see the faults and load sections, each fault key with its description."""
    schema = config_json_schema()

    assert {"faults", "load"} <= set(schema["properties"])
    fault = schema["$defs"]["FaultNode"]["properties"]
    assert "crash" in fault["kind"]["enum"]
    assert "how much later" in fault["seconds"]["description"]
