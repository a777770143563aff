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

import numba
import numpy as np

from neural_actors.kernels.fff import LEVEL_MIN_BATCH
from neural_actors.kernels.moe_dispatch import PARALLEL_MIN_TOKENS, FFFExperts, moe_forward
from neural_actors.supervisors import ChildSpec, DynamicSupervisor, Supervisor, SupervisorFlags

from .experts import ExpertActor, expert_group
from .mitosis import Mitosis
from .model_store import load_model
from .moe_model import MoEModel
from .moe_router import MoERouter

__all__ = ["MoELayer", "expert_name", "mitosis_name", "pool_name"]


def expert_name(layer: str, index: int) -> str:
    """The registered name of expert ``index``'s first replica in ``layer``: the name of its
    group (names and groups are separate registries)."""
    return expert_group(layer, index)


def pool_name(layer: str) -> str:
    """The registered name of ``layer``'s replica pool (a ``DynamicSupervisor``)."""
    return f"{layer}/replicas"


def mitosis_name(layer: str) -> str:
    """The registered name of ``layer``'s ``Mitosis`` controller."""
    return f"{layer}/mitosis"


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

    @classmethod
    def warm_up(cls) -> None:
        """compiling the MoE and FFF kernels, once (numba caches them for later runs)"""
        rng = np.random.default_rng(0)
        experts = FFFExperts(*(rng.standard_normal(shape, dtype=np.float32)
                               for shape in ((2, 1, 3, 4), (2, 1, 3), (2, 1, 3, 4))))
        router_w = rng.standard_normal((4, 2), dtype=np.float32)
        threads = numba.get_num_threads()
        numba.set_num_threads(1)  # as experts run their blocks
        try:
            for rows in (1, LEVEL_MIN_BATCH, PARALLEL_MIN_TOKENS):  # the walk, the level path, threads
                moe_forward(rng.standard_normal((rows, 4), dtype=np.float32), router_w, 2, experts,
                            unavailable=np.array([True, False]))
        finally:
            numba.set_num_threads(threads)

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
            children.append(ChildSpec(id="mitosis", start=(Mitosis, (layer,), dict(mitosis)), name=mitosis_name(layer)))
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
