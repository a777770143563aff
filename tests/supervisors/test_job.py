"""A tree run as a job ends finished, given up, or at its duration, and says which."""

from __future__ import annotations

import pytest
from neural_actors.runtime import Runtime
from neural_actors.supervisors import ChildSpec, Outcome, Supervisor, SupervisorFlags, run_job, walk_tree

from .fixtures.actors import Crasher, Echo, Job

#: The exit reason of a supervisor that gives up, as OTP's.
GAVE_UP = ("shutdown", "reached_max_restart_intensity")


def root(*children: ChildSpec, **flags: object) -> ChildSpec:
    return ChildSpec(id="root", start=(Supervisor, (SupervisorFlags(**flags), children)), type="supervisor")


async def run(tree: ChildSpec, duration: float | None = None) -> Outcome:
    async with Runtime(clock="virtual", seed=0) as rt:
        return await run_job(rt, tree, duration=duration)


@pytest.mark.asyncio
async def test_a_significant_child_that_finishes_ends_the_job_with_its_result() -> None:
    """The root's significant child stops with ("shutdown", result): finished, with that result."""
    job = ChildSpec(id="job", start=(Job, (), {"result": "42 rows"}), restart="temporary", significant=True)

    outcome = await run(root(ChildSpec(id="echo", start=(Echo, ("hi",))), job, auto_shutdown="any_significant"))

    assert Outcome("finished", "shutdown", (("job", "42 rows"),)) == outcome


@pytest.mark.asyncio
async def test_a_transient_significant_child_is_followed_across_restarts() -> None:
    """A job that crashes twice and then finishes still ends the run as finished."""
    job = ChildSpec(id="job", start=(Job, (0.025,)), restart="transient", significant=True)

    outcome = await run(root(job, intensity=5, auto_shutdown="any_significant"))

    assert Outcome("finished", "shutdown", (("job", "done"),)) == outcome


@pytest.mark.asyncio
async def test_a_root_that_gives_up_is_not_a_finished_job() -> None:
    """Restarts past the root's intensity stop it with shutdown, and no child finished: gave up."""
    job = ChildSpec(id="job", start=(Job, (1.0,)), restart="transient", significant=True)

    outcome = await run(root(job, intensity=1, auto_shutdown="any_significant"))

    assert Outcome("gave_up", GAVE_UP) == outcome


@pytest.mark.asyncio
async def test_a_root_whose_child_cannot_start_gives_up_with_the_reason() -> None:
    """The start failure's reason names the child and why."""
    outcome = await run(root(ChildSpec(id="model", start=(Crasher, ()))))

    assert "gave_up" == outcome.ended
    assert ("shutdown", "failed_to_start_child", "model") == (outcome.reason[0], *outcome.reason[1][:2])


@pytest.mark.asyncio
async def test_a_tree_still_running_at_the_duration_is_left_to_its_runtime() -> None:
    """At the duration the outcome says so; leaving the runtime stops the tree."""
    outcome = await run(root(ChildSpec(id="echo", start=(Echo, ("hi",)))), duration=30.0)

    assert Outcome("duration") == outcome


def test_walk_tree_visits_every_spec_depth_first() -> None:
    echo = ChildSpec(id="echo", start=(Echo, ("hi",)))
    inner = root(echo)
    tree = root(inner, ChildSpec(id="job", start=(Job, ())))

    assert ["root", "root", "echo", "job"] == [spec.id for spec in walk_tree(tree)]
