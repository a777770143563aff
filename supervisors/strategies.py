"""The restart strategies: which children stop and start again when one has to be restarted.

OTP writes one clause per strategy (``restart(one_for_one, ...)``). Here each is a small pure
function of the children in start order and the child being restarted, and ``STRATEGIES`` is
the one table of them: the supervisor looks its strategy up here, and ``SupervisorFlags``
takes its valid names from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TypeVar

__all__ = ["STRATEGIES", "one_for_all", "one_for_one", "rest_for_one"]

C = TypeVar("C")

#: ``(children in start order, the child to restart) -> (to stop, to start)``; the supervisor
#: stops the first list in reverse order, then starts the second in order.
Strategy = Callable[[Sequence[C], C], tuple[list[C], list[C]]]


def one_for_one(children: Sequence[C], child: C) -> tuple[list[C], list[C]]:
    """Only ``child``: for children that do not depend on each other."""
    return [], [child]


def one_for_all(children: Sequence[C], child: C) -> tuple[list[C], list[C]]:
    """Stop every other child, then start all again: each depends on every other."""
    return [c for c in children if c is not child], list(children)


def rest_for_one(children: Sequence[C], child: C) -> tuple[list[C], list[C]]:
    """Stop the children started after ``child``, then start it and them: later children
    depend on earlier ones."""
    index = next(i for i, c in enumerate(children) if c is child)
    rest = list(children[index + 1 :])
    return rest, [child, *rest]


STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {"one_for_one": one_for_one, "one_for_all": one_for_all, "rest_for_one": rest_for_one}
)
