"""Names and groups: finding processes without holding their pids.

As Elixir's ``Registry``: a *name* maps to one live process and is released when it exits;
a *group* key maps to many members (``join``), e.g. every replica of a model shard, so a
message can be dispatched to all of them. Entries are removed when their process exits, so
lookups never return a dead pid.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, final

from .errors import NameTaken
from .pid import Pid

if TYPE_CHECKING:
    from .process import Process

__all__ = ["Registry"]


@final
class Registry:
    """The name and group tables of one runtime."""

    __slots__ = ("_groups", "_names")

    def __init__(self) -> None:
        self._names: dict[Hashable, Process] = {}
        self._groups: dict[Hashable, dict[Pid, Process]] = {}

    def register(self, name: Hashable, process: Process) -> None:
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

    def whereis(self, name: Hashable) -> Process | None:
        """The live process registered as ``name``, if any."""
        return self._names.get(name)

    def names(self) -> list[Hashable]:
        """Every registered name."""
        return list(self._names)

    def join(self, key: Hashable, process: Process) -> None:
        """Add ``process`` to group ``key`` (joining twice is harmless)."""
        self._groups.setdefault(key, {})[process.pid] = process
        if process.groups is None:
            process.groups = set()
        process.groups.add(key)

    def leave(self, key: Hashable, process: Process) -> None:
        """Remove ``process`` from group ``key``."""
        members = self._groups.get(key)
        if members is not None:
            members.pop(process.pid, None)
            if not members:
                del self._groups[key]
        if process.groups is not None:
            process.groups.discard(key)

    def members(self, key: Hashable) -> list[Process]:
        """The live members of group ``key``, in join order."""
        return list(self._groups.get(key, {}).values())

    def forget(self, process: Process) -> None:
        """Drop every entry of an exiting process."""
        if process.name is not None:
            self._names.pop(process.name, None)
        if process.groups:
            for key in list(process.groups):
                self.leave(key, process)

    def statistics(self) -> dict[str, Any]:
        """Counts of names and groups."""
        return {"names": len(self._names), "groups": len(self._groups)}
