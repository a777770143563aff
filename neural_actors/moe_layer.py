"""``MoELayer``: a mixture of experts as one supervised unit, built from its model file.

A supervisor (``one_for_one``) over:

- ``experts``: a supervisor of one ``ExpertActor`` per expert, each registered as
  ``{layer}/expert-{e}`` and declaring its weight bytes (``ChildSpec.memory``), so the mesh's
  ``pack`` and ``comm_aware`` placement work on real sizes;
- ``replicas``: a ``DynamicSupervisor`` of extra expert replicas (temporary children), which
  ``Mitosis`` starts and stops;
- ``router``: the ``MoERouter``, registered as ``{layer}``: clients call it by that name;
- ``mitosis``: the ``Mitosis`` controller, when ``mitosis`` options are given.

On a runtime with a mesh the layer also declares the traffic between the router and each
expert (``Runtime.placement.traffic``), so ``comm_aware`` placement puts the router where the
experts' traffic is cheapest: the experts start first, the router then goes to their centre.

In YAML (``neural-actors run``), the whole layer is one node::

    - id: digits
      actor: neural_actors.moe_layer:MoELayer
      type: supervisor
      args: [neural_actors/models/moe_digits.npz]
      kwargs: {layer: digits, router: {k_min: 1}, mitosis: {max_total: 4}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neural_actors.supervisors import ChildSpec, DynamicSupervisor, Supervisor, SupervisorFlags

from .experts import ExpertActor, expert_group
from .mitosis import Mitosis
from .model_store import load_model
from .moe_model import MoEModel
from .moe_router import MoERouter

__all__ = ["MoELayer", "expert_name", "pool_name"]


def expert_name(layer: str, index: int) -> str:
    """The registered name of expert ``index``'s first replica in ``layer``: the name of its
    group (names and groups are separate registries)."""
    return expert_group(layer, index)


def pool_name(layer: str) -> str:
    """The registered name of ``layer``'s replica pool (a ``DynamicSupervisor``)."""
    return f"{layer}/replicas"


class MoELayer(Supervisor):
    """Experts, replica pool, router (and mitosis) of the mixture in ``source``.

    Args (of ``init``):
        source: the ``MoEModel``'s source (a path or ``store:NAME``).
        layer: the mixture's name: the router's registered name and the experts' prefix.
        router: keyword arguments of ``MoERouter.init`` (``k_min``, ``forward_timeout``...).
        expert: keyword arguments of ``ExpertActor.init`` (batching).
        mitosis: keyword arguments of ``Mitosis.init``, or None for no mitosis.
        intensity, period: the experts supervisor's restart intensity (the layer itself
            allows as many restarts of its own children).
    """

    async def init(  # type: ignore[override]
        self,
        source: str,
        *,
        layer: str = "moe",
        router: Mapping[str, Any] | None = None,
        expert: Mapping[str, Any] | None = None,
        mitosis: Mapping[str, Any] | None = None,
        intensity: int = 100,
        period: float = 1.0,
    ) -> None:
        model = load_model(source, MoEModel.load)
        options = {"layer": layer, **(expert or {})}
        weight_bytes = model.expert_bytes()
        experts = tuple(
            ChildSpec(id=f"expert-{e}", start=(ExpertActor, (source, e), options), name=expert_name(layer, e),
                      memory=weight_bytes)
            for e in range(model.expert_count)
        )
        replica = ChildSpec(id="replica", start=(ExpertActor, (source,), options), restart="temporary",
                            memory=weight_bytes)
        flags = SupervisorFlags(intensity=intensity, period=period)
        children = [
            ChildSpec(id="experts", start=(Supervisor, (flags, experts)), type="supervisor"),
            ChildSpec(id="replicas", start=(DynamicSupervisor, (replica,), {"intensity": intensity, "period": period}),
                      type="supervisor", name=pool_name(layer)),
            ChildSpec(id="router", start=(MoERouter, (source,), {"layer": layer, **(router or {})}), name=layer),
        ]
        if mitosis is not None:
            children.append(ChildSpec(id="mitosis", start=(Mitosis, (layer,), dict(mitosis))))
        self._declare_traffic(layer, model)
        await super().init(SupervisorFlags(intensity=intensity, period=period), children)

    def _declare_traffic(self, layer: str, model: MoEModel) -> None:
        """Each expert exchanges with the router about 1/E of the tokens (times k, out and back)."""
        placement = self.runtime.placement
        if placement is None:
            return
        share = model.k / model.expert_count
        for e in range(model.expert_count):
            placement.traffic[layer, expert_name(layer, e)] = share
