"""The chaos suite: every example config in configs/, under its own fault plan and load if it
has them, else the default plan and a load on its inference workers, 200 seeds each on the
virtual clock. No run may hang a call, lose a message, or break any other invariant.

Replay a failure with the command its report shows (``pytest '...[seed=S]' --chaos-seed S``);
``--chaos-runs N`` runs fewer seeds.
"""

from pathlib import Path

import numpy as np
import pytest
import structlog.testing
from neural_actors.faults import DEFAULT_PLAN, Load, run_chaos_seeds
from neural_actors.runtime import freeze
from neural_actors.supervisors import load_config

from neural_actors.demo import FEATURES, WORKERS_GROUP, Infer

ROOT = Path(__file__).resolve().parents[2]
#: The model-serving configs (moe_mesh, fff_service, sharded_fff, service, cluster) run real
#: kernel work per request, too slow for 200 seeds each; their own tests kill their actors.
MODEL_CONFIGS = {"moe_mesh.yaml", "fff_service.yaml", "sharded_fff.yaml", "service.yaml", "cluster.yaml"}
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.name not in MODEL_CONFIGS)
BATCH = freeze(np.ones((4, FEATURES), np.float32))


def infer(_: int) -> Infer:
    return Infer(BATCH)


#: For configs without a load: section: calls to the inference workers every example runs.
INFERENCE_LOAD = (Load(WORKERS_GROUP, infer, group=True, clients=2, rate=200, timeout=0.05),)


@pytest.mark.chaos(runs=200)
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_keeps_every_invariant_under_chaos(path: Path, chaos_seed: int) -> None:
    """Half a virtual second of faults and load, then no hung call, no lost message, nothing else broken."""
    config = load_config(path)
    faults, load = config.sections.get("faults"), config.sections.get("load")
    plan = faults.fault_plan() if faults is not None else DEFAULT_PLAN
    with structlog.testing.capture_logs():
        (report,) = run_chaos_seeds(
            config.tree, plan, [chaos_seed], load=load.loads() if load is not None else INFERENCE_LOAD,
            duration=0.5, runtime={"log_level": "error"},
        )

    assert (0, 0) == (report.requests.hung, report.accounting.unaccounted), report.render()
    assert report.ok, report.render()
