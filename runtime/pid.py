"""Process identifiers and unique references.

A ``Pid`` carries its node and mesh core from the start, so the same value keeps working when
a tree spans cores or hosts. Serials come from one counter per runtime and are never reused,
so a stale pid can never reach a newer process.
"""

from __future__ import annotations

from typing import final

import attrs


@final
@attrs.frozen(repr=False, order=True, cache_hash=True)
class Pid:
    """The address of one process: ``node.core.serial``, printed ``<0.3.17>``."""

    node: int
    core: int
    serial: int

    def __repr__(self) -> str:
        return f"<{self.node}.{self.core}.{self.serial}>"


@final
@attrs.frozen(repr=False, order=True, cache_hash=True)
class Ref:
    """A unique reference (monitors, calls, timers), printed ``#Ref<0.42>``."""

    node: int
    serial: int

    def __repr__(self) -> str:
        return f"#Ref<{self.node}.{self.serial}>"
