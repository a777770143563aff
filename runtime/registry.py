"""Names and groups: finding processes without holding their pids.

As Elixir's ``Registry``: a *name* maps to one live process and is released when it exits;
a *group* key maps to many members (``join``), e.g. every replica of a model shard, so a
message can be dispatched to all of them. Entries are removed when their process exits, so
lookups never return a dead pid. Groups keep join order, in every run.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Generic, Protocol, TypeVar, final

from .errors import NameTaken
from .pid import Pid

__all__ = ["Registrant", "Registry"]


class Registrant(Protocol):
    """What the registry needs of a process: its pid and where to note its name and groups."""

    pid: Pid
    name: Any
    groups: dict[Any, None] | None


P = TypeVar("P", bound=Registrant)


@final
class Registry(Generic[P]):
    """The name and group tables of one runtime."""

    __slots__ = ("_groups", "_names")

    def __init__(self) -> None:
        self._names: dict[Hashable, P] = {}
        self._groups: dict[Hashable, dict[Pid, P]] = {}

    def register(self, name: Hashable, process: P) -> None:
        """Give ``process`` the unique ``name``.

        Raises:
            NameTaken: another live process holds ``name``.
            ValueError: ``process`` already has another name.
        """
        holder = self._names.get(name)
        if holder is not None and holder is not process:
            raise NameTaken(name, holder.pid)
        if process.name is not None and process.name != name:
            raise ValueError(f"{process.pid!r} is already registered as {process.name!r}")
        self._names[name] = process
        process.name = name

    def unregister(self, name: Hashable) -> None:
        """Release ``name`` (no error if it is free)."""
        process = self._names.pop(name, None)
        if process is not None:
            process.name = None

    def whereis(self, name: Hashable) -> P | None:
        """The live process registered as ``name``, if any."""
        return self._names.get(name)

    def join(self, key: Hashable, process: P) -> None:
        """Add ``process`` to group ``key`` (joining twice is harmless)."""
        self._groups.setdefault(key, {})[process.pid] = process
        if process.groups is None:
            process.groups = {}
        process.groups[key] = None

    def leave(self, key: Hashable, process: P) -> None:
        """Remove ``process`` from group ``key``."""
        members = self._groups.get(key)
        if members is not None:
            members.pop(process.pid, None)
            if not members:
                del self._groups[key]
        if process.groups is not None:
            process.groups.pop(key, None)

    def members(self, key: Hashable) -> list[P]:
        """The live members of group ``key``, in join order."""
        return list(self._groups.get(key, {}).values())

    def names(self) -> dict[Hashable, P]:
        """Every registered name and its process, in registration order (a copy)."""
        return dict(self._names)

    def groups(self) -> dict[Hashable, list[P]]:
        """Every group and its members, in join order (a copy)."""
        return {key: list(members.values()) for key, members in self._groups.items()}

    def forget(self, process: P) -> None:
        """Drop every entry of an exiting process."""
        if process.name is not None:
            self._names.pop(process.name, None)
        if process.groups:
            for key in list(process.groups):
                self.leave(key, process)
