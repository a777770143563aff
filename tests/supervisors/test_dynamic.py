"""The dynamic supervisor beyond OTP's suite (see ``test_supervisor_suite.py`` for its cases)."""

import asyncio

import pytest
from neural_actors.runtime import Actor, Runtime, StartFailed
from neural_actors.supervisors import (
    RESTARTING,
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    SupervisorError,
    count_children,
    start_dynamic_child,
    which_children,
)


class Session(Actor):
    """A child started with the template's args plus the extra ``user``."""

    trap_exit = True

    def init(self, service: str, user: str) -> None:
        self.key = (service, user)

    def handle_call(self, msg, caller):
        return self.key

    def handle_cast(self, msg):
        raise RuntimeError(msg)


def template(restart: str = "permanent") -> ChildSpec:
    return ChildSpec(id="session", start=(Session, ("chat",)), restart=restart)


@pytest.mark.asyncio
async def test_children_get_template_args_plus_extra(actor_runtime: Runtime) -> None:
    """``start_dynamic_child`` appends its arguments to the template's."""
    sup = await actor_runtime.start(DynamicSupervisor, template())
    pid = await start_dynamic_child(actor_runtime, sup, "ada")

    assert ("chat", "ada") == await actor_runtime.call(pid, "who")


@pytest.mark.asyncio
async def test_temporary_children_are_not_restarted(actor_runtime: Runtime) -> None:
    """Temporary children are forgotten when they exit."""
    sup = await actor_runtime.start(DynamicSupervisor, template("temporary"))
    pid = await start_dynamic_child(actor_runtime, sup, "ada")
    actor_runtime.cast(pid, "boom")
    await actor_runtime.wait_idle()

    assert () == await which_children(actor_runtime, sup)


@pytest.mark.asyncio
async def test_max_children_refuses_more(actor_runtime: Runtime) -> None:
    """Past ``max_children`` starting fails with OTP's word for it."""
    sup = await actor_runtime.start(DynamicSupervisor, template(), kwargs={"max_children": 1})
    await start_dynamic_child(actor_runtime, sup, "ada")

    with pytest.raises(SupervisorError, match="child 'session': max_children"):
        await start_dynamic_child(actor_runtime, sup, "bob")


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("session",), {}, "template: must be a ChildSpec (got 'session', a str)"),
        ((ChildSpec(id="s", start=(Session, ()), name="svc"),), {}, "template.name: must be None: every child would register the same name (got 'svc', a str)"),
        ((template(),), {"max_children": -1}, "max_children: must be None (no limit) or an int >= 0 (got -1, an int)"),
        ((template(),), {"intensity": 1.5}, "intensity: must be an int >= 0 (got 1.5, a float)"),
        ((template(),), {"period": float("inf")}, "period: must be a finite number of seconds > 0 (got inf, a float)"),
    ],
)
@pytest.mark.asyncio
async def test_bad_start_arguments_fail_the_start_naming_them(actor_runtime: Runtime, args: tuple, kwargs: dict, expected: str) -> None:
    """The template and the limits are checked as a static supervisor's specs and flags are."""
    with pytest.raises(StartFailed) as info:
        await actor_runtime.start(DynamicSupervisor, *args, kwargs=kwargs)

    assert expected == str(info.value.reason)


@pytest.mark.asyncio
async def test_a_template_with_backoff_pauses_each_childs_restarts(actor_runtime: Runtime) -> None:
    """The restart engine is the static supervisor's: a crashed child shows ``RESTARTING``
    during its pause, comes back after 1 s, then 2 s, and the pauses do not count toward the
    intensity (0 here)."""
    rt = actor_runtime
    backoff = Backoff(min=1, max=8, random_factor=0)
    sup = await rt.start(DynamicSupervisor, ChildSpec(id="s", start=(Session, ("chat",)), backoff=backoff), kwargs={"intensity": 0})
    pid = await start_dynamic_child(rt, sup, "ada")
    back = []
    for _ in range(2):
        rt.cast(pid, "boom")
        await rt.wait_idle()
        crashed_at = rt.now()
        assert ((None, RESTARTING, "worker"),) == await which_children(rt, sup)
        while (pid := (await which_children(rt, sup))[0][1]) == RESTARTING:
            await asyncio.sleep(0.25)
        back.append(rt.now() - crashed_at)

    assert [1.0, 2.0] == back
    assert ("chat", "ada") == await rt.call(pid, "who")
    assert 2 == (await count_children(rt, sup))["restarts"]
