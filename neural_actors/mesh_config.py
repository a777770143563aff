"""The ``mesh:`` section of a config: run the node on an emulated packet mesh.

::

    mesh:
      preset: wormhole        # a Mesh.preset name: wormhole, blackhole, mesh:8x8, torus:4x4, noc:8x8
      placement: comm_aware   # round_robin, spread, pack, comm_aware

``Runtime(mesh=..., placement=...)`` takes ``MeshSection.options()``. The section is registered
with the config loader when ``neural_actors`` is imported (``register_section``), so every
config may have it.
"""

from __future__ import annotations

from typing import Any, Literal, final

import attrs

from neural_actors.runtime import Mesh
from neural_actors.supervisors import register_section

__all__ = ["MeshSection"]


def _check_preset(_: Any, __: Any, value: str) -> None:
    Mesh.preset(value)  # ValueError naming the known presets


@final
@attrs.frozen
class MeshSection:
    """``mesh:``: the mesh the node runs on and how spawns choose their cores."""

    preset: str = attrs.field(default="wormhole", validator=_check_preset,
                              metadata={"doc": "a mesh preset: wormhole, blackhole, mesh:KXxKY, torus:KXxKY, noc:KXxKY"})
    placement: Literal["round_robin", "spread", "pack", "comm_aware"] = attrs.field(
        default="round_robin", metadata={"doc": "how spawns without a core choose one"}
    )

    def options(self) -> dict[str, Any]:
        """``Runtime``'s keyword arguments for this mesh."""
        return {"mesh": self.preset, "placement": self.placement}


register_section("mesh", MeshSection)
