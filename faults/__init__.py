"""Fault injection and deterministic simulation testing: fault plans, invariants, load, chaos.

Built on ``neural_actors.runtime`` (its transport and process hooks) and
``neural_actors.supervisors`` (whose restarts the invariants check, and whose config loader
reads the ``faults:`` and ``load:`` sections registered here); see ``docs/faults.md``.
"""

from .accounting import MessageAccounting as MessageAccounting
from .chaos import DEFAULT_PLAN as DEFAULT_PLAN
from .chaos import ChaosReport as ChaosReport
from .chaos import run_chaos as run_chaos
from .chaos import run_chaos_seeds as run_chaos_seeds
from .config import FaultsSection as FaultsSection
from .config import LoadSection as LoadSection
from .errors import FaultPlanError as FaultPlanError
from .errors import InjectedFault as InjectedFault
from .errors import InvariantViolated as InvariantViolated
from .injector import FaultInjector as FaultInjector
from .injector import FaultStatistics as FaultStatistics
from .invariants import INVARIANTS as INVARIANTS
from .invariants import Violation as Violation
from .invariants import assert_invariants as assert_invariants
from .invariants import check_accounting as check_accounting
from .invariants import check_invariants as check_invariants
from .invariants import check_pending_calls as check_pending_calls
from .invariants import check_registry as check_registry
from .invariants import check_restarts as check_restarts
from .invariants import check_stopped as check_stopped
from .load import Load as Load
from .load import LoadGenerator as LoadGenerator
from .load import LoadStatistics as LoadStatistics
from .plan import FAULT_KINDS as FAULT_KINDS
from .plan import Crash as Crash
from .plan import CrashAfter as CrashAfter
from .plan import Delay as Delay
from .plan import Drop as Drop
from .plan import Duplicate as Duplicate
from .plan import FailCore as FailCore
from .plan import FailInit as FailInit
from .plan import FailLink as FailLink
from .plan import Fault as Fault
from .plan import FaultPlan as FaultPlan
from .plan import Kill as Kill
from .plan import Partition as Partition
from .plan import Reorder as Reorder
from .plan import SlowCore as SlowCore
from .schedule import Schedule as Schedule
from .targets import Link as Link
from .targets import Messages as Messages
from .targets import Target as Target

__all__ = [
    "DEFAULT_PLAN", "FAULT_KINDS", "INVARIANTS", "ChaosReport", "Crash", "CrashAfter", "Delay", "Drop",
    "Duplicate", "FailCore", "FailInit", "FailLink", "Fault", "FaultInjector", "FaultPlan",
    "FaultPlanError", "FaultStatistics", "FaultsSection", "InjectedFault", "InvariantViolated",
    "Kill", "Link", "Load", "LoadGenerator", "LoadSection", "LoadStatistics", "MessageAccounting",
    "Messages", "Partition", "Reorder", "Schedule", "SlowCore", "Target", "Violation",
    "assert_invariants", "check_accounting", "check_invariants", "check_pending_calls",
    "check_registry", "check_restarts", "check_stopped", "run_chaos", "run_chaos_seeds",
]
