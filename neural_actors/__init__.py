"""neural-actors: an Erlang/OTP-style supervision runtime on asyncio for neural actors.

The curated public API. Everything a user needs is importable from here::

    import neural_actors as na

    class Echo(na.Actor):
        def handle_call(self, msg, caller):
            return msg

    async with na.Runtime() as rt:
        pid = rt.spawn(Echo)
        await rt.call(pid, "hello")

The supervisors (``Supervisor``, ``DynamicSupervisor``, ``ChildSpec``, the management
functions) are here too, and fault plans (``FaultPlan``; the rest of fault injection, the
invariants and chaos runs are in ``neural_actors.faults``), and the neural actors
(``FFFActor``, ``ExpertActor``, ``MoERouter``, ``MoELayer``, ``ShardedFFF``...): those are
imported on first use, since they bring the numba kernels with them and ``import neural_actors``
should stay quick.
"""

import importlib as _importlib
from importlib.metadata import version as _version

import attrs as _attrs
from typing import Any as _Any

from neural_actors import mesh_config as _mesh_config  # registers the mesh: config section

from neural_actors.runtime import Actor as Actor
from neural_actors.runtime import ActorExited as ActorExited
from neural_actors.runtime import BlockingRuntime as BlockingRuntime
from neural_actors.runtime import CallHistogram as CallHistogram
from neural_actors.runtime import Caller as Caller
from neural_actors.runtime import CallingSelf as CallingSelf
from neural_actors.runtime import CallTimeout as CallTimeout
from neural_actors.runtime import Continue as Continue
from neural_actors.runtime import Deadlock as Deadlock
from neural_actors.runtime import Dispatched as Dispatched
from neural_actors.runtime import Down as Down
from neural_actors.runtime import Exit as Exit
from neural_actors.runtime import FrozenDict as FrozenDict
from neural_actors.runtime import Ignore as Ignore
from neural_actors.runtime import InternalError as InternalError
from neural_actors.runtime import LinkStatistics as LinkStatistics
from neural_actors.runtime import MailboxFull as MailboxFull
from neural_actors.runtime import MailboxPolicy as MailboxPolicy
from neural_actors.runtime import MailboxStatistics as MailboxStatistics
from neural_actors.runtime import Mesh as Mesh
from neural_actors.runtime import MeshStatistics as MeshStatistics
from neural_actors.runtime import NameTaken as NameTaken
from neural_actors.runtime import NoProcess as NoProcess
from neural_actors.runtime import NoReply as NoReply
from neural_actors.runtime import Pid as Pid
from neural_actors.runtime import Placement as Placement
from neural_actors.runtime import PlacementError as PlacementError
from neural_actors.runtime import ProcessInfo as ProcessInfo
from neural_actors.runtime import ProcessStatus as ProcessStatus
from neural_actors.runtime import Ref as Ref
from neural_actors.runtime import Runtime as Runtime
from neural_actors.runtime import RuntimeClosed as RuntimeClosed
from neural_actors.runtime import RuntimeStatistics as RuntimeStatistics
from neural_actors.runtime import Shutdown as Shutdown
from neural_actors.runtime import StartFailed as StartFailed
from neural_actors.runtime import StartIgnored as StartIgnored
from neural_actors.runtime import Stop as Stop
from neural_actors.runtime import TimerRef as TimerRef
from neural_actors.runtime import Unreachable as Unreachable
from neural_actors.runtime import VirtualEventLoop as VirtualEventLoop
from neural_actors.runtime import check_immutable as check_immutable
from neural_actors.runtime import freeze as freeze
from neural_actors.runtime import is_normal as is_normal
from neural_actors.runtime import is_shutdown as is_shutdown
from neural_actors.runtime import message as message
from neural_actors.runtime import plan_comm_aware as plan_comm_aware
from neural_actors.runtime import register_immutable as register_immutable
from neural_actors.runtime import run as run
from neural_actors.runtime import MetricsSnapshot as MetricsSnapshot
from neural_actors.runtime import RuntimeMetrics as RuntimeMetrics
from neural_actors.runtime import traffic_cost as traffic_cost
from neural_actors.supervisors import RESTARTING as RESTARTING
from neural_actors.supervisors import Backoff as Backoff
from neural_actors.supervisors import ChildHealth as ChildHealth
from neural_actors.supervisors import ChildRestarting as ChildRestarting
from neural_actors.supervisors import ChildSpec as ChildSpec
from neural_actors.supervisors import Config as Config
from neural_actors.supervisors import ConfigError as ConfigError
from neural_actors.supervisors import DynamicSupervisor as DynamicSupervisor
from neural_actors.supervisors import InvalidChildSpec as InvalidChildSpec
from neural_actors.supervisors import Outcome as Outcome
from neural_actors.supervisors import RuntimeSection as RuntimeSection
from neural_actors.supervisors import SectionRegistry as SectionRegistry
from neural_actors.supervisors import Supervisor as Supervisor
from neural_actors.supervisors import SupervisorError as SupervisorError
from neural_actors.supervisors import SupervisorFlags as SupervisorFlags
from neural_actors.supervisors import TreeHealth as TreeHealth
from neural_actors.supervisors import check_childspecs as check_childspecs
from neural_actors.supervisors import check_config as check_config
from neural_actors.supervisors import config_json_schema as config_json_schema
from neural_actors.supervisors import count_children as count_children
from neural_actors.supervisors import delete_child as delete_child
from neural_actors.supervisors import dump_config as dump_config
from neural_actors.supervisors import dump_tree as dump_tree
from neural_actors.supervisors import get_childspec as get_childspec
from neural_actors.supervisors import load_config as load_config
from neural_actors.supervisors import load_tree as load_tree
from neural_actors.supervisors import loads_config as loads_config
from neural_actors.supervisors import register_section as register_section
from neural_actors.supervisors import restart_child as restart_child
from neural_actors.supervisors import run_job as run_job
from neural_actors.supervisors import start_child as start_child
from neural_actors.supervisors import start_dynamic_child as start_dynamic_child
from neural_actors.supervisors import start_tree as start_tree
from neural_actors.supervisors import terminate_child as terminate_child
from neural_actors.supervisors import tree_health as tree_health
from neural_actors.supervisors import walk_tree as walk_tree
from neural_actors.supervisors import which_child as which_child
from neural_actors.supervisors import which_children as which_children
from neural_actors.faults import FaultPlan as FaultPlan
from neural_actors.faults import FaultPlanError as FaultPlanError
from neural_actors.faults import InjectedFault as InjectedFault
from neural_actors.faults import Messages as Messages
from neural_actors.faults import Schedule as Schedule
from neural_actors.faults import Target as Target
from neural_actors.service_section import ServiceSection as ServiceSection

__version__ = _version("neural-actors")

#: The neural actors and their messages, by the module that defines them (imported on first use).
_NEURAL = {
    "ExpertActor": "experts",
    "ExpertsUnavailable": "errors",
    "FFFActor": "fff_actor",
    "FFFWeights": "fff_weights",
    "GetStatistics": "fff_actor",
    "Infer": "inference",
    "Inferred": "inference",
    "MeshSection": "mesh_config",
    "Mitosis": "mitosis",
    "MoELayer": "moe_layer",
    "MoEModel": "moe_model",
    "MoERouter": "moe_router",
    "ModelNotFound": "errors",
    "ModelStore": "model_store",
    "SubtreeUnavailable": "errors",
    "load_model": "model_store",
    "put_model": "model_store",
}

__all__ = [
    "RESTARTING",
    "Actor",
    "ActorExited",
    "Backoff",
    "BlockingRuntime",
    "CallHistogram",
    "CallTimeout",
    "Caller",
    "CallingSelf",
    "ChildHealth",
    "ChildRestarting",
    "ChildSpec",
    "Config",
    "ConfigError",
    "Continue",
    "Deadlock",
    "Dispatched",
    "Down",
    "DynamicSupervisor",
    "Exit",
    "FaultPlan",
    "FaultPlanError",
    "FrozenDict",
    "Ignore",
    "InjectedFault",
    "InternalError",
    "InvalidChildSpec",
    "LinkStatistics",
    "MailboxFull",
    "MailboxPolicy",
    "MailboxStatistics",
    "Mesh",
    "MeshStatistics",
    "Messages",
    "MetricsSnapshot",
    "NameTaken",
    "NoProcess",
    "NoReply",
    "Outcome",
    "Pid",
    "Placement",
    "PlacementError",
    "ProcessInfo",
    "ProcessStatus",
    "Ref",
    "Runtime",
    "RuntimeClosed",
    "RuntimeMetrics",
    "RuntimeSection",
    "RuntimeStatistics",
    "Schedule",
    "SectionRegistry",
    "ServiceSection",
    "Shutdown",
    "StartFailed",
    "StartIgnored",
    "Stop",
    "Supervisor",
    "SupervisorError",
    "SupervisorFlags",
    "Target",
    "TimerRef",
    "TreeHealth",
    "Unreachable",
    "VirtualEventLoop",
    "check_childspecs",
    "check_config",
    "check_immutable",
    "config_json_schema",
    "count_children",
    "delete_child",
    "dump_config",
    "dump_tree",
    "freeze",
    "get_childspec",
    "is_normal",
    "is_shutdown",
    "load_config",
    "load_tree",
    "loads_config",
    "message",
    "plan_comm_aware",
    "register_immutable",
    "register_section",
    "restart_child",
    "run",
    "run_job",
    "start_child",
    "start_dynamic_child",
    "start_tree",
    "terminate_child",
    "traffic_cost",
    "tree_health",
    "walk_tree",
    "which_child",
    "which_children",
    *_NEURAL,
]


def _public(obj: _Any) -> _Any:
    """Make reprs and tracebacks say ``neural_actors.X``, the name users import, as trio does.

    An attrs class's string annotations are resolved first, in the module that defines them:
    once renamed, ``typing.get_type_hints`` (which cattrs uses) would look them up here.
    """
    if getattr(obj, "__module__", "").startswith("neural_actors.") and hasattr(obj, "__qualname__"):
        if isinstance(obj, type) and _attrs.has(obj):
            _attrs.resolve_types(obj)
        obj.__module__ = __name__
    return obj


for _name in __all__:
    if _name not in _NEURAL:
        _public(globals()[_name])


def __getattr__(name: str) -> _Any:
    """Import a neural actor's module on first use of its name."""
    module = _NEURAL.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _public(getattr(_importlib.import_module(f"{__name__}.{module}"), name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_NEURAL})
