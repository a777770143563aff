"""OTP supervisor behaviour on top of `neural_actors.runtime` (and only what it exports)."""

from .backoff import Backoff as Backoff
from .child_spec import NODE_PLACEMENTS as NODE_PLACEMENTS
from .child_spec import ChildSpec as ChildSpec
from .child_spec import SupervisorFlags as SupervisorFlags
from .child_spec import check_childspecs as check_childspecs
from .config import Config as Config
from .config import SectionRegistry as SectionRegistry
from .config import check_config as check_config
from .config import dump_config as dump_config
from .config import dump_tree as dump_tree
from .config import load_config as load_config
from .config import load_tree as load_tree
from .config import loads_config as loads_config
from .config import register_section as register_section
from .config import start_tree as start_tree
from .config_format import RuntimeSection as RuntimeSection
from .config_schema import config_json_schema as config_json_schema
from .dynamic import DynamicSupervisor as DynamicSupervisor
from .engine import RESTARTING as RESTARTING
from .errors import ChildRestarting as ChildRestarting
from .errors import ConfigError as ConfigError
from .errors import InvalidChildSpec as InvalidChildSpec
from .errors import SupervisorError as SupervisorError
from .health import ChildHealth as ChildHealth
from .health import TreeHealth as TreeHealth
from .health import tree_health as tree_health
from .job import Outcome as Outcome
from .job import run_job as run_job
from .job import walk_tree as walk_tree
from .management import count_children as count_children
from .management import delete_child as delete_child
from .management import get_childspec as get_childspec
from .management import restart_child as restart_child
from .management import start_child as start_child
from .management import start_dynamic_child as start_dynamic_child
from .management import terminate_child as terminate_child
from .management import which_child as which_child
from .management import which_children as which_children
from .strategies import STRATEGIES as STRATEGIES
from .supervisor import Supervisor as Supervisor

__all__ = [
    "NODE_PLACEMENTS",
    "RESTARTING",
    "STRATEGIES",
    "Backoff",
    "ChildHealth",
    "ChildRestarting",
    "ChildSpec",
    "Config",
    "ConfigError",
    "DynamicSupervisor",
    "InvalidChildSpec",
    "Outcome",
    "RuntimeSection",
    "SectionRegistry",
    "Supervisor",
    "SupervisorError",
    "SupervisorFlags",
    "TreeHealth",
    "check_childspecs",
    "check_config",
    "config_json_schema",
    "count_children",
    "delete_child",
    "dump_config",
    "dump_tree",
    "get_childspec",
    "load_config",
    "load_tree",
    "loads_config",
    "register_section",
    "restart_child",
    "run_job",
    "start_child",
    "start_dynamic_child",
    "start_tree",
    "terminate_child",
    "tree_health",
    "walk_tree",
    "which_child",
    "which_children",
]
