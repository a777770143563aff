"""Process identifiers and unique references.

A ``Pid`` carries its node and mesh core from the start, so the same value keeps working when
a tree spans cores or hosts. Serials come from one counter per runtime and are never reused,
so a stale pid can never reach a newer process. Pids are per runtime: two runtimes in one
program each count from 1, so give each its own ``node`` when both log to one place.

Hashes are computed from the numbers alone, never from a per-process salt, so sets and dicts
of pids iterate in the same order in every process and a seeded run replays exactly.
"""

from __future__ import annotations

from typing import final

import attrs

__all__ = ["Pid", "Ref"]


@final
@attrs.frozen(repr=False, order=True, hash=False)
class Pid:
    """The address of one process: ``node.core.serial``, printed ``<0.3.17>``."""

    node: int
    core: int
    serial: int
    _hash: int = attrs.field(init=False, eq=False, order=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.node, self.core, self.serial)))

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"<{self.node}.{self.core}.{self.serial}>"


@final
@attrs.frozen(repr=False, order=True, hash=False)
class Ref:
    """A unique reference (monitors, calls, timers), printed ``#Ref<0.42>``."""

    node: int
    serial: int

    def __hash__(self) -> int:
        return hash((self.node, self.serial))

    def __repr__(self) -> str:
        return f"#Ref<{self.node}.{self.serial}>"
