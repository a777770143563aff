"""Child specs and supervisor flags, validated one field at a time as OTP does.

Each validator raises ``InvalidChildSpec(field, value, reason)``; callers (the supervisor,
later the YAML loader) add where the spec came from. Combinations are checked after the
fields, with OTP's rules: a significant child must be ``transient`` or ``temporary``, and
significant children need an ``auto_shutdown`` other than ``never``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal, final

import attrs
from neural_actors.runtime import Actor, FrozenDict, message

from .backoff import Backoff
from .errors import InvalidChildSpec

__all__ = ["ChildSpec", "SupervisorFlags"]

Restart = Literal["permanent", "transient", "temporary"]
ChildType = Literal["worker", "supervisor"]
Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
AutoShutdown = Literal["never", "any_significant", "all_significant"]

RESTARTS = ("permanent", "transient", "temporary")
CHILD_TYPES = ("worker", "supervisor")
STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
AUTO_SHUTDOWNS = ("never", "any_significant", "all_significant")


def _one_of(field: str, choices: tuple[str, ...]) -> Any:
    def check(_: Any, __: Any, value: Any) -> None:
        if value not in choices:
            raise InvalidChildSpec(field, value, f"is not one of {', '.join(choices)}")

    return check


def _check_id(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, Hashable) or value is None:
        raise InvalidChildSpec("id", value, "must be a hashable value, not None")


def _check_start(_: Any, __: Any, value: Any) -> None:
    if not (isinstance(value, tuple) and 1 <= len(value) <= 3):
        raise InvalidChildSpec("start", value, "must be (actor_class, args) or (actor_class, args, kwargs)")
    actor = value[0]
    if not (isinstance(actor, type) and issubclass(actor, Actor)):
        raise InvalidChildSpec("start", value, f"{actor!r} is not an Actor subclass")
    if len(value) > 1 and not isinstance(value[1], tuple):
        raise InvalidChildSpec("start", value, "args must be a tuple")
    if len(value) > 2 and not isinstance(value[2], FrozenDict):
        raise InvalidChildSpec("start", value, "kwargs must be a dict")


def _check_shutdown(_: Any, __: Any, value: Any) -> None:
    if value in (None, "brutal_kill", "infinity"):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidChildSpec("shutdown", value, "must be 'brutal_kill', 'infinity' or seconds >= 0")


def _freeze_kwargs(value: Any) -> Any:
    """Keyword arguments as a ``FrozenDict``; the values are the caller's, as given."""
    if isinstance(value, tuple) and len(value) == 3 and type(value[2]) is dict:
        return (*value[:2], FrozenDict(value[2]))
    return value


@final
@message
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    Args:
        id: unique among the supervisor's children.
        start: ``(actor_class, args)`` or ``(actor_class, args, kwargs)``.
        restart: ``permanent`` (always restarted), ``transient`` (restarted after an abnormal
            exit only) or ``temporary`` (never restarted).
        shutdown: ``brutal_kill``, seconds to wait after the ``shutdown`` signal before
            killing, or ``infinity``; ``None`` means 5 s for workers and ``infinity`` for
            supervisors.
        type: ``worker`` or ``supervisor``.
        significant: its exit may shut the supervisor down (see ``auto_shutdown``).
        backoff: restart after growing pauses instead of at once (see ``Backoff``).
        name: register each incarnation of the child under this name, so clients address
            it across restarts.
    """

    id: Hashable = attrs.field(validator=_check_id)
    start: tuple[Any, ...] = attrs.field(converter=_freeze_kwargs, validator=_check_start)
    restart: Restart = attrs.field(default="permanent", validator=_one_of("restart", RESTARTS))
    shutdown: float | str | None = attrs.field(default=None, validator=_check_shutdown)
    type: ChildType = attrs.field(default="worker", validator=_one_of("type", CHILD_TYPES))
    significant: bool = attrs.field(default=False)
    backoff: Backoff | None = attrs.field(default=None)
    name: Hashable | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if type(self.significant) is not bool:
            raise InvalidChildSpec("significant", self.significant, "must be true or false")
        if self.backoff is not None and type(self.backoff) is not Backoff:
            raise InvalidChildSpec("backoff", self.backoff, "must be a Backoff or None")
        if self.significant and self.restart == "permanent":
            raise InvalidChildSpec("significant", True, "a significant child must be transient or temporary, not permanent")

    @property
    def shutdown_timeout(self) -> float | str:
        """The effective shutdown: the default resolved by the child's type."""
        if self.shutdown is not None:
            return self.shutdown
        return "infinity" if self.type == "supervisor" else 5.0

    @property
    def actor(self) -> type[Actor]:
        return self.start[0]

    @property
    def args(self) -> tuple[Any, ...]:
        return self.start[1] if len(self.start) > 1 else ()

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.start[2]) if len(self.start) > 2 else {}


def _check_intensity(_: Any, __: Any, value: Any) -> None:
    if type(value) is not int or value < 0:
        raise InvalidChildSpec("intensity", value, "must be an int >= 0")


def _check_period(_: Any, __: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidChildSpec("period", value, "must be seconds > 0")


@final
@attrs.frozen
class SupervisorFlags:
    """A supervisor's strategy and restart intensity (defaults as OTP: 1 restart in 5 s)."""

    strategy: Strategy = attrs.field(default="one_for_one", validator=_one_of("strategy", STRATEGIES))
    intensity: int = attrs.field(default=1, validator=_check_intensity)
    period: float = attrs.field(default=5.0, validator=_check_period)
    auto_shutdown: AutoShutdown = attrs.field(default="never", validator=_one_of("auto_shutdown", AUTO_SHUTDOWNS))

    def check_children(self, children: Sequence[ChildSpec]) -> None:
        """Check what depends on the set of children: unique ids, significance vs auto_shutdown.

        Raises:
            InvalidChildSpec: naming the child by its position.
        """
        seen: set[Hashable] = set()
        for index, spec in enumerate(children):
            if not isinstance(spec, ChildSpec):
                raise InvalidChildSpec(f"children[{index}]", spec, "must be a ChildSpec")
            if spec.id in seen:
                raise InvalidChildSpec(f"children[{index}].id", spec.id, "is already used by another child")
            seen.add(spec.id)
            if spec.significant and self.auto_shutdown == "never":
                raise InvalidChildSpec(
                    f"children[{index}].significant", True, "significant children need auto_shutdown other than never"
                )
