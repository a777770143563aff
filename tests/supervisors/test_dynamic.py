"""The dynamic supervisor beyond OTP's suite (see ``test_supervisor_suite.py`` for its cases)."""

import pytest
from neural_actors.runtime import Actor, Runtime
from neural_actors.supervisors import (
    ChildSpec,
    DynamicSupervisor,
    SupervisorError,
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
