"""Global names: one process per name across the whole cluster, found from any node.

A local name (``rt.spawn(..., name="x")``, ``rt.register``) belongs to one node, as in Erlang,
and is found only there. A global name is written ``Global("x")`` wherever a target is taken
(``cast``, ``send``, ``call``, ``send_after``): the node resolves it from its replica of the
cluster's name table, which the directory (one Ray actor) keeps and pushes to every node before
a registration returns. A name disappears when its process exits or its node is lost.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import final

from neural_actors.runtime import message

__all__ = ["Global"]


@final
@message
class Global:
    """A cluster-wide name as a target: ``rt.call(Global("router"), request)``."""

    name: Hashable

    def __repr__(self) -> str:
        return f"Global({self.name!r})"
