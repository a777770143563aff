"""OTP supervisor behaviour on top of `neural_actors.runtime` (and only what it exports)."""

from .backoff import Backoff as Backoff
from .child_spec import ChildSpec as ChildSpec
from .child_spec import SupervisorFlags as SupervisorFlags
from .dynamic import DynamicSupervisor as DynamicSupervisor
from .dynamic import start_dynamic_child as start_dynamic_child
from .errors import ChildRestarting as ChildRestarting
from .errors import InvalidChildSpec as InvalidChildSpec
from .errors import SupervisorError as SupervisorError
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
    "DynamicSupervisor",
    "InvalidChildSpec",
    "Supervisor",
    "SupervisorError",
    "SupervisorFlags",
    "count_children",
    "delete_child",
    "restart_child",
    "start_child",
    "start_dynamic_child",
    "terminate_child",
    "which_children",
]
