"""OTP supervisor behaviour on top of `neural_actors.runtime` (and only what it exports)."""

from .backoff import Backoff as Backoff
from .child_spec import ChildSpec as ChildSpec
from .child_spec import SupervisorFlags as SupervisorFlags
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
from .dynamic import start_dynamic_child as start_dynamic_child
from .errors import ChildRestarting as ChildRestarting
from .errors import ConfigError as ConfigError
from .errors import InvalidChildSpec as InvalidChildSpec
from .errors import SupervisorError as SupervisorError
from .job import Outcome as Outcome
from .job import run_job as run_job
from .job import walk_tree as walk_tree
from .supervisor import RESTARTING as RESTARTING
from .supervisor import Supervisor as Supervisor
from .supervisor import count_children as count_children
from .supervisor import delete_child as delete_child
from .supervisor import restart_child as restart_child
from .supervisor import start_child as start_child
from .supervisor import terminate_child as terminate_child
from .supervisor import which_children as which_children

__all__ = [
    "RESTARTING",
    "Backoff",
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
    "check_config",
    "config_json_schema",
    "count_children",
    "delete_child",
    "dump_config",
    "dump_tree",
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
    "walk_tree",
    "which_children",
]
