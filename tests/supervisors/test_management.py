"""Management calls: bad arguments and unknown requests are the caller's errors and leave the
tree exactly as it was; ``which_child`` and ``get_childspec`` on both kinds of supervisor."""

import re

import numpy as np
import pytest
from neural_actors.runtime import Actor, Runtime, freeze
from neural_actors.supervisors import (
    RESTARTING,
    Backoff,
    ChildSpec,
    DynamicSupervisor,
    InvalidChildSpec,
    Supervisor,
    SupervisorError,
    SupervisorFlags,
    delete_child,
    get_childspec,
    restart_child,
    start_child,
    start_dynamic_child,
    terminate_child,
    which_child,
    which_children,
)
from neural_actors.supervisors.management import StartDynamicChild


class Worker(Actor):
    """A child that answers calls with its arguments and crashes when cast to."""

    def init(self, *args, **kwargs) -> None:
        self.args = args

    def handle_call(self, msg, caller):
        return self.args

    def handle_cast(self, msg):
        raise RuntimeError(msg)


STATIC_KNOWN = "which_children, which_child, count_children, get_childspec, start_child, terminate_child, restart_child, delete_child, tree_health"
DYNAMIC_KNOWN = "which_children, which_child, count_children, get_childspec, start_dynamic_child, terminate_child, restart_child, delete_child, tree_health"


async def tree(rt: Runtime) -> tuple:
    """A supervisor with two workers, and a snapshot of them to compare against."""
    sup = await rt.start(Supervisor, SupervisorFlags(), [ChildSpec(id="a", start=(Worker, ())), ChildSpec(id="b", start=(Worker, ()))])
    return sup, await which_children(rt, sup)


async def assert_unchanged(rt: Runtime, sup, before: tuple) -> None:
    assert before == await which_children(rt, sup)
    assert all(rt.is_alive(pid) for _, pid, _ in before)


ARRAY_ID = (freeze(np.zeros(2)),)

STATIC_MISTAKES = [
    (
        lambda rt, sup: start_child(rt, sup, "not a spec"),
        InvalidChildSpec,
        "spec: must be a ChildSpec (a DynamicSupervisor starts children with start_dynamic_child) (got 'not a spec', a str)",
    ),
    (
        lambda rt, sup: start_child(rt, sup, ChildSpec(id="s", start=(Worker, ()), restart="transient", significant=True)),
        InvalidChildSpec,
        "significant: must be False under auto_shutdown never; give the supervisor auto_shutdown any_significant "
        "or all_significant to let this child shut it down (got True, a bool)",
    ),
    (lambda rt, sup: start_child(rt, sup, ChildSpec(id="a", start=(Worker, ()))), SupervisorError, "child 'a': already_started"),
    (lambda rt, sup: terminate_child(rt, sup, "nope"), SupervisorError, "child 'nope': not_found"),
    (
        lambda rt, sup: terminate_child(rt, sup, ARRAY_ID),
        InvalidChildSpec,
        "child_id: must be a hashable child id (got (array([0., 0.]),), a tuple)",
    ),
    (lambda rt, sup: restart_child(rt, sup, 3.5), SupervisorError, "child 3.5: not_found"),
    (lambda rt, sup: restart_child(rt, sup, "a"), SupervisorError, "child 'a': running"),
    (lambda rt, sup: delete_child(rt, sup, ARRAY_ID), InvalidChildSpec, "child_id: must be a hashable child id (got (array([0., 0.]),), a tuple)"),
    (lambda rt, sup: delete_child(rt, sup, "b"), SupervisorError, "child 'b': running"),
    (lambda rt, sup: which_child(rt, sup, None), SupervisorError, "not_found"),
    (lambda rt, sup: get_childspec(rt, sup, ("a",)), SupervisorError, "child ('a',): not_found"),
    (
        lambda rt, sup: start_dynamic_child(rt, sup, "x"),
        SupervisorError,
        f"unknown_request: Supervisor answers only the requests of {STATIC_KNOWN}; call those functions, "
        "e.g. await which_children(rt, supervisor) (got StartDynamicChild(extra=('x',)))",
    ),
]


@pytest.mark.parametrize(("call", "error", "expected"), STATIC_MISTAKES)
@pytest.mark.asyncio
async def test_a_bad_management_call_is_the_callers_error_and_changes_nothing(actor_runtime: Runtime, call, error, expected: str) -> None:
    """The caller gets the error; the supervisor and its children carry on as they were."""
    sup, before = await tree(actor_runtime)

    with pytest.raises(error) as info:
        await call(actor_runtime, sup)

    assert expected == str(info.value)
    await assert_unchanged(actor_runtime, sup, before)


async def dynamic_tree(rt: Runtime) -> tuple:
    sup = await rt.start(DynamicSupervisor, ChildSpec(id="d", start=(Worker, ())))
    await start_dynamic_child(rt, sup, 1)
    await start_dynamic_child(rt, sup, 2)
    return sup, await which_children(rt, sup)


PID = r"<\d+\.\d+\.\d+>"

DYNAMIC_MISTAKES = [
    (
        lambda rt, sup: start_child(rt, sup, ChildSpec(id="x", start=(Worker, ()))),
        re.escape(f"unknown_request: DynamicSupervisor answers only the requests of {DYNAMIC_KNOWN}; call those functions, "
                  "e.g. await which_children(rt, supervisor) (got StartChild(spec=ChildSpec(id='x', ") + ".*",
    ),
    (lambda rt, sup: terminate_child(rt, sup, "d"), re.escape("child 'd': simple_one_for_one: a dynamic supervisor's children are named by pid")),
    (lambda rt, sup: which_child(rt, sup, "d"), re.escape("child 'd': simple_one_for_one: a dynamic supervisor's children are named by pid")),
    (lambda rt, sup: which_child(rt, sup, rt.spawn(Worker)), f"child {PID}: not_found"),
    (lambda rt, sup: terminate_child(rt, sup, rt.spawn(Worker)), f"child {PID}: not_found"),
    (lambda rt, sup: get_childspec(rt, sup, rt.spawn(Worker)), f"child {PID}: not_found"),
    (lambda rt, sup: get_childspec(rt, sup, ARRAY_ID), re.escape("child_id: must be a hashable child id (got (array([0., 0.]),), a tuple)")),
    (lambda rt, sup: restart_child(rt, sup, "d"), re.escape("child 'd': simple_one_for_one: a dynamic supervisor's children have no specs of their own")),
    (lambda rt, sup: delete_child(rt, sup, "d"), re.escape("child 'd': simple_one_for_one: a dynamic supervisor's children have no specs of their own")),
]


@pytest.mark.parametrize(("call", "expected"), DYNAMIC_MISTAKES)
@pytest.mark.asyncio
async def test_a_bad_call_to_a_dynamic_supervisor_is_the_callers_error(actor_runtime: Runtime, call, expected: str) -> None:
    """The same for a ``DynamicSupervisor``."""
    sup, before = await dynamic_tree(actor_runtime)

    with pytest.raises((SupervisorError, InvalidChildSpec)) as info:
        await call(actor_runtime, sup)

    assert re.fullmatch(expected, str(info.value)), str(info.value)
    await assert_unchanged(actor_runtime, sup, before)


@pytest.mark.asyncio
async def test_a_dynamic_supervisor_answers_bad_start_arguments_with_an_error(actor_runtime: Runtime) -> None:
    """Extra arguments that are not a tuple (only a hand-made request can send them) are refused."""
    sup, before = await dynamic_tree(actor_runtime)

    error = await actor_runtime.call(sup, StartDynamicChild("abc"))  # type: ignore[arg-type]

    assert "extra: must be a tuple of start arguments (got 'abc', a str)" == str(error)
    await assert_unchanged(actor_runtime, sup, before)


@pytest.mark.parametrize("request_", ["which_children", ("which_children",), 42, None])
@pytest.mark.asyncio
async def test_an_unknown_request_is_answered_naming_the_functions_to_call(actor_runtime: Runtime, request_) -> None:
    """A guess such as ``rt.call(sup, "which_children")`` raises in the caller, naming the
    requests the supervisor answers; the tree stays up."""
    sup, before = await tree(actor_runtime)

    with pytest.raises(SupervisorError) as info:
        await actor_runtime.call(sup, request_)

    assert (
        f"unknown_request: Supervisor answers only the requests of {STATIC_KNOWN}; call those functions, "
        f"e.g. await which_children(rt, supervisor) (got {request_!r})"
    ) == str(info.value)
    assert ("unknown_request", None) == (info.value.error, info.value.child_id)
    await assert_unchanged(actor_runtime, sup, before)


@pytest.mark.asyncio
async def test_a_dynamic_supervisor_answers_an_unknown_request_too(actor_runtime: Runtime) -> None:
    """The same for a ``DynamicSupervisor``, which names ``start_dynamic_child``."""
    sup, before = await dynamic_tree(actor_runtime)

    with pytest.raises(SupervisorError) as info:
        await actor_runtime.call(sup, "start_child")

    assert f"DynamicSupervisor answers only the requests of {DYNAMIC_KNOWN};" in str(info.value)
    await assert_unchanged(actor_runtime, sup, before)


@pytest.mark.parametrize("kind", ["static", "dynamic"])
@pytest.mark.asyncio
async def test_a_cast_to_a_supervisor_is_ignored(actor_runtime: Runtime, kind: str) -> None:
    """Nothing is cast to a supervisor; a stray cast does not take the tree down."""
    sup, before = await (tree if kind == "static" else dynamic_tree)(actor_runtime)

    actor_runtime.cast(sup, "which_children")
    await actor_runtime.wait_idle()

    await assert_unchanged(actor_runtime, sup, before)


@pytest.mark.asyncio
async def test_which_child_shows_one_child_as_which_children_does(actor_runtime: Runtime) -> None:
    """``(id, pid, type)``, with None for a stopped child."""
    rt = actor_runtime
    sup, before = await tree(rt)

    assert before == (await which_child(rt, sup, "a"), await which_child(rt, sup, "b"))
    await terminate_child(rt, sup, "b")
    assert ("b", None, "worker") == await which_child(rt, sup, "b")


@pytest.mark.asyncio
async def test_which_child_of_a_dynamic_supervisor_takes_a_pid(actor_runtime: Runtime) -> None:
    """A dynamic child has no id: it is named by pid, and shows ``RESTARTING`` while its restart
    is due, under the pid it had."""
    rt = actor_runtime
    sup = await rt.start(DynamicSupervisor, ChildSpec(id="d", start=(Worker, ()), backoff=Backoff(min=5, random_factor=0)))
    pid = await start_dynamic_child(rt, sup, 1)
    assert (None, pid, "worker") == await which_child(rt, sup, pid)

    rt.cast(pid, "boom")
    await rt.wait_idle()

    assert (None, RESTARTING, "worker") == await which_child(rt, sup, pid)


@pytest.mark.asyncio
async def test_get_childspec_of_a_temporary_child_keeps_no_start_arguments(actor_runtime: Runtime) -> None:
    """A temporary child is never restarted, so its spec no longer holds its arguments."""
    rt = actor_runtime
    sup, _ = await tree(rt)
    spec = ChildSpec(id="t", start=(Worker, (1, 2), {"k": 3}), restart="temporary")
    pid = await start_child(rt, sup, spec)

    assert (1, 2) == await rt.call(pid, "args?")
    assert ChildSpec(id="t", start=(Worker, ()), restart="temporary") == await get_childspec(rt, sup, "t")
