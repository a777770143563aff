"""The dynamic supervisor: children from a template, on demand, restarted one for one."""

import pytest

from neural_actors.runtime import Actor, Runtime
from neural_actors.supervisors import ChildSpec, DynamicSupervisor, SupervisorError, start_dynamic_child


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
async def test_crashed_child_is_restarted_with_its_own_arguments(actor_runtime: Runtime) -> None:
    """A permanent child comes back with the same extra arguments."""
    sup = await actor_runtime.start(DynamicSupervisor, template())
    pid = await start_dynamic_child(actor_runtime, sup, "ada")
    actor_runtime.cast(pid, "boom")
    await actor_runtime.wait_idle()

    (new,) = await actor_runtime.call(sup, ("which_children",))
    assert new != pid
    assert ("chat", "ada") == await actor_runtime.call(new, "who")


@pytest.mark.asyncio
async def test_temporary_children_are_not_restarted(actor_runtime: Runtime) -> None:
    """Temporary children are forgotten when they exit."""
    sup = await actor_runtime.start(DynamicSupervisor, template("temporary"))
    pid = await start_dynamic_child(actor_runtime, sup, "ada")
    actor_runtime.cast(pid, "boom")
    await actor_runtime.wait_idle()

    assert () == await actor_runtime.call(sup, ("which_children",))


@pytest.mark.asyncio
async def test_max_children_refuses_more(actor_runtime: Runtime) -> None:
    """Past ``max_children`` starting fails with OTP's word for it."""
    sup = await actor_runtime.start(DynamicSupervisor, template(), kwargs={"max_children": 1})
    await start_dynamic_child(actor_runtime, sup, "ada")

    with pytest.raises(SupervisorError, match="child 'session': max_children"):
        await start_dynamic_child(actor_runtime, sup, "bob")


@pytest.mark.asyncio
async def test_intensity_exceeded_stops_everything(actor_runtime: Runtime) -> None:
    """Too many restarts in the period shut the dynamic supervisor and its children down."""
    sup = await actor_runtime.start(DynamicSupervisor, template(), kwargs={"intensity": 1, "period": 10})
    for user in ("ada", "bob"):
        await start_dynamic_child(actor_runtime, sup, user)
    for _ in range(2):
        victim = (await actor_runtime.call(sup, ("which_children",)))[0]
        actor_runtime.cast(victim, "boom")
        await actor_runtime.wait_idle()

    assert not actor_runtime.is_alive(sup)
    assert 0 == actor_runtime.statistics().processes


@pytest.mark.asyncio
async def test_shutdown_stops_children_concurrently() -> None:
    """Children that each take 3 s to terminate are stopped in 3 s together, not 3 s each."""
    import asyncio

    class Slow(Session):
        async def terminate(self, reason):
            await asyncio.sleep(3)

    async with Runtime(clock="virtual") as rt:
        sup = await rt.start(DynamicSupervisor, ChildSpec(id="s", start=(Slow, ("chat",))))
        for user in "abcd":
            await start_dynamic_child(rt, sup, user)
        start = rt.now()

    assert 3.0 == rt.now() - start
