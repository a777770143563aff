"""OTP supervisor behaviour on top of `neural_actors.runtime` (and only what it exports)."""

from .backoff import Backoff as Backoff
from .child_spec import ChildSpec as ChildSpec
from .child_spec import SupervisorFlags as SupervisorFlags
from .child_spec import check_childspecs as check_childspecs
from .dynamic import DynamicSupervisor as DynamicSupervisor
from .engine import RESTARTING as RESTARTING
from .errors import ChildRestarting as ChildRestarting
from .errors import InvalidChildSpec as InvalidChildSpec
from .errors import SupervisorError as SupervisorError
from .health import ChildHealth as ChildHealth
from .health import TreeHealth as TreeHealth
from .health import tree_health as tree_health
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
    "ChildHealth",
    "TreeHealth",
    "tree_health",
    "RESTARTING",
    "STRATEGIES",
    "Backoff",
    "ChildRestarting",
    "ChildSpec",
    "DynamicSupervisor",
    "InvalidChildSpec",
    "Supervisor",
    "SupervisorError",
    "SupervisorFlags",
    "check_childspecs",
    "count_children",
    "delete_child",
    "get_childspec",
    "restart_child",
    "start_child",
    "start_dynamic_child",
    "terminate_child",
    "which_child",
    "which_children",
]
