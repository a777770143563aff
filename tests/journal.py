"""A test's shared record that can travel in a ``ChildSpec``: an immutable handle to a list.

Child specs must hold immutable start arguments (a restart gets the same ones), so a test
cannot hand its children a list to write to. It hands them a ``Journal``: a handle that never
changes, like a pid, to a record kept here, as an actor would be handed the name of a log.
"""

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from neural_actors.runtime import register_immutable

_RECORDS: dict[int, list[Any]] = {}
_KEYS = itertools.count()


@register_immutable
class Journal(Sequence[Any]):
    """Append-only entries, compared equal to a list of the same entries."""

    __slots__ = ("_key",)

    def __init__(self) -> None:
        key = next(_KEYS)
        _RECORDS[key] = []
        object.__setattr__(self, "_key", key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a Journal handle is immutable; append to it")

    def append(self, entry: Any) -> None:
        _RECORDS[self._key].append(entry)

    def clear(self) -> None:
        _RECORDS[self._key].clear()

    def __getitem__(self, index: Any) -> Any:
        return _RECORDS[self._key][index]

    def __len__(self) -> int:
        return len(_RECORDS[self._key])

    def __iter__(self) -> Iterator[Any]:
        return iter(_RECORDS[self._key])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, Journal)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"Journal({_RECORDS[self._key]!r})"
